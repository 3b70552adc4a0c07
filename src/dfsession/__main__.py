"""``python -m dfsession``: the command line."""

from dfsession.cli import main

raise SystemExit(main())
