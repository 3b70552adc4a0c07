"""Scanning a Delta table in an object store: dfsession against deltalake + pyarrow by hand.

The store is an S3-compatible server (moto, in a child process so that its Python threads do
not share the interpreter lock of the client being measured: ``latency_proxy.LakeServer``). The
bucket holds one Delta table of ``--rows`` rows (10,000,000 by default) in ``--files`` commits,
partitioned by ``region`` (4 values): ``id`` int64, ``value`` float64.

Each side opens the table and scans it, timed together:

- by hand: ``DeltaTable(uri, storage_options=...).to_pyarrow_dataset().to_table()``;
- by hand in DataFusion: ``ctx.register_dataset("t", <that dataset>)``, then the query;
- dfsession: ``SessionContextBuilder(profile).build()`` of a profile declaring the bucket's
  store (secrets from environment variables) and the table, then ``session.execute(query)``.

Two queries: the whole table (``SELECT *``, every row to Arrow) and an aggregate
(``SELECT region, count(*), sum(value) ... GROUP BY region``); by hand, the aggregate is
pyarrow's ``Table.group_by`` on the scanned table. Sides alternate within a round; medians and
the range of per-round ratios to the by-hand scan.

Run: python benchmarks/bench_delta_remote.py [--rows 1000000] [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
from datafusion import SessionContext
from deltalake import DeltaTable, write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import alternate, print_result, quiet_logging, summarize, write_results
from latency_proxy import LakeServer

from dfsession import SessionContextBuilder, SessionProfile

BUCKET = "delta-remote"
REGION = "us-east-1"
KEY_ENV, KEY = "DFSESSION_BENCH_S3_KEY", "AKIABENCHDELTAREMOTE"
SECRET_ENV, SECRET = "DFSESSION_BENCH_S3_SECRET", "bench-delta-remote-secret"
ROWS = 10_000_000
QUICK_ROWS = 1_000_000
FILES = 10
REPEAT = 5
REGIONS = np.array(["ap", "eu", "sa", "us"])

BY_HAND = "deltalake + pyarrow by hand"
BY_HAND_DATAFUSION = "deltalake + pyarrow dataset in DataFusion by hand"
DFSESSION = "dfsession"
QUERIES = {
    "full scan": "SELECT * FROM t",
    "aggregate": "SELECT region, count(*) AS n, sum(value) AS total FROM t GROUP BY region",
}


def storage_options(endpoint: str) -> dict[str, str]:
    """deltalake options for the server (the unsafe rename lets setup write without a lock)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }


def fill(endpoint: str, rows: int, files: int) -> str:
    """Create the bucket and write the table in ``files`` commits (untimed); its URI."""
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    ).create_bucket(Bucket=BUCKET)
    uri = f"s3://{BUCKET}/events"
    rng = np.random.default_rng(7)
    per_file = -(-rows // files)
    for start in range(0, rows, per_file):
        count = min(per_file, rows - start)
        batch = pa.table(
            {
                "id": pa.array(np.arange(start, start + count, dtype=np.int64)),
                "value": pa.array(rng.random(count)),
                "region": pa.array(REGIONS[rng.integers(0, len(REGIONS), count)]),
            }
        )
        write_deltalake(
            uri,
            batch,
            mode="append",
            partition_by=["region"],
            storage_options=storage_options(endpoint),
        )
    return uri


def candidates(endpoint: str, uri: str, query: str) -> dict[str, Callable[[], Any]]:
    """The three ways to open the table and run ``query``; each returns the rows it read."""
    options = {k: v for k, v in storage_options(endpoint).items() if "RENAME" not in k}
    profile = SessionProfile.from_dict(
        {
            "object_stores": {
                "lake": {
                    "url": f"s3://{BUCKET}",
                    "kind": "s3",
                    "options": {"region": REGION, "endpoint": endpoint, "allow_http": True},
                    "secrets": {
                        "access_key_id": {"env": KEY_ENV},
                        "secret_access_key": {"env": SECRET_ENV},
                    },
                }
            },
            "datasets": {"t": {"format": "delta", "location": uri}},
        }
    )
    aggregate = query.startswith("SELECT region")

    def by_hand() -> int:
        table = DeltaTable(uri, storage_options=options).to_pyarrow_dataset().to_table()
        if aggregate:
            table = table.group_by("region").aggregate([("id", "count"), ("value", "sum")])
        return table.num_rows

    def by_hand_datafusion() -> int:
        ctx = SessionContext()
        ctx.register_dataset("t", DeltaTable(uri, storage_options=options).to_pyarrow_dataset())
        return int(ctx.sql(query).to_arrow_table().num_rows)

    def dfsession() -> int:
        return int(SessionContextBuilder(profile).build().execute(query).num_rows)

    return {BY_HAND: by_hand, BY_HAND_DATAFUSION: by_hand_datafusion, DFSESSION: dfsession}


@contextmanager
def credentials() -> Iterator[None]:
    """The benchmark's credentials in the environment, for the profile's references."""
    saved = {name: os.environ.get(name) for name in (KEY_ENV, SECRET_ENV)}
    os.environ[KEY_ENV], os.environ[SECRET_ENV] = KEY, SECRET
    try:
        yield
    finally:
        for env, value in saved.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value


def main(
    quick: bool = False, rows: int | None = None, repeat: int | None = None, files: int = FILES
) -> list[dict[str, Any]]:
    """Write the table, then time each query's candidates; print and return the results."""
    quiet_logging()
    rows = rows or (QUICK_ROWS if quick else ROWS)
    repeat = repeat or (2 if quick else REPEAT)
    results: list[dict[str, Any]] = []
    with credentials(), LakeServer((0,)) as lake:
        uri = fill(lake.upstream, rows, files)
        for label, query in QUERIES.items():
            runs = candidates(lake.upstream, uri, query)
            answers = {name: run() for name, run in runs.items()}
            if len(set(answers.values())) != 1:
                raise AssertionError(f"the candidates disagree on {query!r}: {answers}")
            samples = alternate(runs, repeat=repeat, warmup=1)
            result = summarize(
                f"Delta table in S3: {label}, {rows:,} rows", samples, baseline=BY_HAND
            )
            result.update(rows=rows, files=files, query=query, server="moto in a child process")
            print_result(result)
            results.append(result)
    return results


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, 2 rounds")
    parser.add_argument("--rows", type=int, help=f"rows in the table (default {ROWS:,})")
    parser.add_argument("--repeat", type=int, help=f"rounds (default {REPEAT})")
    parser.add_argument("--files", type=int, default=FILES, help=f"commits (default {FILES})")
    args = parser.parse_args()
    results = main(args.quick, args.rows, args.repeat, args.files)
    print(f"results: {write_results('delta_remote', results)}")


if __name__ == "__main__":
    _main()
