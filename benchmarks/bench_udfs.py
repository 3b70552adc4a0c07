"""Installing 200 UDFs: ``SessionContextBuilder`` with the ``udfs`` step vs plain ``register_udf``.

Both sides do the same work in every timed call, so the ratio is the builder's overhead:

* ``200 declared callables`` (the target, ratio <= 1.15): the profile names a plain Python
  callable 200 times with its signature; the builder creates the context, wraps each callable
  with ``datafusion.udf`` and registers it. The plain side creates the same context (the
  config and runtime the ``context`` step makes) and the same 200 ``udf(...)`` objects, and
  registers them. Neither side imports anything (the module is already loaded).
  dfsession builds each ``ScalarUDF`` directly with the Arrow fields made once per build
  (what ``udf()`` does, minus rebuilding the fields every call); a second plain candidate does
  the same, to show how much of the difference that accounts for.
* ``bundle of 200 ScalarUDF objects``: the profile names one list of 200 prebuilt objects;
  neither side creates function objects, both create the context. The builder also reads the
  objects' signatures from the engine (their types live only there) for the snapshot: a scratch
  context emptied of built-ins and two information_schema reads, ~1 ms that plain code does
  not spend, so this ratio stays far above 1.

Both dfsession figures include the builder's runtime hash, a JSON encoding of every record
(~1.2 us per recorded function).

The builder runs only the steps this work needs (``context``, ``udfs``); a third candidate runs
the whole ``default_steps()`` list, the other steps skipped.

* ``query calling a declared callable``: ``SELECT sum(f(v))`` over 500,000 rows in batches of
  1,024 rows, so the function is called ~490 times per query and any per-call cost shows. The
  plain side registers ``udf(add_one, ...)``; dfsession's is the declared callable the ``udfs``
  step installs (with the checks it makes of each result), queried through the context and
  through ``BuiltSession.execute`` (the facade, with its SQL policy and accounting).

Run: python benchmarks/bench_udfs.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import RuntimeEnvBuilder, ScalarUDF, SessionConfig, SessionContext, udf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionContextBuilder, SessionProfile, default_steps
from dfsession.steps.functions import UdfsStep
from dfsession.steps.session import ContextStep

COUNT = 200
NAMES = [f"f{i}" for i in range(COUNT)]


def add_one(values: pa.Array) -> pa.Array:
    """The function every UDF runs."""
    return pc.add(values, 1)


#: 200 prebuilt function objects: the bundle the second benchmark installs.
BUNDLE = [udf(add_one, [pa.int64()], pa.int64(), "immutable", name=name) for name in NAMES]

DECLARED = SessionProfile.from_dict(
    {
        "udfs": [
            {
                "ref": f"{__name__}:add_one",
                "name": name,
                "args": ["int64"],
                "returns": "int64",
                "volatility": "immutable",
            }
            for name in NAMES
        ]
    }
)
BUNDLED = SessionProfile.from_dict({"udfs": [{"ref": f"{__name__}:BUNDLE"}]})
STEPS = (ContextStep(), UdfsStep())


def plain_context() -> SessionContext:
    """The context the ``context`` step makes for a profile without execution settings."""
    config = (
        SessionConfig()
        .with_default_catalog_and_schema("datafusion", "public")
        .with_information_schema(False)
    )
    runtime = RuntimeEnvBuilder().with_unbounded_memory_pool().with_disk_manager_os()
    return SessionContext(config, runtime)


def plain_declared() -> SessionContext:
    """Create the context and 200 UDF objects, and register them."""
    ctx = plain_context()
    for name in NAMES:
        ctx.register_udf(udf(add_one, [pa.int64()], pa.int64(), "immutable", name=name))
    return ctx


def plain_declared_fast() -> SessionContext:
    """As ``plain_declared``, with ``ScalarUDF`` and the fields made once, as dfsession does."""
    ctx = plain_context()
    fields, field = [pa.field("value_0", pa.int64())], pa.field("value", pa.int64())
    for name in NAMES:
        ctx.register_udf(ScalarUDF(name, add_one, fields, field, "immutable"))
    return ctx


def plain_bundle() -> SessionContext:
    """Create the context and register 200 prebuilt UDF objects."""
    ctx = plain_context()
    for function in BUNDLE:
        ctx.register_udf(function)
    return ctx


QUERY_ROWS = 500_000
QUERY_BATCH = 1_024
QUERY = "SELECT sum(f(v)) AS total FROM t"


def _query_table(ctx: SessionContext) -> SessionContext:
    """Register table ``t``: int64 ``v`` in batches of ``QUERY_BATCH`` rows."""
    values = pa.array(range(QUERY_ROWS), pa.int64())
    table = pa.table({"v": values}).to_batches(max_chunksize=QUERY_BATCH)
    ctx.register_record_batches("t", [table])
    return ctx


def query_candidates() -> dict[str, Callable[[], object]]:
    """The query benchmark's candidates: plain ``udf(...)``, dfsession's context and facade."""
    profile = SessionProfile.from_dict(
        {
            "execution": {"batch_size": QUERY_BATCH},
            "udfs": [
                {"ref": f"{__name__}:add_one", "name": "f", "args": ["int64"], "returns": "int64"}
            ],
        }
    )
    session = SessionContextBuilder(profile, steps=STEPS).build()
    _query_table(session.ctx)
    plain = _query_table(
        SessionContext(SessionConfig().with_batch_size(QUERY_BATCH), RuntimeEnvBuilder())
    )
    plain.register_udf(udf(add_one, [pa.int64()], pa.int64(), "volatile", name="f"))
    expected = plain.sql(QUERY).to_arrow_table()
    assert session.execute(QUERY).equals(expected)
    return {
        "plain datafusion": lambda: plain.sql(QUERY).to_arrow_table(),
        "dfsession ctx.sql": lambda: session.ctx.sql(QUERY).to_arrow_table(),
        "dfsession execute": lambda: session.execute(QUERY),
    }


def main() -> list[dict[str, object]]:
    """Run and print the three benchmarks; return the results."""
    quiet_logging()
    results = []
    for title, profile, plain, extra in (
        (
            "udfs: 200 declared callables",
            DECLARED,
            plain_declared,
            {"plain, ScalarUDF + shared fields": plain_declared_fast},
        ),
        ("udfs: bundle of 200 ScalarUDF objects", BUNDLED, plain_bundle, {}),
    ):
        result = compare(
            title,
            {
                "plain datafusion": plain,
                **extra,
                "dfsession (context, udfs)": lambda p=profile: SessionContextBuilder(
                    p, steps=STEPS
                ).build(),
                "dfsession (default_steps)": lambda p=profile: SessionContextBuilder(
                    p, steps=default_steps()
                ).build(),
            },
            baseline="plain datafusion",
            repeat=61,
            warmup=5,
            inner=5,
        )
        print_result(result)
        results.append(result)
    result = compare(
        "udfs: query calling a declared callable (~490 calls)",
        query_candidates(),
        baseline="plain datafusion",
        repeat=31,
        warmup=3,
    )
    print_result(result)
    results.append(result)
    return results


if __name__ == "__main__":
    write_results("udfs", main())
