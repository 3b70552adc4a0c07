"""A module that imports a package that is not installed."""

import dfsession_no_such_dependency  # noqa: F401
