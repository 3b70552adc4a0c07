"""Opening a lake in an object store: dfsession's build against the plain calls a user would write.

The lake is an S3-compatible server (moto's ``ThreadedMotoServer`` on 127.0.0.1) behind a proxy
that adds a fixed delay to every request (``latency_proxy.py``), so registration is bound by round
trips as against a real remote store. The bucket holds 1,000 small Parquet datasets
(``t{i}/part-0.parquet``, a few rows each) and 50 Delta tables (``d{i}``).

Plain code, for Parquet: one ``SessionContext``, ``register_object_store("s3://", AmazonS3(...),
bucket)``, then ``register_parquet(name, "s3://bucket/t{i}/")`` one after another. For Delta, what
works by hand with datafusion 55 and deltalake (see ENGINE-FACTS.md): ``register_dataset(name,
DeltaTable(uri, storage_options=...).to_pyarrow_dataset())``; deltalake's native provider, which
dfsession registers, is timed beside it. dfsession: ``SessionContextBuilder(profile).build()`` of a
profile declaring the same store (secrets from environment variables) and datasets; also a profile
with declared schemas and ``schema_mode = "trust"`` (recorded as not supported while the profile
loader refuses it), beside plain ``register_parquet`` given the schema.

Each result also gives the requests one build made, by kind (``LIST``, ``GET``, ``HEAD``...).

moto and the proxies run in a child process, and the proxy replays small read responses after
their first time (every candidate is run once, undelayed, to make them): moto's own 2-4 ms of CPU
per request would otherwise bound any concurrent client (``--no-replay`` turns it off).

Sides alternate within a round; a case runs ``REPEAT`` rounds, fewer when another round would
pass ``CASE_BUDGET_S``. Before dfsession opens datasets concurrently, a full run takes about 12
minutes, most of it the plain side at 1,000 datasets; ``--quick`` (50 datasets, 20 ms) about one.

Run: python benchmarks/bench_remote_lake.py [--quick] [--sizes 50,200] [--delays 20,50]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import structlog
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext
from datafusion.object_store import AmazonS3
from deltalake import DeltaTable, write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import alternate, print_result, summarize, write_results
from latency_proxy import LakeServer, RemoteProxy

from dfsession import SessionContextBuilder, SessionProfile
from dfsession.errors import ProfileError

BUCKET = "remote-lake"
REGION = "us-east-1"
#: The benchmark's own credentials for the local server, exported for the profile's references.
KEY_ENV, KEY = "DFSESSION_BENCH_S3_KEY", "AKIABENCHREMOTELAKE0"
SECRET_ENV, SECRET = "DFSESSION_BENCH_S3_SECRET", "bench-remote-lake-secret"
SCHEMA = {"id": "int64", "value": "float64", "name": "string"}
ARROW_SCHEMA = pa.schema([("id", pa.int64()), ("value", pa.float64()), ("name", pa.string())])
SIZES = (50, 200, 1000)
DELAYS_MS = (20, 50)
DELTA_TABLES = 50
#: Rounds per case at most, and the seconds a case may take before it stops after a round.
REPEAT = 3
CASE_BUDGET_S = 180.0
#: Datasets each side opens, untimed, before a case: connections and first-call costs.
WARMUP_DATASETS = 5

PLAIN = "plain datafusion"
PLAIN_SCHEMA = "plain datafusion, schema given"
DFSESSION = "dfsession"
DFSESSION_TRUST = 'dfsession, schema_mode "trust"'
PLAIN_DELTA = "plain datafusion + deltalake (pyarrow dataset)"
PLAIN_DELTA_NATIVE = "plain datafusion + deltalake (native provider)"


def small_table() -> pa.Table:
    """The few rows every dataset holds."""
    return pa.table(
        {"id": pa.array([1, 2, 3], pa.int64()), "value": [0.5, 1.5, 2.5], "name": ["a", "b", "c"]},
        schema=ARROW_SCHEMA,
    )


def direct_storage_options(endpoint: str) -> dict[str, str]:
    """deltalake options for ``endpoint``; the unsafe rename lets setup write without a lock."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }


def fill_bucket(endpoint: str, parquet: int, delta: int) -> None:
    """Create the bucket and write the datasets straight to the server (no proxy, untimed)."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=BUCKET)
    buffer = io.BytesIO()
    pq.write_table(small_table(), buffer)
    body = buffer.getvalue()

    def put(i: int) -> None:
        client.put_object(Bucket=BUCKET, Key=f"t{i}/part-0.parquet", Body=body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(parquet)))
    options = direct_storage_options(endpoint)
    for i in range(delta):
        write_deltalake(f"s3://{BUCKET}/d{i}", small_table(), storage_options=options)


def store_entry(endpoint: str) -> dict[str, Any]:
    """The profile's ``[object_stores]`` entry for the bucket behind the proxy."""
    return {
        "url": f"s3://{BUCKET}",
        "kind": "s3",
        "options": {"region": REGION, "endpoint": endpoint, "allow_http": True},
        "secrets": {
            "access_key_id": {"env": KEY_ENV},
            "secret_access_key": {"env": SECRET_ENV},
        },
    }


def profile_for(
    endpoint: str, names: list[str], dataset: Callable[[str], dict[str, Any]]
) -> SessionProfile:
    """A profile of the bucket's store and one dataset entry per name."""
    return SessionProfile.from_dict(
        {
            "object_stores": {"lake": store_entry(endpoint)},
            "datasets": {name: dataset(name) for name in names},
        }
    )


def plain_context(endpoint: str) -> SessionContext:
    """The context and store a user would set up by hand (as dfsession's defaults make it)."""
    config = SessionConfig().with_default_catalog_and_schema("datafusion", "public")
    config = config.with_information_schema(False)
    runtime = RuntimeEnvBuilder().with_unbounded_memory_pool().with_disk_manager_os()
    ctx = SessionContext(config, runtime)
    store = AmazonS3(
        bucket_name=BUCKET,
        region=REGION,
        access_key_id=os.environ[KEY_ENV],
        secret_access_key=os.environ[SECRET_ENV],
        endpoint=endpoint,
        allow_http=True,
    )
    ctx.register_object_store("s3://", store, BUCKET)
    return ctx


def parquet_candidates(endpoint: str, count: int) -> tuple[dict[str, Callable[[], Any]], str]:
    """Plain and dfsession opening of ``count`` Parquet datasets; a note when trust is refused."""
    names = [f"t{i}" for i in range(count)]

    def location(name: str) -> str:
        return f"s3://{BUCKET}/{name}/"

    def plain() -> SessionContext:
        ctx = plain_context(endpoint)
        for name in names:
            ctx.register_parquet(name, location(name))
        return ctx

    def plain_schema() -> SessionContext:
        ctx = plain_context(endpoint)
        for name in names:
            ctx.register_parquet(name, location(name), schema=ARROW_SCHEMA)
        return ctx

    profile = profile_for(
        endpoint, names, lambda name: {"format": "parquet", "location": location(name)}
    )
    candidates: dict[str, Callable[[], Any]] = {
        PLAIN: plain,
        DFSESSION: lambda: SessionContextBuilder(profile).build(),
    }
    try:
        trusting = profile_for(
            endpoint,
            names,
            lambda name: {
                "format": "parquet",
                "location": location(name),
                "schema": SCHEMA,
                "schema_mode": "trust",
            },
        )
    except ProfileError as exc:
        return candidates, f"not supported yet: {str(exc).splitlines()[-1].strip()}"
    candidates[PLAIN_SCHEMA] = plain_schema
    candidates[DFSESSION_TRUST] = lambda: SessionContextBuilder(trusting).build()
    return candidates, "supported"


def delta_candidates(endpoint: str, count: int) -> dict[str, Callable[[], Any]]:
    """Plain and dfsession opening of ``count`` Delta tables in the bucket."""
    names = [f"d{i}" for i in range(count)]
    options = {k: v for k, v in direct_storage_options(endpoint).items() if "RENAME" not in k}

    def plain_dataset() -> SessionContext:
        ctx = plain_context(endpoint)
        for name in names:
            table = DeltaTable(f"s3://{BUCKET}/{name}", storage_options=options)
            ctx.register_dataset(name, table.to_pyarrow_dataset())
        return ctx

    def plain_native() -> SessionContext:
        ctx = plain_context(endpoint)
        for name in names:
            ctx.register_table(name, DeltaTable(f"s3://{BUCKET}/{name}", storage_options=options))
        return ctx

    profile = profile_for(
        endpoint, names, lambda name: {"format": "delta", "location": f"s3://{BUCKET}/{name}"}
    )
    return {
        PLAIN_DELTA: plain_dataset,
        PLAIN_DELTA_NATIVE: plain_native,
        DFSESSION: lambda: SessionContextBuilder(profile).build(),
    }


class RequestLog:
    """The requests each candidate's timed call made through ``proxy``, read between timings."""

    def __init__(self, proxy: RemoteProxy) -> None:
        self.proxy = proxy
        self.seen: dict[str, list[dict[str, Any]]] = {}

    def before(self) -> None:
        """Count from zero for the next call."""
        self.proxy.reset()

    def after(self, label: str) -> None:
        """Keep what the call of ``label`` just made."""
        self.seen.setdefault(label, []).append(self.proxy.requests())


def request_summary(seen: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests per build: median, range, and the kinds of the last build."""
    totals = [entry["requests"] for entry in seen]
    return {
        "median": statistics.median(totals),
        "min": min(totals),
        "max": max(totals),
        "by_kind": seen[-1]["by_kind"],
        "connections": seen[-1]["connections"],
    }


def run_case(
    name: str,
    proxy: RemoteProxy,
    candidates: dict[str, Callable[[], Any]],
    warmups: dict[str, Callable[[], Any]],
    *,
    baseline: str,
    repeat: int,
    budget_s: float,
) -> dict[str, Any]:
    """Warm each side up on a few datasets, then alternate the full builds; medians and requests."""
    for warm in warmups.values():
        warm()
    log = RequestLog(proxy)
    samples = alternate(
        candidates, repeat=repeat, warmup=0, setup=log.before, after=log.after, budget_s=budget_s
    )
    result = summarize(name, samples, baseline=baseline)
    result["requests_per_build"] = {label: request_summary(s) for label, s in log.seen.items()}
    return result


def print_requests(result: dict[str, Any]) -> None:
    """The requests each side made for one build."""
    width = max(28, *map(len, result["requests_per_build"]))
    for label, counts in result["requests_per_build"].items():
        spread = "" if counts["min"] == counts["max"] else f" ({counts['min']}-{counts['max']})"
        print(f"  {label:<{width}} requests {counts['median']:g}{spread}  {counts['by_kind']}")


@contextmanager
def credentials() -> Iterator[None]:
    """The benchmark's credentials in the environment, for the profiles' references."""
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


def prime(endpoint: str, size: int, delta: bool) -> None:
    """Make every request of every candidate once, undelayed, so that the proxy can replay it."""
    for fn in parquet_candidates(endpoint, size)[0].values():
        fn()
    if delta:
        for fn in delta_candidates(endpoint, DELTA_TABLES).values():
            fn()


def main(
    quick: bool = False,
    sizes: tuple[int, ...] | None = None,
    delays_ms: tuple[int, ...] | None = None,
    delta: bool = True,
    replay: bool = True,
) -> list[dict[str, Any]]:
    """Fill the lake, then time every case; print and return the results."""
    # Errors only: warnings would bury the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    sizes = sizes or ((50,) if quick else SIZES)
    delays_ms = delays_ms or ((20,) if quick else DELAYS_MS)
    repeat = 2 if quick else REPEAT
    server = "moto in a child process" + (", small reads replayed by the proxy" if replay else "")
    results: list[dict[str, Any]] = []
    with credentials(), LakeServer((0, *delays_ms), replay=replay) as lake:
        fill_bucket(lake.upstream, max(sizes), DELTA_TABLES if delta else 0)
        if replay:
            prime(lake.proxies[0].endpoint, max(sizes), delta)
        for delay_ms in delays_ms:
            proxy = lake.proxies[delay_ms]
            for size in sizes:
                candidates, trust = parquet_candidates(proxy.endpoint, size)
                result = run_case(
                    f"remote lake: {size} Parquet datasets, {delay_ms} ms a request",
                    proxy,
                    candidates,
                    parquet_candidates(proxy.endpoint, WARMUP_DATASETS)[0],
                    baseline=PLAIN,
                    repeat=repeat,
                    budget_s=CASE_BUDGET_S,
                )
                result.update(
                    datasets=size, delay_ms=delay_ms, server=server, schema_mode_trust=trust
                )
                print_result(result)
                print_requests(result)
                print(f'  schema_mode "trust": {trust}', flush=True)
                results.append(result)
            if delta:
                result = run_case(
                    f"remote lake: {DELTA_TABLES} Delta tables, {delay_ms} ms a request",
                    proxy,
                    delta_candidates(proxy.endpoint, DELTA_TABLES),
                    delta_candidates(proxy.endpoint, WARMUP_DATASETS),
                    baseline=PLAIN_DELTA,
                    repeat=repeat,
                    budget_s=CASE_BUDGET_S,
                )
                result.update(datasets=DELTA_TABLES, delay_ms=delay_ms, server=server)
                print_result(result)
                print_requests(result)
                results.append(result)
    return results


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 datasets at 20 ms only")
    parser.add_argument("--sizes", type=_numbers, help="numbers of Parquet datasets: 50,200")
    parser.add_argument("--delays", type=_numbers, help="delays per request in ms: 20,50")
    parser.add_argument("--no-delta", action="store_true", help="skip the Delta tables")
    parser.add_argument(
        "--no-replay", action="store_true", help="every request answered by moto itself"
    )
    args = parser.parse_args()
    results = main(
        quick=args.quick,
        sizes=args.sizes,
        delays_ms=args.delays,
        delta=not args.no_delta,
        replay=not args.no_replay,
    )
    write_results("remote_lake", results)
