"""The query facade: run SQL on a built session under the profile's SQL policy.

Every statement goes through ``SessionContext.sql`` with the policy's ``SQLOptions`` and
engine-bound parameters (``param_values``), so values are never pasted into SQL text. Engine
errors become ``QueryError`` (or ``SqlPolicyError``) carrying the engine's words and the query.
Each query gets a ``dfsession.query`` span when the session has a tracer, and one structlog
event with its rows, compute time and spills.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import attrs
import pyarrow as pa
from datafusion import DataFrame, SessionContext, SQLOptions

from dfsession.errors import DfSessionError, QueryError, SchemaMismatchError, SqlPolicyError
from dfsession.locations import ObjectStores, delta_target, local_path, redact_location
from dfsession.logs import get_logger
from dfsession.profile.model import SessionProfile
from dfsession.schemas import schema_differences
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
_COPY_FORMATS = {"parquet": "PARQUET", "csv": "CSV", "json": "JSON"}
_COPY_OPTIONS = {"csv": " OPTIONS ('format.has_header' 'true')"}

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


def query_error(exc: BaseException, sql: str, profile: SessionProfile) -> DfSessionError:
    """The dfsession error for an engine failure of ``sql``: policy refusal, memory, or other."""
    if isinstance(exc, DfSessionError):
        return exc
    message = str(exc).strip()
    shown = _cut(sql, MAX_SQL_IN_MESSAGE)
    refusal = _POLICY_REFUSAL.search(message)
    if refusal is not None:
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
    hint = _memory_hint(profile) if _OUT_OF_MEMORY in message else ""
    return QueryError(f"{message}\n  query: {shown}{hint}", query=sql, engine_message=message)


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

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form."""
        return attrs.asdict(self)


class Queries:
    """Runs queries on a session's context under its profile's SQL policy."""

    __slots__ = ("_ctx", "_options", "_profile", "_stores", "_tracing")

    def __init__(
        self,
        ctx: SessionContext,
        profile: SessionProfile,
        *,
        stores: ObjectStores | None = None,
        tracing: SessionTracing | None = None,
    ) -> None:
        policy = profile.sql_policy
        self._ctx = ctx
        self._profile = profile
        self._stores = stores if stores is not None else ObjectStores()
        #: Where query spans go; ``None``: queries get no span.
        self._tracing = tracing
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
        prefix = f"{head} FORMAT {format} "
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
    ) -> WriteResult:
        """Write a query's result to ``target`` as parquet, csv, json or a Delta table.

        ``query`` is SQL (run under the policy), a DataFrame or an Arrow stream. ``mode`` is
        ``error`` (the target must not exist), ``append`` or ``overwrite``. A failed write
        leaves the target as it was: Delta commits nothing, and local files are written
        aside and moved into place only when complete. ``progress`` gets the rows written
        so far: after each batch for Delta, once at the end for files. A Delta table this
        session registered keeps the version it was opened at: build again to query new commits.
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
        sql = query if isinstance(query, str) else f"<{type(query).__name__}>"
        location = os.fspath(target)
        self._refuse_dataset_location(location)
        if format == "delta" and mode == "error":
            _refuse_existing_folder(location)
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
                    f"{redact_location(location)!r}); set sql_policy.allow_dml = true to allow it",
                    kind="DML",
                    statement=f"write {format}",
                    field="sql_policy.allow_dml",
                    query=sql,
                )
            if format == "delta":
                result, df = self._write_delta(query, location, mode, sql, progress)
            else:
                result, df = self._write_files(query, location, format, mode, sql)
            if progress is not None:
                progress(result.rows)
            self._account(span, "write", sql, rows=result.rows, df=df, started=started)
        return result

    # -- running -------------------------------------------------------------------------

    def _plan(
        self, sql: str, values: dict[str, Any] | None, options: SQLOptions | None
    ) -> DataFrame:
        try:
            return self._ctx.sql(sql, options=options, param_values=values)
        except Exception as exc:
            raise query_error(exc, sql, self._profile) from exc

    def _run(
        self, statement: str, sql: str, values: dict[str, Any] | None, options: SQLOptions | None
    ) -> pa.Table:
        try:
            return self._ctx.sql(statement, options=options, param_values=values).to_arrow_table()
        except Exception as exc:
            raise query_error(exc, sql, self._profile) from exc

    def _collect(
        self, operation: str, sql: str, values: dict[str, Any] | None, options: SQLOptions | None
    ) -> pa.Table:
        started = time.perf_counter()
        with query_span(self._tracing, sql, {"dfsession.query.operation": operation}) as span:
            df = self._plan(sql, values, options)
            try:
                table = df.to_arrow_table()
            except Exception as exc:
                raise query_error(exc, sql, self._profile) from exc
            self._account(span, operation, sql, rows=table.num_rows, df=df, started=started)
        return table

    def _stream_batches(
        self, sql: str, values: dict[str, Any] | None
    ) -> Generator[pa.Schema | pa.RecordBatch, None, None]:
        """Yield the schema once planned and started, then each batch; account at the end."""
        started = time.perf_counter()
        with query_span(self._tracing, sql, {"dfsession.query.operation": "stream"}) as span:
            df = self._plan(sql, values, self._options)
            try:
                schema = df.schema()
                stream = df.execute_stream()
            except Exception as exc:
                raise query_error(exc, sql, self._profile) from exc
            rows, closed = 0, False
            try:
                yield schema
            except GeneratorExit:  # the reader was dropped before its first batch
                self._account(span, "stream", sql, rows=0, df=df, started=started, closed=True)
                return
            try:
                for batch in _engine_batches(stream, sql, self._profile):
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
        self, query: Any, target: str, mode: str, sql: str, progress: ProgressCallback | None
    ) -> tuple[WriteResult, DataFrame | None]:
        from deltalake import DeltaTable, write_deltalake  # noqa: PLC0415 - loaded only for Delta (import cost)

        counter = _Counter(progress)
        df: DataFrame | None = None
        if isinstance(query, DataFrame):
            df = query
            try:
                stream = df.execute_stream()
            except Exception as exc:
                raise query_error(exc, sql, self._profile) from exc
            schema, batches = df.schema(), _engine_batches(stream, sql, self._profile)
        elif hasattr(query, "__arrow_c_stream__"):
            reader = pa.RecordBatchReader.from_stream(query)
            schema, batches = reader.schema, iter(reader)
        else:
            raise TypeError(
                f"write() takes SQL text, a datafusion DataFrame or an Arrow stream "
                f"(got {type(query).__name__})"
            )
        uri, storage_options = self._delta_target(target)
        if mode == "append":
            _check_append_schema(target, uri, storage_options, schema)
        data = pa.RecordBatchReader.from_batches(schema, counter.count(batches))
        try:
            if mode == "overwrite":
                write_deltalake(uri, data, mode="overwrite", storage_options=storage_options)
            else:
                write_deltalake(
                    uri,
                    data,
                    mode="append" if mode == "append" else "error",
                    storage_options=storage_options,
                )
        except Exception as exc:
            cause = counter.error if counter.error is not None else exc
            if isinstance(cause, SqlPolicyError):
                raise cause from exc
            previous = _delta_version(uri, storage_options)
            state = (
                "no table was created"
                if previous is None
                else f"nothing was committed; the table stays at version {previous}"
            )
            hint = (
                "; use mode='append' or mode='overwrite' to write to an existing table"
                if mode == "error" and "already exists" in str(exc)
                else ""
            )
            what = f"Delta write to {target!r} (mode {mode!r})"
            raise self._write_failed(what, state, cause, sql, hint=hint) from cause
        version = DeltaTable(uri, storage_options=storage_options).version()
        return WriteResult(target, "delta", mode, counter.rows, version), df

    def _write_failed(
        self, what: str, state: str, cause: BaseException, sql: str, *, hint: str = ""
    ) -> QueryError:
        reason = cause.engine_message if isinstance(cause, QueryError) else str(cause).strip()
        memory = _memory_hint(self._profile) if _OUT_OF_MEMORY in reason else ""
        error = QueryError(
            f"{what} failed, {state}: {reason or type(cause).__name__}{hint}"
            f"\n  query: {_cut(sql, MAX_SQL_IN_MESSAGE)}{memory}",
            query=sql,
            engine_message=reason,
        )
        return error

    def _refuse_dataset_location(self, target: str) -> None:
        """Writing files where a registered dataset reads would leave it stale or broken.

        The engine caches the file listing of a registered table, so files written into (or
        removed from) its folder are not seen, and an overwrite breaks its next scan.
        """
        written = Path(local_path(target, self._stores) or target)
        for name, dataset in self._profile.datasets.items():
            if dataset.format == "delta":
                continue
            read = local_path(dataset.location, self._stores)
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
                    f"write target {redact_location(target)!r} overlaps dataset {name!r} "
                    f"({redact_location(dataset.location)!r}), which this session has "
                    "registered: the engine caches its file listing, so the table would not see "
                    "the new files (or break, on overwrite); write elsewhere, or write there "
                    "from another session and build this one again",
                    query=target,
                )

    def _delta_target(self, target: str) -> tuple[str, dict[str, str] | None]:
        """The URI deltalake writes for ``target``, with the options of the store it lies in."""
        return delta_target(target, self._stores)

    def _write_files(
        self, query: Any, target: str, format: str, mode: str, sql: str
    ) -> tuple[WriteResult, DataFrame | None]:
        if not isinstance(query, DataFrame) and not hasattr(query, "__arrow_c_stream__"):
            raise TypeError(
                f"write() takes SQL text, a datafusion DataFrame or an Arrow stream "
                f"(got {type(query).__name__})"
            )
        if "://" in target and not target.startswith("file://"):
            if mode != "append":
                raise QueryError(
                    f"mode {mode!r} is not available for {format} files in an object store "
                    f"({target!r}): DataFusion only adds files there; use mode='append', or "
                    "format='delta' for atomic overwrites"
                )
            rows = self._copy(query, target, format, sql)
            return WriteResult(target, format, mode, rows), None
        try:
            rows = _LocalWrite(Path(target.removeprefix("file://")), format, mode).run(
                lambda destination: self._copy(query, destination, format, sql)
            )
        except QueryError as exc:
            if not exc.query:  # a refusal of the target itself, with its own message
                raise
            what = f"writing {format} to {target!r} (mode {mode!r})"
            raise self._write_failed(what, "the target was left as it was", exc, sql) from exc
        return WriteResult(target, format, mode, rows), None

    def _copy(self, source: Any, destination: str, format: str, sql: str) -> int:
        """``COPY`` a DataFrame or Arrow stream (as a temporary table) to ``destination``.

        Returns the rows written. An Arrow stream is read into memory first.
        """
        view = f"__dfsession_write_{uuid.uuid4().hex}"
        literal = "'" + destination.replace("'", "''") + "'"
        statement = (
            f'COPY (SELECT * FROM "{view}") TO {literal} '
            f"STORED AS {_COPY_FORMATS[format]}{_COPY_OPTIONS.get(format, '')}"
        )
        try:
            if isinstance(source, DataFrame):
                self._ctx.register_table(view, source.into_view(temporary=True))
            else:
                self._ctx.from_arrow(source, name=view)
            table = self._ctx.sql(statement).to_arrow_table()
        except Exception as exc:
            raise query_error(exc, sql, self._profile) from exc
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


def _engine_batches(stream: Any, sql: str, profile: SessionProfile) -> Iterator[pa.RecordBatch]:
    """pyarrow batches from a DataFusion stream; engine errors become dfsession errors."""
    iterator = iter(stream)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            raise query_error(exc, sql, profile) from exc
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
        except Exception as exc:
            self.error = exc
            raise


def _refuse_existing_folder(target: str) -> None:
    """Mode ``error`` creates a Delta table: not inside a local folder that holds other files."""
    path = Path(target.removeprefix("file://"))
    if "://" in target and not target.startswith("file://"):
        return  # remote: deltalake itself refuses an existing table
    if path.is_dir() and any(path.iterdir()) and not (path / "_delta_log").exists():
        raise QueryError(
            f"write target {target!r} is a folder that already holds files (not a Delta table); "
            "write to a new or empty folder",
            query=target,
        )


def _check_append_schema(
    target: str, uri: str, storage_options: dict[str, str] | None, incoming: pa.Schema
) -> None:
    """An append must match the table's columns: deltalake would cast silently (1.9 -> 1)."""
    from deltalake import DeltaTable  # noqa: PLC0415 - loaded only for Delta (import cost)
    from deltalake.exceptions import TableNotFoundError  # noqa: PLC0415 - loaded only for Delta (import cost)

    try:
        table = DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        return  # append to a missing table creates it
    expected = pa.schema(table.schema().to_arrow())
    differences = schema_differences(expected, incoming, "exact")
    if differences:
        lines = "\n".join(f"  {line}" for line in differences)
        raise SchemaMismatchError(
            f"Delta append to {redact_location(target)!r}: the data does not match the table's "
            f"columns, nothing was written:\n{lines}\ncast the query's columns to the table's "
            "types, or write with mode='overwrite' to replace the table",
            dataset=target,
            differences=differences,
        )


def _delta_version(target: str, storage_options: dict[str, str] | None) -> int | None:
    from deltalake import DeltaTable  # noqa: PLC0415 - loaded only for Delta (import cost)

    try:
        version: int = DeltaTable(target, storage_options=storage_options).version()
    except Exception:
        return None
    return version


@attrs.frozen
class _LocalWrite:
    """Write local files aside, then move them into place: a failed write changes nothing.

    A target named with the format's extension (``out.parquet``) is one file; any other
    target is a directory of files. ``append`` adds files to a directory.
    """

    target: Path
    format: str
    mode: str

    @property
    def single_file(self) -> bool:
        """Whether the target names one file (by its extension) rather than a directory."""
        return self.target.suffix.lower() == f".{self.format}"

    def run(self, copy: Callable[[str], int]) -> int:
        """Check the mode against the target, write aside with ``copy``, move into place."""
        target = self.target
        exists = target.exists() or target.is_symlink()
        if self.mode == "error" and exists:
            raise QueryError(
                f"write target {str(target)!r} already exists; use mode='overwrite' to replace "
                "it or mode='append' to add files"
            )
        if self.mode == "append" and (self.single_file or (exists and not target.is_dir())):
            raise QueryError(
                f"mode 'append' adds files to a directory, and {str(target)!r} names a file; "
                f"give a directory target (without the .{self.format} extension)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        suffix = target.suffix if self.single_file else ""
        aside = target.parent / f".{target.stem}.dfsession-{token}{suffix}"
        try:
            rows = copy(str(aside) if self.single_file else f"{aside}/")
            if not self.single_file:
                aside.mkdir(exist_ok=True)  # the engine makes no directory for zero rows
            if self.mode == "append":
                self._move_files(aside, target)
            else:
                self._replace(aside, target, token)
        finally:
            _remove(aside)
        return rows

    @staticmethod
    def _move_files(source: Path, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(source.iterdir()):
            destination = target / file.name
            if destination.exists():
                destination = target / f"{uuid.uuid4().hex[:8]}-{file.name}"
            file.replace(destination)

    @staticmethod
    def _replace(source: Path, target: Path, token: str) -> None:
        if not (target.exists() or target.is_symlink()):
            source.rename(target)
            return
        if source.is_file() and target.is_file():
            source.replace(target)  # atomic for one file
            return
        old = target.parent / f".{target.name}.dfsession-old-{token}"
        target.rename(old)
        try:
            source.rename(target)
        except BaseException:
            old.rename(target)
            raise
        _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
