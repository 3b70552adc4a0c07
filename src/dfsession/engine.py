"""Facts about the installed engine libraries, shared by the pipeline and the steps."""

from __future__ import annotations

import datafusion
import pyarrow

from dfsession._version import VERSION


def engine_versions() -> dict[str, str]:
    """The versions that decide how a session behaves: dfsession and its engine libraries."""
    import deltalake

    return {
        "dfsession": VERSION,
        "datafusion": datafusion.__version__,
        "deltalake": deltalake.__version__,
        "pyarrow": pyarrow.__version__,
    }


def major(version: str) -> int:
    """The major number of a version string such as ``55.0.0``."""
    return int(version.split(".", 1)[0])
