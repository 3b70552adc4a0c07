"""The query facade: run SQL on a built session under the profile's SQL policy.

Every statement goes through ``SessionContext.sql`` with the policy's ``SQLOptions`` and
engine-bound parameters (``param_values``), so values are never pasted into SQL text; what an
``EXECUTE`` runs is held to the same policy. Engine errors become ``QueryError`` (or
``SqlPolicyError``) carrying the engine's words and the query, with every object-store secret
masked, through one function: ``query_error``.
Each query gets a ``dfsession.query`` span when the session has a tracer, and one structlog
event with its rows, compute time and spills.
"""

from __future__ import annotations

import ast
import contextvars
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, cast

import attrs
import pyarrow as pa
from datafusion import DataFrame, LogicalPlan, SessionContext, SQLOptions
from datafusion.expr import DmlStatement, Execute, TableScan

from dfsession.engine.delta import (
    DeltaWrites,
    FolderState,
    check_append_schema,
    open_latest,
    refuse_existing_folder,
    table_version,
    write_delta,
)
from dfsession.engine.files import LocalWrite, copy_statement
from dfsession.engine.stores import ObjectStores
from dfsession.engine.versions import DELTALAKE, PluginGuard
from dfsession.errors import (
    DfSessionError,
    QueryError,
    SqlPolicyError,
    chained,
)
from dfsession.faults import UdfFaults, fault_error, is_engine_failure
from dfsession.logs import get_logger
from dfsession.profile.datasets import CsvDataset, FileDataset
from dfsession.profile.locations import Location, redact_url
from dfsession.profile.model import SessionProfile
from dfsession.profile.sections import SqlPolicy
from dfsession.profile.values import did_you_mean
from dfsession.tracing import SessionTracing, query_span, redact_sql, set_query_metrics

__all__ = [
    "EXPLAIN_FORMATS",
    "MAX_SQL_IN_LOG",
    "MAX_SQL_IN_MESSAGE",
    "PlanMetrics",
    "ProgressCallback",
    "Queries",
    "WRITE_FORMATS",
    "WRITE_MODES",
    "WriteResult",
    "plan_metrics",
    "query_error",
]

log = get_logger(__name__)

EXPLAIN_FORMATS = ("indent", "tree", "pgjson", "graphviz")
WRITE_FORMATS = ("parquet", "csv", "json", "delta")
WRITE_MODES = ("error", "append", "overwrite")
#: Longest SQL text quoted in an error message or a log event; longer text is cut.
MAX_SQL_IN_MESSAGE = 1000
MAX_SQL_IN_LOG = 200

# DataFusion's refusal under SQLOptions: "DDL not supported: CreateMemoryTable".
_POLICY_REFUSAL = re.compile(r"\b(DDL|DML|Statement) not supported: ([^\n]+)")
_POLICY_FIELDS = {"DDL": "allow_ddl", "DML": "allow_dml", "Statement": "allow_statements"}
_OUT_OF_MEMORY = "Resources exhausted"
# A SqlPolicyError raised inside the engine, in a callback: the engine keeps its repr only.
_CALLBACK_REFUSAL = re.compile(
    r"PyErr \{ type: <class 'dfsession\.errors\.SqlPolicyError'>, value: "
    r"(SqlPolicyError\(.*?\)), traceback: ",
    re.DOTALL,
)
# arrow-csv: "Error while parsing value 'JFK' as type 'Int64' for column 1 at line 2".
_CSV_PARSE = re.compile(
    r"Error while parsing value '(?P<value>.*?)' as type '(?P<type>[^']+)' "
    r"for column (?P<column>\d+) at line (?P<line>\d+)",
    re.DOTALL,
)
_PARAM_CAST = re.compile(r"Cannot cast string '(?P<value>.*?)' to value of (?P<type>\w+) type")
_MISSING_TABLE = re.compile(r"table '([^']+)' not found")

ProgressCallback = Callable[[int], None]


def _cut(sql: str, limit: int) -> str:
    text = redact_sql(sql.strip())
    return text if len(text) <= limit else text[:limit] + "...[cut]"


def _param_values(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``$name`` placeholders to values; a leading ``$`` in a key is accepted."""
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a mapping of placeholder names to values, such as {{'id': 5}} "
            f"for $id (got {type(params).__name__})"
        )
    return {
        str(name).removeprefix("$"): _bindable(str(name), value) for name, value in params.items()
    }


_INT64 = range(-(2**63), 2**63)
_UINT64 = range(2**64)


def _bindable(name: str, value: Any) -> Any:
    """A value the engine can bind: integers past int64 go as uint64, or are refused by name."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        if value in _UINT64:
            return pa.scalar(value, pa.uint64())
        raise QueryError(
            f"parameter ${name.removeprefix('$')} = {value} does not fit a 64-bit integer; "
            "pass it as decimal.Decimal to bind a decimal"
        )
    return value


def _memory_hint(profile: SessionProfile) -> str:
    execution = profile.execution
    limit = "unset" if execution.memory_limit is None else str(execution.memory_limit)
    pool = execution.effective_memory_pool
    spill = execution.spill if execution.spill is not None else "os"
    spill_text = spill if isinstance(spill, str) else list(spill)
    advice = "raise execution.memory_limit"
    if pool != "fair" or spill == "disabled":
        advice += (
            ", or set execution.memory_pool = 'fair' with execution.spill enabled ('os' or a "
            "list of directories) so that sorts, joins and aggregations spill to disk"
        )
    return (
        "\n  the query ran out of memory; the profile's [execution] settings govern this: "
        f"execution.memory_limit (now {limit}), execution.memory_pool (now {pool!r}) and "
        f"execution.spill (now {spill_text!r}): {advice}"
    )


def query_error(
    exc: BaseException,
    sql: str,
    profile: SessionProfile,
    *,
    stores: ObjectStores | None = None,
    ctx: SessionContext | None = None,
    params: Mapping[str, Any] | None = None,
    df: DataFrame | None = None,
    faults: UdfFaults | None = None,
) -> DfSessionError:
    """The dfsession error for an engine failure of ``sql``: the one translation of them all.

    The secret values of ``stores`` are masked first, in ``exc`` and every exception chained
    to it, so neither the error, its traceback, a span nor a log shows them. A policy refusal
    becomes ``SqlPolicyError``; any other failure a ``QueryError`` with the engine's words, the
    query, and a line naming what to fix when the failure is one dfsession can place (memory,
    a CSV value of ``df``'s datasets, a parameter of ``params``, an unknown table of ``ctx``).
    A Python function's fault kept in ``faults`` (or an engine panic) becomes a ``QueryError``
    naming the function, with the function's own exception as its ``__cause__``.
    """
    if isinstance(exc, DfSessionError):
        return exc
    stores = stores if stores is not None else ObjectStores()
    _scrub_chain(exc, stores)
    fault = fault_error(exc, sql, _cut(sql, MAX_SQL_IN_MESSAGE), faults)
    if fault is not None:  # the function's exception is the cause: masked the same way
        _scrub_chain(fault, stores)
        fault.engine_message = stores.scrub(fault.engine_message)
        return fault
    message = str(exc).strip()
    refusal = _policy_refusal(message, sql)
    if refusal is not None:
        return refusal
    hint = _memory_hint(profile) if _OUT_OF_MEMORY in message else ""
    if ctx is not None:
        hint += _data_hint(message, profile, ctx, params, df)
    shown = _cut(sql, MAX_SQL_IN_MESSAGE)
    return QueryError(f"{message}\n  query: {shown}{hint}", query=sql, engine_message=message)


def _scrub_chain(exc: BaseException, stores: ObjectStores) -> None:
    """Mask the stores' secrets in ``exc`` and the exceptions chained to it, in place.

    In place, because the engine's exception stays the error's ``__cause__``: its type and
    traceback help, its text must not carry a key id or a session token (S3 echoes them).
    """
    for current in chained(exc):
        current.args = tuple(
            stores.scrub(arg) if isinstance(arg, str) else arg for arg in current.args
        )
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            current.__notes__ = [stores.scrub(str(note)) for note in notes]


def _policy_refusal(message: str, sql: str) -> SqlPolicyError | None:
    """The ``SqlPolicyError`` that the engine's words (or a callback's refusal) amount to."""
    shown = _cut(sql, MAX_SQL_IN_MESSAGE)
    refused = _raised_in_callback(message)
    if refused is not None:
        text, fields = refused
        return SqlPolicyError(f"{text}\n  query: {shown}", query=sql, **fields)
    refusal = _POLICY_REFUSAL.search(message)
    if refusal is None:
        return None
    kind, statement = refusal.group(1), refusal.group(2).strip()
    field = f"sql_policy.{_POLICY_FIELDS[kind]}"
    label = "statement" if kind == "Statement" else kind
    return SqlPolicyError(
        f"the profile's sql_policy does not allow this {label} ({statement}); "
        f"set {field} = true in the profile to allow it\n  query: {shown}",
        kind=label,
        statement=statement,
        field=field,
        query=sql,
    )


def _raised_in_callback(message: str) -> tuple[str, dict[str, str]] | None:
    """Message and fields of a ``SqlPolicyError`` raised in a callback (the Delta table factory).

    The engine keeps only the text of such an exception: ``PyErr { type: ..., value: <repr> }``;
    ``SqlPolicyError.__repr__`` is constructor-like, so it reads back with ``ast``.
    """
    found = _CALLBACK_REFUSAL.search(message)
    if found is None:
        return None
    try:
        call = ast.parse(found.group(1), mode="eval").body
        if not isinstance(call, ast.Call) or len(call.args) != 1:
            return None
        text = ast.literal_eval(call.args[0])
        fields = {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError):
        return None
    if not isinstance(text, str) or not set(fields) <= {"kind", "statement", "field"}:
        return None
    return text, {key: str(value) for key, value in fields.items()}


def _data_hint(
    message: str,
    profile: SessionProfile,
    ctx: SessionContext,
    params: Mapping[str, Any] | None,
    df: DataFrame | None,
) -> str:
    """A line naming the dataset column, the parameter or the table a failure is about."""
    parse = _CSV_PARSE.search(message)
    if parse is not None:
        return _csv_hint(parse, profile, ctx, df)
    cast = _PARAM_CAST.search(message)
    if cast is not None and params:
        return _param_hint(cast.group("value"), cast.group("type"), params)
    missing = _MISSING_TABLE.search(message)
    if missing is not None:
        return _table_hint(missing.group(1), ctx)
    return ""


def _csv_hint(
    parse: re.Match[str], profile: SessionProfile, ctx: SessionContext, df: DataFrame | None
) -> str:
    """Name each CSV dataset the query reads whose column at the engine's position could fail."""
    position, value, type_name = int(parse.group("column")), parse["value"], parse["type"]
    scanned = _scanned_tables(df)
    lines = []
    for name, config in profile.datasets.items():
        if not isinstance(config, CsvDataset) or (scanned is not None and name not in scanned):
            continue
        try:
            fields = ctx.table(name).schema()
        except Exception:  # deregistered since the build: nothing to name
            continue
        if position >= len(fields) - len(config.partition_cols):
            continue
        column, kind = fields.field(position).name, fields.field(position).type
        if (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind)
        ):
            continue  # text reads any value: not the column that failed
        declared = config.schema is not None and column in config.schema
        source = "the type declared at" if declared else "inferred; declare its type at"
        lines.append(
            f"\n  dataset {name!r}, column {column!r}: value {value!r} does not parse as "
            f"{type_name} ({source} datasets.{name}.schema.{column}); fix the file, or "
            "declare the column's real type there (string reads any value)"
        )
    return "".join(lines)


def _scanned_tables(df: DataFrame | None) -> set[str] | None:
    """The tables (views seen through) a query reads, or ``None`` when unknown."""
    if df is None:
        return None
    try:
        pending = [df.logical_plan()]
        names: set[str] = set()
        while pending:
            node = pending.pop()
            variant = node.to_variant()
            if isinstance(variant, TableScan):
                names.add(variant.table_name().rsplit(".", 1)[-1])
            pending.extend(node.inputs())
    except Exception:  # a plan node the bindings cannot show: fall back to every dataset
        return None
    return names


def _param_hint(value: str, type_name: str, params: Mapping[str, Any]) -> str:
    """Name the ``$name`` parameters whose value is the text the engine could not cast."""
    names = [name for name, given in params.items() if isinstance(given, str) and given == value]
    return "".join(
        f"\n  parameter ${name} = {value!r} does not cast to {type_name}, the type the query "
        f"needs there; pass a value of that type in params[{name!r}]"
        for name in names
    )


def _table_hint(qualified: str, ctx: SessionContext) -> str:
    """A did-you-mean among the tables of the schema the engine looked in."""
    parts = qualified.split(".")
    if len(parts) != 3:
        return ""
    catalog, schema, table = parts
    try:
        known = ctx.catalog(catalog).schema(schema).table_names()
    except Exception:  # no such catalog or schema: the engine's words say enough
        return ""
    hint = did_you_mean(table, known)
    return f"\n  table {table!r} is not registered{hint}" if hint else ""


# The plans DataFusion's SQLOptions check refuses, by the kind of statement that allows them.
_PLAN_KINDS = {
    **dict.fromkeys(("DmlStatement", "CopyTo"), "DML"),
    **dict.fromkeys(
        (
            "CreateMemoryTable",
            "CreateView",
            "CreateExternalTable",
            "CreateCatalog",
            "CreateCatalogSchema",
            "CreateFunction",
            "CreateIndex",
            "DropTable",
            "DropView",
            "DropCatalogSchema",
            "DropFunction",
        ),
        "DDL",
    ),
    **dict.fromkeys(
        ("TransactionStart", "TransactionEnd", "SetVariable", "Prepare", "Execute", "Deallocate"),
        "Statement",
    ),
}
# Plans around another plan that they show (EXPLAIN) or run (EXPLAIN ANALYZE).
_PLAN_WRAPPERS = ("Explain", "Analyze")


def forbidden_plan(plan: LogicalPlan, policy: SqlPolicy) -> tuple[str, str] | None:
    """The kind (``DDL``, ``DML``, ``Statement``) and name of what ``plan`` runs that ``policy``
    forbids, else ``None``.

    Looks at the plan's root, and through EXPLAIN and EXPLAIN ANALYZE: where a statement sits
    in any plan that SQL (or ``EXECUTE`` of a prepared statement) produces.
    """
    allowed = {
        "DDL": policy.allow_ddl,
        "DML": policy.allow_dml,
        "Statement": policy.allow_statements,
    }
    node = plan
    while True:
        variant = node.to_variant()
        name = type(variant).__name__
        kind = _PLAN_KINDS.get(name)
        if kind is not None and not allowed[kind]:
            if isinstance(variant, DmlStatement):
                name = f"{variant.op().name()} {variant.table_name()}"
            return kind, name
        if name not in _PLAN_WRAPPERS:
            return None
        node = node.inputs()[0]


_LINE_ONE_COLUMN = re.compile(r"Line: 1, Column: (\d+)")


def _shift_columns(error: QueryError, offset: int) -> QueryError:
    """The error with line-1 column numbers counted in the user's SQL, not the wrapped one."""

    def shift(match: re.Match[str]) -> str:
        return f"Line: 1, Column: {max(1, int(match.group(1)) - offset)}"

    message = _LINE_ONE_COLUMN.sub(shift, str(error))
    engine = _LINE_ONE_COLUMN.sub(shift, error.engine_message)
    return QueryError(message, query=error.query, engine_message=engine)


@attrs.frozen
class PlanMetrics:
    """A run's totals over every operator of its physical plan."""

    elapsed_compute_ns: int | None = None
    spill_count: int = 0
    spilled_bytes: int = 0
    root_rows: int | None = None


def plan_metrics(df: DataFrame) -> PlanMetrics:
    """Sum ``elapsed_compute``, ``spill_count`` and ``spilled_bytes`` of an executed DataFrame."""
    try:
        operators = df.execution_plan().collect_metrics()
    except Exception:  # metrics are an account, never a reason to fail a query
        return PlanMetrics()
    compute: int | None = None
    spills = spilled = 0
    for _, metrics in operators:
        if metrics.elapsed_compute is not None:
            compute = (compute or 0) + metrics.elapsed_compute
        spills += metrics.spill_count or 0
        spilled += metrics.spilled_bytes or 0
    root_rows = operators[0][1].output_rows if operators else None
    return PlanMetrics(compute, spills, spilled, root_rows)


@attrs.frozen
class WriteResult:
    """What ``write`` did: where, how, how many rows; ``version`` is the new Delta version."""

    target: str
    format: str
    mode: str
    rows: int
    version: int | None = None
    partition_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form."""
        return attrs.asdict(self)


class Queries:
    """Runs queries on a session's context under its profile's SQL policy."""

    __slots__ = (
        "_cluster",
        "_ctx",
        "_delta_writes",
        "_faults",
        "_guard",
        "_options",
        "_profile",
        "_stores",
        "_tracing",
    )

    def __init__(
        self,
        ctx: SessionContext,
        profile: SessionProfile,
        *,
        stores: ObjectStores | None = None,
        tracing: SessionTracing | None = None,
        faults: UdfFaults | None = None,
        guard: PluginGuard | None = None,
    ) -> None:
        policy = profile.sql_policy
        self._ctx = ctx
        self._profile = profile
        #: Whether queries run on a cluster, whose DataFrames run some methods (a stream, the
        #: Arrow C stream) in this process: results are then collected, which runs there.
        self._cluster = not profile.engine.is_local
        self._stores = stores if stores is not None else ObjectStores()
        #: Where query spans go; ``None``: queries get no span.
        self._tracing = tracing
        #: Where the session's checked Python functions keep their faults.
        self._faults = faults
        #: The native-plugin guard Delta writes run, as the build's delta step handed it on.
        self._guard = guard if guard is not None else PluginGuard()
        self._delta_writes = DeltaWrites()
        # No options when everything is allowed: the engine then skips the plan check.
        self._options: SQLOptions | None = None
        if not (policy.allow_ddl and policy.allow_dml and policy.allow_statements):
            self._options = (
                SQLOptions()
                .with_allow_ddl(policy.allow_ddl)
                .with_allow_dml(policy.allow_dml)
                .with_allow_statements(policy.allow_statements)
            )

    def dataframe(self, sql: str, params: Mapping[str, Any] | None = None) -> DataFrame:
        """The DataFrame of ``sql`` under the policy, ``$name`` parameters bound by the engine."""
        return self._plan(sql, _param_values(params), self._options)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run ``sql`` and return the whole result."""
        return self._collect("execute", sql, _param_values(params), self._options)

    def execute_prepared(self, name: str, *params: Any) -> pa.Table:
        """Run the profile's prepared statement ``name`` with ``$1``, ``$2``... bound to ``params``.

        Prepared statements are declared by the profile's author, so they run whatever the
        policy says of statements (``EXECUTE``) and of what they do.
        """
        declared = self._profile.prepared.get(name)
        if declared is None:
            known = ", ".join(sorted(self._profile.prepared)) or "none"
            raise QueryError(
                f"no prepared statement {name!r} in the profile (declared: {known}); "
                f"add a [prepared.{name}] section with its sql and params"
            )
        types = declared.params
        if len(params) != len(types):
            raise QueryError(
                f"prepared statement {name!r} takes {len(types)} parameter(s) "
                f"({', '.join(map(str, types))}), got {len(params)}"
            )
        values: dict[str, Any] = {}
        for position, value in enumerate(params, start=1):
            expected = types[position - 1]
            if (
                pa.types.is_integer(expected)
                and isinstance(value, float)
                and not value.is_integer()
            ):
                raise QueryError(
                    f"prepared statement {name!r}: parameter ${position} must be {expected} "
                    f"(prepared.{name}.params), got {value!r}, which is not a whole number"
                )
            try:
                values[str(position)] = pa.scalar(value, type=expected)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise QueryError(
                    f"prepared statement {name!r}: parameter ${position} must be "
                    f"{types[position - 1]} (prepared.{name}.params), got {value!r}: {exc}"
                ) from exc
        return self._collect(f"prepared:{name}", declared.sql, values, None)

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.RecordBatchReader:
        """Run ``sql`` and return its batches as they come, never holding the whole result.

        Planning errors raise here; execution errors raise while reading. The query's span
        ends when the reader is exhausted or dropped (``del reader``), which also frees the
        engine's stream.
        """
        context = contextvars.copy_context()
        batches = self._stream_batches(sql, _param_values(params))
        schema = cast(pa.Schema, context.run(next, batches))
        return pa.RecordBatchReader.from_batches(schema, _InContext(context, batches))

    def explain(
        self,
        sql: str,
        *,
        analyze: bool = False,
        format: str = "indent",
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """The plan of ``sql`` as text; ``analyze`` runs it and adds each operator's metrics."""
        if format not in EXPLAIN_FORMATS:
            raise QueryError(
                f"unknown explain format {format!r}; expected one of {', '.join(EXPLAIN_FORMATS)}"
            )
        head = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
        # indent is the default; DataFusion 54 refuses EXPLAIN ANALYZE with any FORMAT.
        prefix = f"{head} " if analyze and format == "indent" else f"{head} FORMAT {format} "
        with query_span(self._tracing, sql, {"dfsession.query.operation": "explain"}):
            try:
                table = self._run(prefix + sql, sql, _param_values(params), self._options)
            except QueryError as exc:
                raise _shift_columns(exc, len(prefix)) from exc.__cause__
        rows = table.to_pydict()
        plans = [(kind, plan.rstrip("\n")) for kind, plan in zip(*rows.values(), strict=True)]
        if len(plans) == 1:
            return str(plans[0][1])
        return "\n\n".join(f"{kind}:\n{plan}" for kind, plan in plans)

    def write(
        self,
        query: str | DataFrame | Any,
        target: str | os.PathLike[str],
        *,
        format: str,
        mode: str = "error",
        params: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        partition_by: Sequence[str] = (),
    ) -> WriteResult:
        """Write a query's result to ``target`` as parquet, csv, json or a Delta table.

        ``query`` is SQL (run under the policy), a DataFrame or an Arrow stream. ``mode`` is
        ``error`` (the target must not exist), ``append`` or ``overwrite``. A failed write
        leaves the target as it was: Delta commits nothing, and local files are written
        aside and moved into place only when complete. ``progress`` gets the rows written
        so far: after each batch for Delta, once at the end for files. A Delta table this
        session registered keeps the version it was opened at: build again to query new commits.
        ``partition_by`` names columns to partition by: a folder per value (``col=value/``,
        Hive style) for files, the table's partition columns for Delta.
        """
        if format not in WRITE_FORMATS:
            raise QueryError(
                f"unknown write format {format!r}; expected one of {', '.join(WRITE_FORMATS)}"
            )
        if mode not in WRITE_MODES:
            raise QueryError(
                f"unknown write mode {mode!r}; expected one of {', '.join(WRITE_MODES)}"
            )
        if params is not None and not isinstance(query, str):
            raise TypeError("params bind placeholders in SQL text; this query is not SQL text")
        partitions = tuple(partition_by)
        sql = query if isinstance(query, str) else f"<{type(query).__name__}>"
        location = _write_target(os.fspath(target))
        self._refuse_dataset_location(location)
        if format == "delta" and mode == "error":
            refuse_existing_folder(location)
        attributes = {
            "dfsession.query.operation": "write",
            "dfsession.write.format": format,
            "dfsession.write.mode": mode,
        }
        started = time.perf_counter()
        with query_span(self._tracing, sql, attributes) as span:
            if isinstance(query, str):
                query = self._plan(query, _param_values(params), self._options)
            if not self._profile.sql_policy.allow_dml:
                raise SqlPolicyError(
                    f"the profile's sql_policy does not allow writing data (DML: {format} write to "
                    f"{location.redacted()!r}); set sql_policy.allow_dml = true to allow it",
                    kind="DML",
                    statement=f"write {format}",
                    field="sql_policy.allow_dml",
                    query=sql,
                )
            _check_partition_columns(query, partitions, plain_names=format != "delta")
            if format == "delta":
                result, df = self._write_delta(
                    query, location, mode, sql, progress, partition_by=partitions
                )
            else:
                result, df = self._write_files(
                    query, location, format, mode, sql, partition_by=partitions
                )
            if progress is not None:
                progress(result.rows)
            self._account(span, "write", sql, rows=result.rows, df=df, started=started)
        return result

    # -- running -------------------------------------------------------------------------

    def _error(
        self,
        exc: BaseException,
        sql: str,
        values: Mapping[str, Any] | None = None,
        df: DataFrame | None = None,
    ) -> DfSessionError:
        """``query_error`` with what this session knows: its stores, context and profile."""
        return query_error(
            exc,
            sql,
            self._profile,
            stores=self._stores,
            ctx=self._ctx,
            params=values,
            df=df,
            faults=self._faults,
        )

    @contextmanager
    def _engine_errors(
        self, sql: str, values: Mapping[str, Any] | None = None, df: DataFrame | None = None
    ) -> Iterator[None]:
        """Engine failures in the block, panics included, raise as ``_error`` makes them.

        ``KeyboardInterrupt`` and ``SystemExit`` pass as they are. An error whose cause is set
        (a Python function's exception) keeps it; any other is chained to the engine's error.
        """
        try:
            yield
        except BaseException as exc:
            if not is_engine_failure(exc):
                raise
            error = self._error(exc, sql, values, df)
            if error is exc:
                raise
            raise error from (error.__cause__ if error.__suppress_context__ else exc)

    def _plan(
        self, sql: str, values: dict[str, Any] | None, options: SQLOptions | None
    ) -> DataFrame:
        with self._engine_errors(sql, values):
            df = self._ctx.sql(sql, options=options, param_values=values)
        if options is not None:
            self._check_what_runs(df, sql, values)
        return df

    def _check_what_runs(self, df: DataFrame, sql: str, values: dict[str, Any] | None) -> None:
        """Refuse a plan the policy forbids though the engine let its statement through.

        The engine checks the statement it parsed: for ``EXECUTE name(...)`` that is the
        ``Execute`` statement, and the DataFrame it returns runs the prepared plan (say an
        INSERT) on collect. A statement's policy is the policy of what it runs.
        """
        found = forbidden_plan(df.logical_plan(), self._profile.sql_policy)
        if found is None:
            return
        kind, statement = found
        field = f"sql_policy.{_POLICY_FIELDS[kind]}"
        label = "statement" if kind == "Statement" else kind
        name = self._prepared_name(sql, values)
        what = "a prepared statement" if name is None else f"prepared statement {name!r}"
        declared = (
            f", or run it with execute_prepared({name!r}, ...), which runs the statements "
            "the profile declares whatever the policy says"
            if name in self._profile.prepared
            else ""
        )
        raise SqlPolicyError(
            f"the profile's sql_policy does not allow this {label}: {what} runs {statement}; "
            f"set {field} = true in the profile to allow it{declared}"
            f"\n  query: {_cut(sql, MAX_SQL_IN_MESSAGE)}",
            kind=label,
            statement=statement,
            field=field,
            query=sql,
        )

    def _prepared_name(self, sql: str, values: dict[str, Any] | None) -> str | None:
        """The name ``sql`` executes, read by the engine's parser from ``EXPLAIN sql``."""
        try:
            plan = self._ctx.sql(f"EXPLAIN {sql}", param_values=values).logical_plan()
            execute = plan.inputs()[0].to_variant()
        except Exception:  # the message then says "a prepared statement"
            return None
        return str(execute.name()) if isinstance(execute, Execute) else None

    def _run(
        self, statement: str, sql: str, values: dict[str, Any] | None, options: SQLOptions | None
    ) -> pa.Table:
        with self._engine_errors(sql, values):
            df = self._ctx.sql(statement, options=options, param_values=values)
        with self._engine_errors(sql, values, df):
            return df.to_arrow_table()

    def _collect(
        self, operation: str, sql: str, values: dict[str, Any] | None, options: SQLOptions | None
    ) -> pa.Table:
        started = time.perf_counter()
        with query_span(self._tracing, sql, {"dfsession.query.operation": operation}) as span:
            df = self._plan(sql, values, options)
            with self._engine_errors(sql, values, df):
                table = df.to_arrow_table()
            self._account(span, operation, sql, rows=table.num_rows, df=df, started=started)
        return table

    def _stream_batches(
        self, sql: str, values: dict[str, Any] | None
    ) -> Generator[pa.Schema | pa.RecordBatch, None, None]:
        """Yield the schema once planned and started, then each batch; account at the end."""
        started = time.perf_counter()
        with query_span(self._tracing, sql, {"dfsession.query.operation": "stream"}) as span:
            df = self._plan(sql, values, self._options)
            with self._engine_errors(sql, values, df):
                schema = df.schema()
            batches = self._result_batches(df, sql, values)
            rows, closed = 0, False
            try:
                yield schema
            except GeneratorExit:  # the reader was dropped before its first batch
                self._account(span, "stream", sql, rows=0, df=df, started=started, closed=True)
                return
            try:
                for batch in batches:
                    rows += batch.num_rows
                    yield batch
            except GeneratorExit:  # the reader was closed before the end
                closed = True
            self._account(
                span,
                "stream",
                sql,
                rows=rows,
                df=df,
                started=started,
                closed=closed,
            )

    def _result_batches(
        self, df: DataFrame, sql: str, values: dict[str, Any] | None
    ) -> Iterator[pa.RecordBatch]:
        """The result's batches, streamed from the engine; on a cluster, collected there.

        A Ballista DataFrame's stream runs the query in this process, so there the batches
        come from ``collect``, which runs it on the cluster.
        """
        with self._engine_errors(sql, values, df):
            if self._cluster:
                return iter(df.collect())
            stream = df.execute_stream()
        return _engine_batches(stream, lambda: self._engine_errors(sql, values, df))

    def _account(
        self,
        span: Any,
        operation: str,
        sql: str,
        *,
        rows: int,
        df: DataFrame | None,
        started: float,
        closed: bool = False,
    ) -> None:
        """Put the run's metrics on its span and log them; skipped when nobody would see them."""
        if span is None and not _logs_info():
            return
        metrics = plan_metrics(df) if df is not None else PlanMetrics()
        set_query_metrics(
            span,
            rows=rows,
            elapsed_compute=metrics.elapsed_compute_ns,
            spill_count=metrics.spill_count,
            spilled_bytes=metrics.spilled_bytes,
        )
        compute = metrics.elapsed_compute_ns
        log.info(
            "dfsession.query",
            operation=operation,
            rows=rows,
            duration_ms=round((time.perf_counter() - started) * 1000.0, 3),
            elapsed_compute_ms=None if compute is None else round(compute / 1e6, 3),
            spill_count=metrics.spill_count,
            spilled_bytes=metrics.spilled_bytes,
            closed_early=closed,
            sql=_cut(sql, MAX_SQL_IN_LOG),
        )

    # -- writing -------------------------------------------------------------------------

    def _write_delta(
        self,
        query: Any,
        target: Location,
        mode: str,
        sql: str,
        progress: ProgressCallback | None,
        *,
        partition_by: tuple[str, ...] = (),
    ) -> tuple[WriteResult, DataFrame | None]:
        self._guard.check(DELTALAKE, required=True)
        counter = _Counter(progress)
        df: DataFrame | None = None
        if isinstance(query, DataFrame):
            df = query
            batches = self._result_batches(df, sql, None)
            schema = df.schema()
        elif hasattr(query, "__arrow_c_stream__"):
            # A pyarrow reader is read as it is: it raises its source's own exceptions.
            reader = (
                query
                if isinstance(query, pa.RecordBatchReader)
                else pa.RecordBatchReader.from_stream(query)
            )
            schema, batches = reader.schema, iter(reader)
        else:
            raise TypeError(
                f"write() takes SQL text, a datafusion DataFrame or an Arrow stream "
                f"(got {type(query).__name__})"
            )
        uri, storage_options = self._delta_target(target)
        try:
            table = open_latest(uri, storage_options)
            if mode == "append" and table is not None:
                check_append_schema(target, table, schema)
        except OSError as exc:  # the store refused: deltalake's own error, unscrubbed
            what = f"Delta write to {target.text!r} (mode {mode!r})"
            raise self._write_failed(what, "nothing was written", exc, sql) from exc
        data = pa.RecordBatchReader.from_batches(schema, counter.count(batches))
        folder = self._stores.local_path(target)
        before = FolderState.of(Path(folder)) if folder is not None else None
        with self._delta_writes.running(uri):
            try:
                version = write_delta(
                    table,
                    uri,
                    data,
                    storage_options=storage_options,
                    mode=mode,
                    partition_by=partition_by,
                )
            except BaseException as exc:
                left = self._delta_writes.put_back(before, uri, storage_options, counter.rows)
                cause = counter.error if counter.error is not None else exc
                if not isinstance(cause, Exception):  # KeyboardInterrupt, SystemExit
                    raise cause from None
                if isinstance(cause, SqlPolicyError):
                    raise cause from exc
                failure = self._delta_failed(target, mode, sql, error=exc, cause=cause, left=left)
                raise failure from cause
        return WriteResult(target.text, "delta", mode, counter.rows, version, partition_by), df

    def _delta_failed(
        self,
        target: Location,
        mode: str,
        sql: str,
        *,
        error: BaseException,
        cause: Exception,
        left: str,
    ) -> QueryError:
        """The error of a failed Delta write: the table's state, and what to do."""
        uri, storage_options = self._delta_target(target)
        previous = table_version(uri, storage_options)
        state = (
            "no table was created"
            if previous is None
            else f"nothing was committed; the table stays at version {previous}"
        )
        hint = (
            "; use mode='append' or mode='overwrite' to write to an existing table"
            if mode == "error" and "already exists" in str(error)
            else ""
        )
        what = f"Delta write to {target.text!r} (mode {mode!r})"
        return self._write_failed(what, state, cause, sql, hint=hint + left)

    def _write_failed(
        self, what: str, state: str, cause: BaseException, sql: str, *, hint: str = ""
    ) -> QueryError:
        translated = self._error(cause, sql)
        reason = (
            translated.engine_message if isinstance(translated, QueryError) else str(translated)
        )
        memory = _memory_hint(self._profile) if _OUT_OF_MEMORY in reason else ""
        error = QueryError(
            f"{what} failed, {state}: {reason or type(cause).__name__}{hint}"
            f"\n  query: {_cut(sql, MAX_SQL_IN_MESSAGE)}{memory}",
            query=sql,
            engine_message=reason,
        )
        return error

    def _refuse_dataset_location(self, target: Location) -> None:
        """Writing files where a registered dataset reads would leave it stale or broken.

        The engine caches the file listing of a registered table, so files written into (or
        removed from) its folder are not seen, and an overwrite breaks its next scan.
        """
        written = Path(self._stores.local_path(target) or target.text)
        for name, dataset in self._profile.datasets.items():
            if not isinstance(dataset, FileDataset):
                continue
            read = self._stores.local_path(dataset.location)
            if read is None:
                continue
            source = Path(read).absolute()
            target_path = written.absolute()
            if (
                source == target_path
                or target_path.is_relative_to(source)
                or (source.is_relative_to(target_path))
            ):
                raise QueryError(
                    f"write target {target.redacted()!r} overlaps dataset {name!r} "
                    f"({dataset.location.redacted()!r}), which this session has "
                    "registered: the engine caches its file listing, so the table would not see "
                    "the new files (or break, on overwrite); write elsewhere, or write there "
                    "from another session and build this one again",
                    query=target.text,
                )

    def _delta_target(self, target: Location) -> tuple[str, dict[str, str] | None]:
        """The URI deltalake writes for ``target``, with the options of the store it lies in."""
        return self._stores.delta_uri(target), self._stores.storage_options(target)

    def _write_files(
        self,
        query: Any,
        target: Location,
        format: str,
        mode: str,
        sql: str,
        *,
        partition_by: tuple[str, ...] = (),
    ) -> tuple[WriteResult, DataFrame | None]:
        if not isinstance(query, DataFrame) and not hasattr(query, "__arrow_c_stream__"):
            raise TypeError(
                f"write() takes SQL text, a datafusion DataFrame or an Arrow stream "
                f"(got {type(query).__name__})"
            )
        if target.file_path is None:
            if self._cluster:
                raise QueryError(
                    f"cannot write {format} files to {target.redacted()!r} from a Ballista "
                    "engine: the executors write them, and object stores do not reach the "
                    "cluster; write to a path every executor sees, or format='delta' (the "
                    "client writes Delta tables)"
                )
            if mode != "append":
                raise QueryError(
                    f"mode {mode!r} is not available for {format} files in an object store "
                    f"({target.text!r}): DataFusion only adds files there; use mode='append', or "
                    "format='delta' for atomic overwrites"
                )
            rows = self._copy(query, target.text, format, sql, partition_by)
            return WriteResult(target.text, format, mode, rows, partition_by=partition_by), None
        local = LocalWrite(Path(target.file_path), format, mode)
        if partition_by and local.single_file:
            raise QueryError(
                f"partitioned writes make a folder of partitions, and {target.text!r} names one "
                f"file; give a folder target (without the .{format} extension)"
            )
        try:
            rows = local.run(
                lambda destination: self._copy(query, destination, format, sql, partition_by)
            )
        except QueryError as exc:
            if not exc.query:  # a refusal of the target itself, with its own message
                raise
            what = f"writing {format} to {target.text!r} (mode {mode!r})"
            raise self._write_failed(what, "the target was left as it was", exc, sql) from exc
        return WriteResult(target.text, format, mode, rows, partition_by=partition_by), None

    def _copy(
        self,
        source: Any,
        destination: str,
        format: str,
        sql: str,
        partition_by: tuple[str, ...] = (),
    ) -> int:
        """``COPY`` a DataFrame or Arrow stream (as a temporary table) to ``destination``.

        Returns the rows written. An Arrow stream is read into memory first. ``partition_by``
        columns are known to be plain identifiers (``_check_partition_columns``).
        """
        view = f"__dfsession_write_{uuid.uuid4().hex}"
        statement = copy_statement(view, destination, format, partition_by)
        try:
            with self._engine_errors(sql):
                if isinstance(source, DataFrame) and self._cluster:
                    # A cluster can read a view (a plan), not a DataFrame's table provider.
                    self._ctx.register_view(view, source)
                elif isinstance(source, DataFrame):
                    self._ctx.register_table(view, source.into_view(temporary=True))
                elif self._cluster:
                    raise QueryError(
                        "an Arrow stream cannot be written from a Ballista engine: it would be "
                        "an in-memory table of this process, which a cluster cannot read; "
                        "write SQL text or a DataFrame of the session"
                    )
                elif isinstance(source, pa.RecordBatchReader):  # raises its source's exceptions
                    self._ctx.from_arrow(source.read_all(), name=view)
                else:
                    self._ctx.from_arrow(source, name=view)
                table = self._ctx.sql(statement).to_arrow_table()
        finally:
            self._ctx.deregister_table(view)
        return int(table.column(0)[0].as_py()) if table.num_rows else 0


def _logs_info() -> bool:
    """Whether the application's structlog configuration keeps info events."""
    enabled = getattr(log.bind(), "is_enabled_for", None)
    return enabled is None or bool(enabled(logging.INFO))


class _InContext:
    """Advances a generator inside ``context``, so its span never becomes the reader's current.

    Closing (or dropping) it closes the generator in that context too, even before its first
    batch was read.
    """

    __slots__ = ("_batches", "_context")

    def __init__(self, context: contextvars.Context, batches: Generator[Any, None, None]) -> None:
        self._context = context
        self._batches: Generator[Any, None, None] | None = batches

    def __iter__(self) -> _InContext:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self._batches is None:
            raise StopIteration
        try:
            return self._context.run(next, self._batches)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        """Close the generator (ending the query's span) in its own context; idempotent."""
        batches, self._batches = self._batches, None
        if batches is not None:
            self._context.run(batches.close)

    def __del__(self) -> None:
        self.close()


def _engine_batches(
    stream: Any, engine_errors: Callable[[], AbstractContextManager[None]]
) -> Iterator[pa.RecordBatch]:
    """pyarrow batches from a DataFusion stream; ``engine_errors()`` makes engine errors ours."""
    iterator = iter(stream)
    while True:
        with engine_errors():
            batch = next(iterator, None)
        if batch is None:
            return
        yield batch.to_pyarrow()


class _Counter:
    """Counts rows passing to a writer and keeps the error the source raised, if any."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.rows = 0
        self.error: BaseException | None = None
        self._progress = progress

    def count(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Pass ``batches`` through, counting; remember a failure before re-raising it."""
        try:
            for batch in batches:
                self.rows += batch.num_rows
                if self._progress is not None:
                    self._progress(self.rows)
                yield batch
        except GeneratorExit:  # the writer stopped reading: not the source's failure
            raise
        except BaseException as exc:  # KeyboardInterrupt too: the writer would hide it
            self.error = exc
            raise


_PLAIN_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_partition_columns(
    query: Any, partition_by: tuple[str, ...], *, plain_names: bool
) -> None:
    """Each partition column must be a column of the result; a plain name if ``plain_names``.

    File writes need plain names: ``COPY ... PARTITIONED BY`` takes them as written, unquoted.
    """
    if not partition_by:
        return
    schema = query.schema() if isinstance(query, DataFrame) else None
    names = [] if schema is None else schema.names
    for column in partition_by:
        if schema is not None and column not in names:
            raise QueryError(
                f"partition column {column!r} is not a column of the result (columns: "
                f"{', '.join(names)}); name one of them, spelled as in the result"
            )
        if plain_names and not _PLAIN_IDENTIFIER.fullmatch(column):
            raise QueryError(
                f"partition column {column!r} must be a plain name (letters, digits and _); "
                "rename it in the query (SELECT ... AS part)"
            )


def _write_target(text: str) -> Location:
    """A write target parsed as a location; credentials in a URL are refused, unechoed."""
    try:
        return Location.parse(text)
    except ValueError as exc:
        shown = redact_url(text)
        raise QueryError(f"write target {shown!r}: {exc}", query=shown) from None
