"""The engine layer: every DataFusion and deltalake call that more than one module needs.

One small module per concern (``versions``, ``text``, ``context``, ``stores``, ``schemas``,
``tables``, ``delta``, ``files``, ``views``); only this package imports deltalake. Import names
from the module that defines them: this package re-exports nothing.
"""

__all__: list[str] = []
