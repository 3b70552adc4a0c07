"""The same profile on an Apache Ballista cluster: one [engine] section moves the queries there.

A standalone engine starts a scheduler and an executor in this process (a real cluster would
give ``url = "df://scheduler:50050"``). Then ``plan()`` refuses, before anything runs, a profile
with a Python function, which a cluster cannot run.

Needs the Ballista client: pip install "dfsession[ballista]".
Run: python examples/ballista_cluster.py
"""

from __future__ import annotations

import logging
import tempfile
import tomllib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from dfsession import SessionContextBuilder, SessionProfile
from dfsession.errors import NotPortableError

PROFILE = """
[engine]
kind = "ballista"
standalone = true                    # or: url = "df://127.0.0.1:50050"

[execution]
target_partitions = 2                # sent to the cluster with every query

[datasets.trips]
format = "parquet"
location = "{trips}"                 # a path every executor sees

[views.long_trips]
sql = "SELECT * FROM trips WHERE km > 10"
"""


def write_trips(folder: Path) -> Path:
    """Two Parquet files of trips."""
    trips = folder / "trips"
    trips.mkdir()
    for part in range(2):
        ids = range(part * 500, (part + 1) * 500)
        table = pa.table(
            {"id": list(ids), "zone": [i % 7 for i in ids], "km": [i % 23 for i in ids]}
        )
        pq.write_table(table, trips / f"part-{part}.parquet")
    return trips


def main() -> None:
    """Build on a standalone cluster, query it, and show what a cluster refuses."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as folder:
        trips = write_trips(Path(folder))
        profile = SessionProfile.from_dict(tomllib.loads(PROFILE.format(trips=trips)))
        session = SessionContextBuilder(profile).build()
        context = session.record("context").applied
        print(
            f"engine {context['engine']} at {context['scheduler']} (ballista {context['ballista']})"
        )
        query = "SELECT zone, count(*) AS trips FROM long_trips GROUP BY zone ORDER BY zone"
        for row in session.execute(query).to_pylist():
            print(f"  zone {row['zone']}: {row['trips']} long trips")
        stages = [line for line in session.explain(query).splitlines() if "Stage[" in line]
        print(f"the cluster runs it in {len(stages)} stages")

    refused = SessionProfile.from_dict(
        {
            "engine": {"kind": "ballista", "standalone": True},
            "udfs": [
                {
                    "ref": "example_functions:clean_name",
                    "name": "clean_name",
                    "args": ["string"],
                    "returns": "string",
                }
            ],
        }
    )
    try:
        SessionContextBuilder(refused).plan()
    except NotPortableError as error:
        print(f"plan() refused, nothing ran:\n{error}")


if __name__ == "__main__":
    main()
