"""A real Ballista cluster for tests and benchmarks: a scheduler and an executor, each its own
process on 127.0.0.1, and Parquet tables shaped like TPC-H's that every executor can read.

The executor keeps its work folder (``$TMPDIR``) where the caller says: each job it runs leaves
its shuffle files in ``<work>/<tmp>/<job id>/<stage>/<partition>/``, which is how tests see that
a query ran there.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import attrs
import pyarrow as pa
import pyarrow.parquet as pq

#: Why the Ballista tests cannot run here, or ``None`` when the client imports.
BALLISTA_MISSING: str | None
try:
    import ballista  # noqa: F401 - only whether it imports matters here
except Exception as exc:  # ImportError, or a wheel this glibc cannot load
    BALLISTA_MISSING = (
        f"the Ballista client cannot be imported ({type(exc).__name__}: {exc}); "
        "run nox -s tests_ballista"
    )
else:
    BALLISTA_MISSING = None

#: Seconds a process gets to listen on its port.
START_TIMEOUT = 30.0
#: The executor also listens on a fixed gRPC port (50052), which the Python client cannot
#: change: while another process holds it (an ephemeral port of any connection), it dies at
#: once with "Address already in use". It is started again this many times.
EXECUTOR_ATTEMPTS = 5

_SCHEDULER = """
import sys, ballista
scheduler = ballista.BallistaScheduler(bind_host="127.0.0.1", bind_port=int(sys.argv[1]))
scheduler.start()
scheduler.wait_for_termination()
"""
_EXECUTOR = """
import sys, ballista
executor = ballista.BallistaExecutor(
    bind_port=int(sys.argv[1]), bind_host="127.0.0.1", scheduler_host="127.0.0.1",
    scheduler_port=int(sys.argv[2]), concurrent_tasks=2,
)
executor.start()
executor.wait_for_termination()
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    """Whether ``process`` listens on ``port`` within ``START_TIMEOUT``; ``False`` if it died."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _listening(port):
            return True
        time.sleep(0.1)
    raise TimeoutError(f"no process listens on 127.0.0.1:{port}; its log:\n{log.read_text()}")


@attrs.frozen
class Cluster:
    """A running scheduler and executor: the scheduler's URL and the executor's work folder."""

    url: str
    work: Path

    def job_ids(self) -> set[str]:
        """The jobs whose shuffle files the executor wrote (``<tmp>/<job>/<stage>/``)."""
        return {path.parent.name for path in self.work.glob("*/*/*") if path.name.isdigit()}


def _start(script: str, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-c", script, *args], stdout=sink, stderr=sink, env=env
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_executor(
    folder: Path, scheduler_port: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log = folder / "executor.log"
    for _attempt in range(EXECUTOR_ATTEMPTS):
        port = free_port()
        process = _start(_EXECUTOR, [str(port), str(scheduler_port)], log, env)
        if _wait_listening(process, port, log):
            return process
        time.sleep(1.0)
    raise RuntimeError(f"the executor did not start; its log:\n{log.read_text()}")


@contextlib.contextmanager
def running_cluster(folder: Path) -> Iterator[Cluster]:
    """A scheduler, then (once it listens) an executor whose ``$TMPDIR`` is ``folder/work``."""
    work = folder / "work"
    work.mkdir(parents=True)
    port = free_port()
    log = folder / "scheduler.log"
    scheduler = _start(_SCHEDULER, [str(port)], log, dict(os.environ))
    try:
        if not _wait_listening(scheduler, port, log):
            raise RuntimeError(f"the scheduler died; its log:\n{log.read_text()}")
        executor = _start_executor(folder, port, {**os.environ, "TMPDIR": str(work)})
        try:
            yield Cluster(url=f"df://127.0.0.1:{port}", work=work)
        finally:
            _stop(executor)
    finally:
        _stop(scheduler)


# --- data shaped like TPC-H's, and queries over it ----------------------------------------------

REGIONS = ("AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST")
STATUSES = ("F", "O", "P")


def _tables(orders: int, seed: int) -> dict[str, pa.Table]:
    rng = random.Random(seed)
    customers = max(orders // 10, 10)
    start = date(2024, 1, 1)
    customer = pa.table(
        {
            "c_custkey": list(range(customers)),
            "c_name": [f"Customer#{key:06d}" for key in range(customers)],
            "c_region": [REGIONS[key % len(REGIONS)] for key in range(customers)],
        }
    )
    order = pa.table(
        {
            "o_orderkey": list(range(orders)),
            "o_custkey": [rng.randrange(customers) for _ in range(orders)],
            "o_status": [rng.choice(STATUSES) for _ in range(orders)],
            "o_date": [start + timedelta(days=rng.randrange(365)) for _ in range(orders)],
            "o_priority": [rng.randrange(1, 6) for _ in range(orders)],
        }
    )
    lines = [(key, line) for key in range(orders) for line in range(1 + key % 4)]
    lineitem = pa.table(
        {
            "l_orderkey": [key for key, _ in lines],
            "l_linenumber": [line for _, line in lines],
            "l_quantity": [rng.randrange(1, 51) for _ in lines],
            "l_price_cents": [rng.randrange(100, 100_000) for _ in lines],
            "l_discount_pct": [rng.randrange(0, 11) for _ in lines],
            "l_returnflag": [rng.choice("ANR") for _ in lines],
        }
    )
    return {"customer": customer, "orders": order, "lineitem": lineitem}


def write_tables(
    folder: Path, orders: int = 20_000, seed: int = 15, files: int = 4
) -> dict[str, Path]:
    """Write each table as ``files`` Parquet files in ``folder/<table>/``; their folders."""
    written: dict[str, Path] = {}
    for name, table in _tables(orders, seed).items():
        target = folder / name
        target.mkdir(parents=True)
        step = -(-table.num_rows // files)
        for index in range(files):
            pq.write_table(table.slice(index * step, step), target / f"part-{index}.parquet")
        written[name] = target
    return written


def datasets(tables: dict[str, Path]) -> dict[str, dict[str, str]]:
    """The profile's ``[datasets]`` for the tables ``write_tables`` wrote."""
    return {name: {"format": "parquet", "location": str(path)} for name, path in tables.items()}


#: Views the queries use, as a profile declares them.
VIEWS = {
    "revenue": {
        "sql": "SELECT l_orderkey, l_quantity * l_price_cents * (100 - l_discount_pct) AS cents "
        "FROM lineitem"
    }
}

#: Ten queries: scans, filters, aggregates, joins, subqueries, windows, a union, a view.
QUERIES: dict[str, str] = {
    "pricing_summary": (
        "SELECT l_returnflag, count(*) AS n, sum(l_quantity) AS qty, sum(l_price_cents) AS price, "
        "min(l_discount_pct) AS lo, max(l_discount_pct) AS hi FROM lineitem "
        "GROUP BY l_returnflag ORDER BY l_returnflag"
    ),
    "revenue_by_region": (
        "SELECT c.c_region, sum(r.cents) AS cents FROM revenue r "
        "JOIN orders o ON r.l_orderkey = o.o_orderkey JOIN customer c ON o.o_custkey = c.c_custkey "
        "GROUP BY c.c_region ORDER BY c.c_region"
    ),
    "top_customers": (
        "SELECT c.c_name, count(*) AS orders FROM orders o "
        "JOIN customer c ON o.o_custkey = c.c_custkey "
        "GROUP BY c.c_name ORDER BY orders DESC, c.c_name LIMIT 10"
    ),
    "distinct_customers_by_status": (
        "SELECT o_status, count(DISTINCT o_custkey) AS customers FROM orders "
        "GROUP BY o_status ORDER BY o_status"
    ),
    "monthly_orders": (
        "SELECT date_trunc('month', o_date) AS month, count(*) AS n FROM orders "
        "WHERE o_date >= DATE '2024-03-01' AND o_date < DATE '2024-09-01' "
        "GROUP BY month ORDER BY month"
    ),
    "rank_in_region": (
        "SELECT c_region, c_custkey, rank FROM (SELECT c.c_region, c.c_custkey, "
        "rank() OVER (PARTITION BY c.c_region ORDER BY count(*) DESC, c.c_custkey) AS rank "
        "FROM orders o JOIN customer c ON o.o_custkey = c.c_custkey "
        "GROUP BY c.c_region, c.c_custkey) WHERE rank <= 3 ORDER BY c_region, rank"
    ),
    "big_orders_in": (
        "SELECT count(*) AS n FROM orders WHERE o_orderkey IN "
        "(SELECT l_orderkey FROM lineitem GROUP BY l_orderkey HAVING sum(l_quantity) > 100)"
    ),
    "customers_without_orders": (
        "SELECT count(*) AS n FROM customer c WHERE NOT EXISTS "
        "(SELECT 1 FROM orders o WHERE o.o_custkey = c.c_custkey AND o.o_priority = 1)"
    ),
    "priority_mix": (
        "SELECT CASE WHEN o_priority <= 2 THEN 'urgent' ELSE 'normal' END AS kind, "
        "o_status, count(*) AS n FROM orders GROUP BY kind, o_status ORDER BY kind, o_status"
    ),
    "union_of_extremes": (
        "SELECT 'max' AS which, max(l_price_cents) AS cents FROM lineitem "
        "UNION ALL SELECT 'min', min(l_price_cents) FROM lineitem ORDER BY which"
    ),
}
