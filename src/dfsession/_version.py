"""The package version, read by the build backend and by ``dfsession.__version__``."""

__all__ = ["VERSION"]

VERSION = "0.1.0"
