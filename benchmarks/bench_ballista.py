"""The same queries in this process and on an Apache Ballista cluster, side by side.

Ten queries over Parquet tables shaped like TPC-H's (tests/ballista_cluster.py), four ways:
plain DataFusion (``ctx.sql(q).to_arrow_table()``, the baseline), ``session.execute(q)`` of a
local profile, plain Ballista (``BallistaSessionContext(url).sql(q).to_arrow_table()``) and
``session.execute(q)`` of the same profile with ``[engine] kind = "ballista"``. The cluster is a
scheduler and one executor, each its own process on 127.0.0.1.

On one small machine a cluster cannot be faster: every query is planned, serialized, scheduled,
shuffled through files and fetched back over gRPC on the same cores. The figures show that
overhead, and that dfsession adds nothing measurable to either path; speed-up needs executors
on more machines and data too big for one.

Needs the Ballista client (nox -s tests_ballista's environment).
Run: python benchmarks/bench_ballista.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from datafusion import SessionContext
from harness import compare, print_result, quiet_logging, write_results

from ballista_cluster import QUERIES, VIEWS, datasets, running_cluster, write_tables
from dfsession import SessionContextBuilder, SessionProfile

ORDERS = 200_000
QUICK_ORDERS = 20_000


def _plain(ctx: SessionContext, tables: dict[str, Path]) -> SessionContext:
    for name, path in tables.items():
        ctx.register_parquet(name, str(path))
    for name, view in VIEWS.items():
        ctx.register_view(name, ctx.sql(view["sql"]))
    return ctx


def _profile(tables: dict[str, Path], engine: dict[str, Any]) -> SessionProfile:
    return SessionProfile.from_dict(
        {"engine": engine, "datasets": datasets(tables), "views": VIEWS}
    )


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Time every query four ways; one result per query."""
    import ballista  # noqa: PLC0415 - only this benchmark needs it

    quiet_logging()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        tables = write_tables(Path(folder) / "data", orders=QUICK_ORDERS if quick else ORDERS)
        with running_cluster(Path(folder) / "cluster") as cluster:
            plain_local = _plain(SessionContext(), tables)
            plain_cluster = _plain(ballista.BallistaSessionContext(cluster.url), tables)
            local = SessionContextBuilder(_profile(tables, {"kind": "local"})).build()
            remote = SessionContextBuilder(
                _profile(tables, {"kind": "ballista", "url": cluster.url})
            ).build()
            for name, query in QUERIES.items():
                result = compare(
                    f"ballista_{name}",
                    {
                        "datafusion": lambda q=query: plain_local.sql(q).to_arrow_table(),
                        "dfsession local": lambda q=query: local.execute(q),
                        "ballista": lambda q=query: plain_cluster.sql(q).to_arrow_table(),
                        "dfsession ballista": lambda q=query: remote.execute(q),
                    },
                    baseline="datafusion",
                    repeat=3 if quick else 7,
                    warmup=1,
                )
                result["orders"] = QUICK_ORDERS if quick else ORDERS
                print_result(result)
                results.append(result)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows and repeats")
    arguments = parser.parse_args()
    print(f"results: {write_results('ballista', main(quick=arguments.quick))}")
