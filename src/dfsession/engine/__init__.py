"""The engine layer: every DataFusion and deltalake call that more than one module needs.

One small module per concern (``versions``, ``text``, ``context``, ``cluster``, ``stores``,
``schemas``, ``tables``, ``delta``, ``files``, ``views``); only this package imports deltalake,
and only ``cluster`` imports ballista. Import names
from the module that defines them: this package re-exports nothing.
"""

__all__: list[str] = []
