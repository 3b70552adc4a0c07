"""Runs the Python blocks of one documentation page, in its own process (see test_docs.py).

Reads one JSON line per block (``{"code": ..., "where": ...}``) from standard input, runs it
in the page's namespace and answers one JSON line: what it printed, and its error if any.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
from typing import Any


def main() -> None:
    """Serve blocks until standard input ends."""
    sys.path.insert(0, "")
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for line in sys.stdin:
        block = json.loads(line)
        printed = io.StringIO()
        error = None
        with contextlib.redirect_stdout(printed):
            try:
                exec(compile(block["code"], block["where"], "exec"), namespace)
            except BaseException:
                error = traceback.format_exc()
        sys.__stdout__.write(json.dumps({"printed": printed.getvalue(), "error": error}) + "\n")
        sys.__stdout__.flush()


if __name__ == "__main__":
    main()
