"""The query facade against the plain DataFusion and deltalake calls doing the same work.

- ``session.execute(q)`` against ``ctx.sql(q).to_arrow_table()`` on an aggregation and a join
  over ~10M generated rows; target: median ratio <= 1.03. Also the fixed cost per query (policy
  options, metrics, log event) on a one-row lookup, which no noise hides.
- ``session.stream(q)`` peak memory on a 10M-row scan against plain ``execute_stream()`` (target
  <= 1.2x) and against materializing the result with ``to_arrow_table()`` (far above both); RSS
  growth measured in fresh subprocesses by sampling ``/proc/self/statm``.
- ``session.write(q, path, format="delta")`` against ``write_deltalake(path, ctx.sql(q))`` of the
  same result; target: ratio <= 1.05.

The data (Parquet) is generated once into a temporary directory, with DataFusion itself.

Run: python benchmarks/bench_execute.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import attrs
from datafusion import SessionContext
from deltalake import write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import (
    SessionBuild,
    SessionContextBuilder,
    SessionProfile,
    StepRecord,
    default_steps,
    insert_after,
)

ROWS = 10_000_000
QUICK_ROWS = 2_000_000
SRC = Path(__file__).resolve().parents[1] / "src"

QUERIES = {
    "aggregation": (
        "SELECT key, count(*) AS n, sum(value) AS total, avg(value) AS mean, max(id) AS top "
        "FROM facts GROUP BY key"
    ),
    "join": (
        "SELECT d.label, count(*) AS n, sum(f.value) AS total "
        "FROM facts f JOIN dims d ON f.key = d.key WHERE d.weight > 0.25 GROUP BY d.label"
    ),
}
SCAN = "SELECT id, key, value, tag FROM facts"
DELTA_QUERY = "SELECT id, key, value FROM facts WHERE key % 4 = 0"


def generate(directory: Path, rows: int) -> None:
    """``facts`` (``rows`` rows) and ``dims`` (1,000 rows) as Parquet, written by DataFusion."""
    ctx = SessionContext()
    ctx.sql(
        f"COPY (SELECT v AS id, CAST(v % 1000 AS INT) AS key, "
        f"CAST((v * 7919) % 10007 AS DOUBLE) / 100.0 AS value, "
        f"concat('tag-', CAST(v % 50 AS VARCHAR)) AS tag "
        f"FROM generate_series(1, {rows}) AS t(v)) "
        f"TO '{directory / 'facts'}/' STORED AS PARQUET"
    ).collect()
    ctx.sql(
        "COPY (SELECT CAST(v AS INT) AS key, concat('label-', CAST(v % 37 AS VARCHAR)) AS label, "
        "CAST(v % 100 AS DOUBLE) / 100.0 AS weight FROM generate_series(0, 999) AS t(v)) "
        f"TO '{directory / 'dims.parquet'}' STORED AS PARQUET"
    ).collect()


def session_for(directory: Path) -> Any:
    """A built session with ``facts`` and ``dims`` registered by a user step."""

    @attrs.frozen
    class BenchTables:
        name: str = "bench_tables"
        requires: frozenset[str] = frozenset({"context"})
        provides: frozenset[str] = frozenset({"bench_tables"})

        def install(self, build: SessionBuild) -> StepRecord:
            build.ctx.register_parquet("facts", str(directory / "facts"))
            build.ctx.register_parquet("dims", str(directory / "dims.parquet"))
            return StepRecord(step=self.name, applied={"tables": ["facts", "dims"]})

    profile = SessionProfile.from_dict({"sql_policy": {"allow_ddl": False}})
    steps = insert_after(default_steps(), "context", BenchTables())
    return SessionContextBuilder(profile, steps).build()


def bench_execute(directory: Path, repeat: int) -> list[dict[str, Any]]:
    """``execute`` against ``ctx.sql(q).to_arrow_table()`` on the same context."""
    session = session_for(directory)
    ctx = session.ctx
    results = []
    for label, sql in QUERIES.items():
        result = compare(
            f"execute: {label} over facts",
            {
                "plain datafusion": lambda sql=sql: ctx.sql(sql).to_arrow_table(),
                # The same plain call again: the A/A spread is the noise floor of the ratio.
                "plain datafusion (A/A)": lambda sql=sql: ctx.sql(sql).to_arrow_table(),
                "dfsession": lambda sql=sql: session.execute(sql),
            },
            baseline="plain datafusion",
            repeat=repeat,
            warmup=1,
        )
        print_result(result)
        results.append(result)
    tiny = "SELECT key, label FROM dims WHERE key = 7"
    result = compare(
        "execute: fixed cost per query (one-row lookup)",
        {
            "plain datafusion": lambda: ctx.sql(tiny).to_arrow_table(),
            "dfsession": lambda: session.execute(tiny),
        },
        baseline="plain datafusion",
        repeat=repeat,
        inner=20,
    )
    print_result(result)
    results.append(result)
    return results


MEMORY_PROBE = textwrap.dedent(
    """
    import os, sys, threading, time, json
    sys.path[:0] = [{src!r}, {bench!r}]
    from bench_execute import session_for
    from pathlib import Path
    from harness import quiet_logging
    quiet_logging()
    session = session_for(Path({directory!r}))
    ctx = session.ctx
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    how = {how!r}
    sql = {sql!r}
    ctx.sql("SELECT 1").collect()
    base = rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rows = 0
    if how == "plain execute_stream":
        for batch in ctx.sql(sql).execute_stream():
            rows += batch.to_pyarrow().num_rows
    elif how == "dfsession stream":
        for batch in session.stream(sql):
            rows += batch.num_rows
    else:
        table = ctx.sql(sql).to_arrow_table()
        rows = table.num_rows
    peak[0] = max(peak[0], rss())
    done.set()
    sampler.join()
    print(json.dumps({{"rows": rows, "growth": peak[0] - base}}))
    """
)


def bench_stream_memory(directory: Path, repeat: int) -> dict[str, Any]:
    """Peak RSS growth of a full scan, each run in a fresh interpreter, alternating candidates."""
    hows = ("plain execute_stream", "dfsession stream", "plain to_arrow_table")
    samples: dict[str, list[float]] = {how: [] for how in hows}
    rows = 0
    for round_ in range(repeat):
        order = hows if round_ % 2 == 0 else tuple(reversed(hows))
        for how in order:
            code = MEMORY_PROBE.format(
                src=str(SRC),
                bench=str(Path(__file__).resolve().parent),
                directory=str(directory),
                how=how,
                sql=SCAN,
            )
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
            measured = json.loads(out.strip().splitlines()[-1])
            rows = measured["rows"]
            samples[how].append(measured["growth"] / 2**20)
    medians = {how: statistics.median(values) for how, values in samples.items()}
    baseline = "plain execute_stream"
    result = {
        "benchmark": f"stream: peak RSS growth, scan of {rows:,} rows",
        "baseline": baseline,
        "repeat": repeat,
        "median_mb": {how: round(value, 1) for how, value in medians.items()},
        "ratio_to_baseline": {
            ("dfsession" if how == "dfsession stream" else how): round(value / medians[baseline], 3)
            for how, value in medians.items()
        },
    }
    print(f"{result['benchmark']}  (baseline: {baseline}, repeat={repeat}, fresh processes)")
    for how, value in medians.items():
        print(f"  {how:<28} median {value:>9.1f} MB")
    return result


def bench_delta_write(directory: Path, repeat: int) -> dict[str, Any]:
    """``write(..., format="delta")`` against ``write_deltalake(path, ctx.sql(q))``."""
    session = session_for(directory)
    ctx = session.ctx
    out = Path(tempfile.mkdtemp(prefix="bench-delta-"))
    counter = itertools.count()

    def fresh() -> None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()

    def plain() -> None:
        write_deltalake(str(out / f"t{next(counter)}"), ctx.sql(DELTA_QUERY))

    def facade() -> None:
        session.write(DELTA_QUERY, out / f"t{next(counter)}", format="delta")

    try:
        result = compare(
            "write: Delta table of a filtered scan",
            {"plain deltalake": plain, "dfsession": facade},
            baseline="plain deltalake",
            repeat=repeat,
            warmup=1,
            setup=fresh,
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print_result(result)
    return result


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Generate the data once, run the three benchmarks, return their results."""
    quiet_logging()
    rows = QUICK_ROWS if quick else ROWS
    directory = Path(tempfile.mkdtemp(prefix="bench-execute-"))
    try:
        generate(directory, rows)
        results = bench_execute(directory, repeat=5 if quick else 21)
        results.append(bench_stream_memory(directory, repeat=2 if quick else 5))
        results.append(bench_delta_write(directory, repeat=3 if quick else 15))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2M rows, fewer repeats")
    write_results("execute", main(quick=parser.parse_args().quick))
