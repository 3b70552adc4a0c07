"""The standard install steps, one module per family (``dfsession.session.default_steps()``)."""

__all__: list[str] = []
