"""``python -m dfsession``: the command line."""

from dfsession.cli import main

__all__: list[str] = []


raise SystemExit(main())
