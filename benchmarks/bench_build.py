"""Build time: ``SessionContextBuilder(profile).build()`` against plain DataFusion code.

Run: python benchmarks/bench_build.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionContextBuilder, SessionProfile

RAW_PROFILE: dict[str, Any] = {
    "execution": {
        "target_partitions": 4,
        "batch_size": 8192,
        "memory_pool": "fair",
        "memory_limit": "2GiB",
    },
    "catalog": {"default_catalog": "analytics", "default_schema": "public"},
    "settings": {
        "datafusion.optimizer.max_passes": "3",
        "datafusion.runtime.metadata_cache_limit": "64M",
    },
}
PROFILE = SessionProfile.from_dict(RAW_PROFILE)


def plain() -> SessionContext:
    """Hand-written DataFusion code producing the same session."""
    config = (
        SessionConfig()
        .with_target_partitions(4)
        .with_batch_size(8192)
        .with_default_catalog_and_schema("analytics", "public")
        .with_information_schema(False)
        .set("datafusion.optimizer.max_passes", "3")
    )
    runtime = RuntimeEnvBuilder().with_fair_spill_pool(2 * 1024**3).with_disk_manager_os()
    ctx = SessionContext(config, runtime)
    # A runtime key: SessionConfig refuses it and RuntimeEnvBuilder has no method for it.
    ctx.sql("SET datafusion.runtime.metadata_cache_limit = '64M'")
    return ctx


def dfsession_build() -> object:
    """The same session through the builder."""
    return SessionContextBuilder(PROFILE).build()


def main() -> list[dict[str, object]]:
    """Run and print the build benchmark; return the results."""
    quiet_logging()
    result = compare(
        "build: execution + catalog + settings",
        {"plain datafusion": plain, "dfsession": dfsession_build},
        baseline="plain datafusion",
        repeat=41,
        inner=20,
    )
    print_result(result)
    return [result]


if __name__ == "__main__":
    write_results("build", main())
