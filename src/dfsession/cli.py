"""The ``dfsession`` command line: plan, build, sql, exec, explain, write, validate, doctor,
report, diff, show and schema.

Results go to standard output; logs, progress and errors go to standard error. Exit status:
0 success, 1 a negative answer (validation failed, reports differ), 2 an error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import decimal
import json
import logging
import math
import os
import sys
import textwrap
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from dfsession._version import VERSION

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console
    from rich.progress import Progress

    from dfsession.profile.model import SessionProfile
    from dfsession.session import BuiltSession

# The commands import the library (DataFusion, pyarrow, the profile classes) when they run, so
# that ``--version`` and ``--help`` start in a fraction of the time.

__all__ = [
    "DEFAULT_MAX_ROWS",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NEGATIVE",
    "EXIT_OK",
    "Handler",
    "MAX_APPLIED_CHARS",
    "SQL_FORMATS",
    "build_parser",
    "cmd_build",
    "cmd_diff",
    "cmd_doctor",
    "cmd_explain",
    "cmd_plan",
    "cmd_report",
    "cmd_schema",
    "cmd_show",
    "cmd_sql",
    "cmd_validate",
    "cmd_write",
    "configure_logging",
    "main",
    "parse_param",
    "parse_setting",
]

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
#: Rows the ``table`` output format shows unless ``--max-rows`` says otherwise.
DEFAULT_MAX_ROWS = 100
#: Longest rendering of a step's ``applied`` mapping in the ``build`` table.
MAX_APPLIED_CHARS = 120
SQL_FORMATS = ("table", "csv", "jsonl", "parquet")
#: Width the longer descriptions of ``--help`` are wrapped to.
HELP_WIDTH = 88

Handler = Callable[[argparse.Namespace], int]
#: ``command(name, handler, summary, *examples, details=...)``: adds a subcommand's parser.
CommandFactory = Callable[..., argparse.ArgumentParser]


# -- output helpers ---------------------------------------------------------------------------


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _stdout_console() -> Console:
    from rich.console import Console  # noqa: PLC0415 - CLI start-up time

    if _is_terminal(sys.stdout):
        return Console(file=sys.stdout)
    # Not a terminal: no colour, and wide enough that tables are never folded.
    return Console(file=sys.stdout, width=1000, no_color=True, highlight=False)


def _progress_enabled() -> bool:
    """Progress is drawn only when both standard output and standard error are terminals."""
    return _is_terminal(sys.stdout) and _is_terminal(sys.stderr)


@contextlib.contextmanager
def _progress(description: str, unit: str) -> Iterator[Callable[[int], None]]:
    """A transient progress line on standard error; yields ``update(count)``."""
    if not _progress_enabled():
        yield lambda _count: None
        return
    from rich.console import Console  # noqa: PLC0415 - CLI start-up time
    from rich.progress import (  # noqa: PLC0415 - CLI start-up time
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress: Progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,.0f} " + unit),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=None)
        yield lambda count: progress.update(task, completed=count)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=_json_value) + "\n")


def _json_value(value: Any) -> Any:
    """JSON for the values Arrow hands back that ``json`` does not know."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _text(value: Any) -> Any:
    from rich.text import Text  # noqa: PLC0415 - CLI start-up time

    if value is None:
        return Text("NULL", style="dim")
    return Text(value if isinstance(value, str) else str(value))


# -- logging ----------------------------------------------------------------------------------


#: Events that only repeat the error the CLI prints itself: shown with ``--verbose`` only.
REPEATED_ERROR_EVENTS = frozenset({"dfsession.step.failed"})


def _drop_repeated_errors(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: drop the events in ``REPEATED_ERROR_EVENTS``."""
    import structlog  # noqa: PLC0415 - CLI start-up time

    if event.get("event") in REPEATED_ERROR_EVENTS:
        raise structlog.DropEvent
    return event


def configure_logging(verbose: bool) -> None:
    """structlog to standard error: warnings and above, or everything with ``--verbose``.

    Without ``--verbose`` an error is one line on standard error: the log events that merely
    announce it (``REPEATED_ERROR_EVENTS``) are dropped.
    """
    import structlog  # noqa: PLC0415 - CLI start-up time

    quiet: list[Any] = [] if verbose else [_drop_repeated_errors]
    structlog.configure(
        processors=[
            *quiet,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=_is_terminal(sys.stderr)),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.WARNING
        ),
        # Looked up on each call, so a progress display's stderr redirection is honoured.
        logger_factory=lambda *_args: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )


# -- commands ---------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> SessionProfile:
    """The profile the command names, with its ``--env`` and ``--set`` values."""
    pairs: list[tuple[str, Any]] = args.set or []
    keys = [key for key, _value in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f"--set {', '.join(twice)} given more than once; give each key once")
    from dfsession.profile.model import load_profile  # noqa: PLC0415 - CLI start-up time

    return load_profile(args.profile, env=args.env, overrides=dict(pairs) or None)


def _build(args: argparse.Namespace) -> BuiltSession:
    from dfsession.session import SessionContextBuilder  # noqa: PLC0415 - CLI start-up time

    profile = _load(args)
    with _progress("building session", "steps") as update:
        session = SessionContextBuilder(profile).build()
        update(len(session.records))
    return session


def _params(args: argparse.Namespace) -> dict[str, Any] | None:
    pairs: list[tuple[str, Any]] = args.param or []
    names = [name for name, _value in pairs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"--param {', '.join(twice)} given more than once; give each name once")
    return dict(pairs) if pairs else None


Statement = tuple[str, dict[str, Any] | None]


def _statements(args: argparse.Namespace) -> list[Statement]:
    """The SQL to run, statement by statement, each with the ``--param`` values it uses.

    The SQL is the query argument or ``--file`` (``-``: standard input), one statement or a
    script of several. A ``--param`` that no statement uses is an error naming it. Checked
    before the session is built.
    """
    from dfsession.sql_text import split_statements  # noqa: PLC0415 - CLI start-up time

    where = "the query" if args.file is None else f"--file {args.file}"
    statements = split_statements(_sql_text(args))
    if not statements:
        raise ValueError(f"{where} holds no SQL statement")
    return list(zip(statements, _bindings(_params(args), statements, where), strict=True))


def _sql_text(args: argparse.Namespace) -> str:
    if (args.query is None) == (args.file is None):
        raise ValueError(
            "give the SQL either as the query argument or with --file FILE "
            "(--file - reads standard input), not both"
            if args.query is not None
            else "no SQL: give a query argument, or --file FILE (--file - reads standard input)"
        )
    if args.query is not None:
        return str(args.query)
    return sys.stdin.read() if args.file == "-" else _read_text(args.file, "SQL file")


def _bindings(
    params: dict[str, Any] | None, statements: list[str], where: str
) -> list[dict[str, Any] | None]:
    """For each statement, the parameters it uses; every parameter must be used by one."""
    if params is None:
        return [None] * len(statements)
    from dfsession.sql_text import placeholders  # noqa: PLC0415 - CLI start-up time (sqlglot)

    used = [placeholders(sql) for sql in statements]
    if any(names is None for names in used):  # the tokenizer cannot read it: the engine judges
        return [params] * len(statements)
    found = set().union(*(names for names in used if names is not None))
    unused = [name for name in params if name not in found]
    if unused:
        listed = ", ".join(f"${name}" for name in sorted(found)) or "none"
        raise ValueError(
            f"--param {', '.join(unused)}: {where} has no "
            f"{', '.join(f'${name}' for name in unused)} placeholder (its placeholders: "
            f"{listed}); remove the --param or use the placeholder. In a shell, quote SQL "
            "with single quotes, or the shell replaces $name before dfsession sees it"
        )
    return [
        {name: value for name, value in params.items() if name in (names or ())} or None
        for names in used
    ]


def _run_leading(session: BuiltSession, statements: list[Statement]) -> Statement:
    """Run every statement but the last, in order, results dropped; return the last one."""
    *leading, last = statements
    for sql, params in leading:
        session.execute(sql, params)
    return last


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the steps in run order with what each requires and provides."""
    from dfsession.session import SessionContextBuilder  # noqa: PLC0415 - CLI start-up time

    steps = SessionContextBuilder(_load(args)).plan()
    rows = [
        {
            "step": step.name,
            "requires": sorted(step.requires),
            "provides": sorted(step.provides),
        }
        for step in steps
    ]
    if args.json:
        _print_json(rows)
        return EXIT_OK
    from rich.table import Table  # noqa: PLC0415 - CLI start-up time

    table = Table(title=f"plan for {args.profile}", title_justify="left")
    for column in ("#", "step", "requires", "provides"):
        table.add_column(column)
    for number, row in enumerate(rows, start=1):
        table.add_row(
            str(number),
            _text(row["step"]),
            _text(", ".join(row["requires"]) or "-"),
            _text(", ".join(row["provides"]) or "-"),
        )
    _stdout_console().print(table)
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    """Build the session; print a table of step records, or the report with ``--json``."""
    session = _build(args)
    if args.json:
        _print_json(session.report())
        return EXIT_OK
    from rich.table import Table  # noqa: PLC0415 - CLI start-up time

    table = Table(
        title=f"session {session.fingerprint[:12]} (runtime {session.runtime_hash[:12]})",
        title_justify="left",
    )
    table.add_column("step")
    table.add_column("status")
    table.add_column("ms", justify="right")
    table.add_column("applied", overflow="fold")
    for record in session.records:
        applied = json.dumps(dict(record.applied), default=_json_value, sort_keys=True)
        if len(applied) > MAX_APPLIED_CHARS:
            applied = applied[: MAX_APPLIED_CHARS - 3] + "..."
        table.add_row(
            _text(record.step), _text(record.status), f"{record.duration_ms:.3f}", _text(applied)
        )
    _stdout_console().print(table)
    return EXIT_OK


def cmd_sql(args: argparse.Namespace) -> int:
    """Run a query (or a script: its last statement's result); print it or save it to a file."""
    _check_output(args)
    statements = _statements(args)
    session = _build(args)
    sql, params = _run_leading(session, statements)
    return _output(args, session.stream(sql, params))


def _check_output(args: argparse.Namespace) -> None:
    if args.layout != "table" and args.format != "table":
        raise ValueError(
            f"--layout {args.layout} lays out the table format: drop --format or use --format table"
        )
    if args.format == "parquet" and args.output is None:
        raise ValueError("--format parquet writes a file: give --output FILE")
    if args.format == "table" and args.output is not None:
        raise ValueError("--output needs a file format: add --format csv, jsonl or parquet")


def _output(args: argparse.Namespace, reader: pa.RecordBatchReader) -> int:
    """Print ``reader`` as a table, or write it as CSV, JSON lines or Parquet."""
    if args.format == "table":
        return _print_rows(reader, args.max_rows, args.layout)
    with contextlib.ExitStack() as stack:
        sink: BinaryIO
        if args.output is None:
            sink = sys.stdout.buffer
        else:
            sink = stack.enter_context(_replace_when_complete(Path(args.output)))
        update = stack.enter_context(_progress("writing", "rows"))
        rows = _write_stream(reader, args.format, sink, update)
    if args.output is not None:
        print(f"wrote {rows:,} row{'' if rows == 1 else 's'} to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_exec(args: argparse.Namespace) -> int:
    """Run a prepared statement of the profile with its arguments; print or save the result."""
    _check_output(args)
    session = _build(args)
    table = session.execute_prepared(args.name, *args.args)
    return _output(args, table.to_reader())


@contextlib.contextmanager
def _replace_when_complete(target: Path) -> Iterator[BinaryIO]:
    """A file beside ``target`` that replaces it only if the block ends without an error.

    The folder of ``target`` is created when missing.
    """
    if target.is_dir():
        raise ValueError(f"--output {target} is a folder; name a file to write")
    for folder in target.parents:
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder} is a file, not a folder: cannot write --output {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as sink:
            yield sink
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _print_rows(reader: pa.RecordBatchReader, max_rows: int, layout: str) -> int:
    """Print up to ``max_rows`` rows as a table, or one block per row (``vertical``)."""
    names = reader.schema.names
    rows, more = _first_rows(reader, max_rows)
    if layout == "vertical":
        _print_vertical(names, rows)
    else:
        _print_table(names, rows)
    shown = len(rows)
    note = (
        f"first {shown} rows; there are more (use --max-rows N or --format csv)"
        if more
        else f"{shown} row{'' if shown == 1 else 's'}"
    )
    print(note, file=sys.stderr)
    return EXIT_OK


def _first_rows(reader: pa.RecordBatchReader, max_rows: int) -> tuple[list[tuple[Any, ...]], bool]:
    """Up to ``max_rows`` rows as tuples, and whether there were more; closes ``reader``."""
    rows: list[tuple[Any, ...]] = []
    for batch in reader:
        rows.extend(zip(*(column.to_pylist() for column in batch.columns), strict=True))
        if len(rows) > max_rows:
            break
    reader.close()
    return rows[:max_rows], len(rows) > max_rows


def _print_table(names: list[str], rows: list[tuple[Any, ...]]) -> None:
    from rich.table import Table  # noqa: PLC0415 - CLI start-up time

    table = Table()
    for name in names:
        table.add_column(_text(name), overflow="fold")
    for row in rows:
        table.add_row(*(_text(value) for value in row))
    _stdout_console().print(table)


def _print_vertical(names: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Each row as a block of ``column | value`` lines: readable however wide the result.

    A block opens with ``-[ RECORD n ]-``, dashed out to its longest line, as psql's ``\\x``.
    """
    width = max(map(len, names), default=0)
    indent = "\n" + " " * (width + 3)
    lines: list[str] = []
    for number, row in enumerate(rows, start=1):
        block = [
            f"{name.ljust(width)} | "
            + ("NULL" if value is None else str(value)).replace("\n", indent)
            for name, value in zip(names, row, strict=True)
        ]
        title = f"-[ RECORD {number} ]-"
        longest = max((len(line) for text in block for line in text.splitlines()), default=0)
        lines += [title.ljust(longest, "-"), *block]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


def _write_stream(
    reader: pa.RecordBatchReader, format: str, sink: BinaryIO, update: Callable[[int], None]
) -> int:
    """Write every batch of ``reader`` to ``sink``; the number of rows."""
    rows = 0
    if format == "csv":
        from pyarrow import csv  # noqa: PLC0415 - CLI start-up time

        schema = _without_views(reader.schema)
        with csv.CSVWriter(sink, schema) as writer:
            for batch in reader:
                writer.write_batch(batch.cast(schema))
                rows += batch.num_rows
                update(rows)
    elif format == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415 - CLI start-up time

        with pq.ParquetWriter(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
                update(rows)
    else:
        for batch in reader:
            lines = [
                json.dumps(_finite(row), default=_json_value, ensure_ascii=False, allow_nan=False)
                + "\n"
                for row in batch.to_pylist()
            ]
            sink.write("".join(lines).encode("utf-8"))
            rows += batch.num_rows
            update(rows)
    sink.flush()
    return rows


def _finite(value: Any) -> Any:
    """NaN and infinities as ``null``: JSON has no such numbers, and strict readers refuse them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _without_views(schema: pa.Schema) -> pa.Schema:
    """The schema with view types (DataFusion's ``Utf8View``) as plain ones, which CSV writes."""
    import pyarrow as pa  # noqa: PLC0415 - CLI start-up time

    def plain(type_: pa.DataType) -> pa.DataType:
        if pa.types.is_string_view(type_):
            return pa.string()
        if pa.types.is_binary_view(type_):
            return pa.binary()
        return type_

    return pa.schema([field.with_type(plain(field.type)) for field in schema])


def cmd_explain(args: argparse.Namespace) -> int:
    """Print a query's plan; ``--analyze`` runs it and adds each operator's metrics."""
    statements = _statements(args)
    session = _build(args)
    sql, params = _run_leading(session, statements)
    plan = session.explain(sql, analyze=args.analyze, format=args.format, params=params)
    sys.stdout.write(plan + "\n")
    return EXIT_OK


def cmd_write(args: argparse.Namespace) -> int:
    """Write a query's result to a target as parquet, csv, json or a Delta table."""
    statements = _statements(args)
    session = _build(args)
    sql, params = _run_leading(session, statements)
    with _progress(f"writing {args.target}", "rows") as update:
        result = session.write(
            sql,
            args.target,
            format=args.format,
            mode=args.mode,
            params=params,
            progress=update,
            partition_by=args.partition_by or (),
        )
    if args.json:
        _print_json(result.to_dict())
        return EXIT_OK
    version = "" if result.version is None else f", version {result.version}"
    parts = f", partitioned by {', '.join(result.partition_by)}" if result.partition_by else ""
    rows = f"{result.rows:,} row{'' if result.rows == 1 else 's'}"
    print(f"wrote {rows} to {result.target} ({result.format}, mode {result.mode}{version}{parts})")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Plan views and prepared statements on empty declared tables; ``--check-data`` reads data."""
    from dfsession.bootstrap import DEFAULT_SAMPLE_ROWS, validate_profile  # noqa: PLC0415 - CLI start-up time

    profile = _load(args)
    with _progress("validating datasets, views and prepared statements", "checked") as update:
        report = validate_profile(
            profile,
            seed_rows=args.seed_rows,
            progress=update,
            check_data=args.check_data,
            sample_rows=args.sample_rows or DEFAULT_SAMPLE_ROWS,
            strict=args.strict,
        )
    if args.json:
        _print_json(report.to_dict())
    else:
        _print_validation(report)
    return EXIT_OK if report.ok else EXIT_NEGATIVE


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check secrets, stores, locations, Delta logs, Iceberg metadata and plugins; one line each."""
    from dfsession.checkup import doctor  # noqa: PLC0415 - CLI start-up time

    report = doctor(_load(args))
    if args.json:
        _print_json(report.to_dict()["checks"])
    else:
        for check in report.checks:
            print(check.line())
        counts = report.to_dict()["counts"]
        print(f"doctor: {'ok' if report.ok else 'FAILED'} ({_counted(counts)})")
    return EXIT_OK if report.ok else EXIT_NEGATIVE


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{number} {status}" for status, number in counts.items())


def _print_validation(report: Any) -> None:
    from rich.table import Table  # noqa: PLC0415 - CLI start-up time

    table = Table(title=f"validation: {'ok' if report.ok else 'FAILED'}", title_justify="left")
    items = [_as_dict(item) for item in report.items]
    columns: list[str] = []
    for item in items:
        columns.extend(key for key in item if key not in columns)
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(*(_text(_cell(item.get(column))) for column in columns))
    _stdout_console().print(table)


def _as_dict(item: Any) -> dict[str, Any]:
    to_dict = getattr(item, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, dict):
            return result
    if isinstance(item, dict):
        return item
    return {"item": str(item)}


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return json.dumps(value, default=_json_value, sort_keys=True)
    return value


def cmd_report(args: argparse.Namespace) -> int:
    """Build the session and write its JSON report to standard output or ``-o FILE``."""
    report = _build(args).report()
    if args.output is None:
        _print_json(report)
        return EXIT_OK
    with _replace_when_complete(Path(args.output)) as sink:
        sink.write((json.dumps(report, indent=2, default=_json_value) + "\n").encode("utf-8"))
    print(f"wrote the report to {args.output}", file=sys.stderr)
    return EXIT_OK


def _read_text(path: str, what: str) -> str:
    """A UTF-8 text file; a missing or unreadable one is a one-line error naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{what} {path!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {path!r} is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {path!r} is not UTF-8 text ({exc.reason})") from None


def _read_report(path: str) -> Any:
    text = _read_text(path, "report file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def cmd_show(args: argparse.Namespace) -> int:
    """Print the effective profile as TOML; ``--origin`` says where each value came from."""
    from dfsession.profile.rendering import render_toml  # noqa: PLC0415 - CLI start-up time

    sys.stdout.write(render_toml(_load(args), with_origins=args.origin))
    return EXIT_OK


def cmd_schema(_args: argparse.Namespace) -> int:
    """Print the JSON Schema of the profile format (for editors: taplo, Even Better TOML)."""
    from dfsession.profile.json_schema import profile_schema  # noqa: PLC0415 - CLI start-up time

    _print_json(profile_schema())
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare two reports; exit 0 when equal and 1 when they differ."""
    from dfsession.diff import diff_reports  # noqa: PLC0415 - CLI start-up time

    difference = diff_reports(_read_report(args.a), _read_report(args.b))
    if args.json:
        _print_json(difference.to_dict())
    else:
        for line in difference.lines(args.a, args.b):
            print(line)
    return EXIT_OK if difference.equal else EXIT_NEGATIVE


# -- arguments --------------------------------------------------------------------------------


def parse_param(text: str) -> tuple[str, Any]:
    """``name=value``: the value is a JSON scalar when it parses as one (``5``), else a string."""
    name, sep, raw = text.partition("=")
    name = name.strip().removeprefix("$")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected name=value, such as id=5 (got {text!r})")
    return name, parse_value(raw)


def parse_value(raw: str) -> Any:
    """A JSON scalar when ``raw`` parses as one (``5``, ``true``, ``"5"``), else ``raw`` itself."""
    try:
        value: Any = json.loads(raw, parse_constant=_not_json)
    except ValueError:
        return raw
    return raw if isinstance(value, dict | list) else value


def _not_json(token: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON: such a value stays text."""
    raise ValueError(f"{token} is not a JSON value")


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (got {text!r})")
    return number


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="log everything (debug) to standard error"
    )
    common.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    return common


def parse_setting(text: str) -> tuple[str, Any]:
    """``key=value`` of ``--set``: the value read as TOML (``16``, ``true``, ``[1]``), else text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE, such as execution.target_partitions=16 (got {text!r})"
        )
    try:
        value: Any = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _profile_arguments(parser: argparse.ArgumentParser) -> None:
    """The profile file, the environment to apply and the values to set over everything."""
    parser.add_argument("profile", help="the profile (TOML file)")
    parser.add_argument(
        "--env",
        metavar="NAME",
        help="apply the profile's [env.NAME] overlay (default: $DFSESSION_ENV, if set)",
    )
    parser.add_argument(
        "--set",
        action="append",
        type=parse_setting,
        metavar="KEY=VALUE",
        help="set a profile key over every layer, such as execution.target_partitions=16; "
        'VALUE is read as TOML when it parses (16, true, ["a"]), else as text. Repeatable',
    )


def _param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        type=parse_param,
        metavar="NAME=VALUE",
        help="bind $NAME in the query; VALUE is read as JSON when it parses (5, true, "
        '"5"), else as text. Repeatable; every NAME must be used by the query',
    )


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    """How ``sql`` and ``exec`` show a result: format, output file, rows and layout."""
    parser.add_argument(
        "-f", "--format", choices=SQL_FORMATS, default="table", help="output format (table)"
    )
    parser.add_argument("-o", "--output", help="write to this file instead of standard output")
    parser.add_argument(
        "--max-rows",
        type=_positive,
        default=DEFAULT_MAX_ROWS,
        help=f"rows the table format shows ({DEFAULT_MAX_ROWS})",
    )
    parser.add_argument(
        "--layout",
        choices=("table", "vertical"),
        default="table",
        help="table: a row per line (the default); vertical: a block of 'column | value' "
        "lines per row, readable however wide the result",
    )


def _query_arguments(parser: argparse.ArgumentParser) -> None:
    """The SQL: a query argument, or ``--file`` (a script of statements), and ``--param``."""
    parser.add_argument(
        "query",
        nargs="?",
        help="the SQL; quote it with single quotes in a shell, so that $name stays as it is",
    )
    parser.add_argument(
        "--file",
        metavar="FILE",
        help="read the SQL from FILE (- for standard input). A script of several statements "
        "runs them in order under the profile's sql_policy; the last one's result is used",
    )
    _param_option(parser)


def _query_commands(command: CommandFactory) -> None:
    """The commands that run SQL: sql, exec, explain and write."""
    sql = command(
        "sql",
        cmd_sql,
        "Run a query under the profile's SQL policy and print or save the result.",
        "dfsession sql analytics.toml 'SELECT * FROM trips WHERE id = $id' --param id=5 "
        "--format csv",
        "dfsession sql analytics.toml --file report.sql",
    )
    _profile_arguments(sql)
    _query_arguments(sql)
    _output_arguments(sql)

    exec_ = command(
        "exec",
        cmd_exec,
        "Run a prepared statement the profile declares, with its arguments.",
        "dfsession exec analytics.toml trip_by_id 5 --layout vertical",
        details="Each argument binds $1, $2... in order and is read as JSON when it parses "
        '(5, true, "5"), else as text; it is then cast to the type that [prepared.NAME] params '
        "declares. Prepared statements run whatever the profile's sql_policy says of EXECUTE.",
    )
    _profile_arguments(exec_)
    exec_.add_argument("name", help="the prepared statement ([prepared.NAME] in the profile)")
    exec_.add_argument("args", nargs="*", type=parse_value, metavar="ARG", help="its arguments")
    _output_arguments(exec_)

    explain = command(
        "explain",
        cmd_explain,
        "Show a query's logical and physical plans.",
        "dfsession explain analytics.toml 'SELECT count(*) FROM trips WHERE fare > $min' "
        "--param min=100 --analyze",
    )
    _profile_arguments(explain)
    _query_arguments(explain)
    explain.add_argument(
        "--analyze", action="store_true", help="run the query and show each operator's metrics"
    )
    explain.add_argument(
        "--format",
        choices=("indent", "tree", "pgjson", "graphviz"),
        default="indent",
        help="plan format (indent)",
    )

    write = command(
        "write",
        cmd_write,
        "Write a query's result to files or a Delta table; a failed write changes nothing.",
        "dfsession write analytics.toml 'SELECT * FROM trips' out/trips --format delta "
        "--mode append --partition-by city",
    )
    _profile_arguments(write)
    _query_arguments(write)
    write.add_argument("target", help="a directory, a file (out.parquet) or a Delta table path")
    write.add_argument(
        "--format", required=True, choices=("parquet", "csv", "json", "delta"), help="format"
    )
    write.add_argument(
        "--mode",
        choices=("error", "append", "overwrite"),
        default="error",
        help="error (the target must not exist, the default), append or overwrite",
    )
    write.add_argument(
        "--partition-by",
        action="append",
        metavar="COLUMN",
        help="partition by this column of the result (repeatable): a folder per value "
        "(COLUMN=value/) for files, the table's partition columns for Delta",
    )
    write.add_argument("--json", action="store_true", help="print what was written as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="dfsession",
        description="Build DataFusion sessions from a profile, and run queries on them.",
        epilog="exit status: 0 success, 1 a negative answer (validate, doctor, diff), 2 error",
    )
    parser.add_argument("--version", action="version", version=f"dfsession {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()

    def command(
        name: str, handler: Handler, summary: str, *examples: str, details: str = ""
    ) -> argparse.ArgumentParser:
        heading = "example:" if len(examples) == 1 else "examples:"
        sub = commands.add_parser(
            name,
            help=summary,
            description="\n\n".join(
                textwrap.fill(text, HELP_WIDTH) for text in (summary, details) if text
            ),
            parents=[common],
            epilog=heading + "".join(f"\n  {example}" for example in examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    plan = command(
        "plan",
        cmd_plan,
        "Show the steps in run order, with what each requires and provides; runs nothing.",
        "dfsession plan analytics.toml",
    )
    _profile_arguments(plan)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    build = command(
        "build",
        cmd_build,
        "Build the session and show what each step applied.",
        "dfsession build analytics.toml --json > report.json",
    )
    _profile_arguments(build)
    build.add_argument(
        "--json", action="store_true", help="print the session report as JSON, and nothing else"
    )

    _query_commands(command)

    validate = command(
        "validate",
        cmd_validate,
        "Check a profile before deploying it; exit 1 if anything fails.",
        "dfsession validate analytics.toml --seed-rows --check-data --strict",
        details="By default it reads no data and resolves no secret: every view and prepared "
        "statement is planned against empty tables of the declared dataset schemas (datasets "
        "without a schema are skipped, with what reads them). --check-data also checks the "
        "data: files exist, their schemas are read back and compared, the first rows of CSV "
        "and JSON are parsed with the declared types; that registers the object stores, so "
        "their secrets are resolved.",
    )
    _profile_arguments(validate)
    validate.add_argument(
        "--seed-rows",
        action="store_true",
        help="also run each view and prepared statement on one seed row per table",
    )
    validate.add_argument(
        "--check-data",
        action="store_true",
        help="also check each dataset's data: files, schemas, first rows (needs the stores)",
    )
    validate.add_argument(
        "--sample-rows",
        type=_positive,
        metavar="N",
        help="rows of each CSV or JSON dataset --check-data parses (default 1000)",
    )
    validate.add_argument(
        "--strict", action="store_true", help="fail on anything skipped, not only on failures"
    )
    validate.add_argument("--json", action="store_true", help="print the validation as JSON")

    doctor_ = command(
        "doctor",
        cmd_doctor,
        "Check that a profile can work on this machine, reading no row; exit 1 if a check fails.",
        "dfsession doctor analytics.toml --env prod",
        details="Every secret reference is set (values are never printed); every object store "
        "answers a listing of its prefix; every dataset and discovery location exists; every "
        "Delta log opens at the declared version or time; every Iceberg table's metadata loads "
        "at the declared snapshot; every native plugin fits the installed DataFusion; a Ballista "
        "scheduler accepts connections and its client fits the "
        "installed DataFusion. One line per check: status, kind, what, and the fix when it "
        "failed.",
    )
    _profile_arguments(doctor_)
    doctor_.add_argument("--json", action="store_true", help="print the checks as a JSON list")

    report = command(
        "report",
        cmd_report,
        "Build the session and print its JSON report.",
        "dfsession report analytics.toml -o report.json",
    )
    _profile_arguments(report)
    report.add_argument("-o", "--output", help="write the report to this file")

    diff = command(
        "diff",
        cmd_diff,
        "Compare two session reports; exit 0 when equal, 1 when they differ.",
        "dfsession diff before.json after.json",
    )
    diff.add_argument("a", help="report A (JSON file)")
    diff.add_argument("b", help="report B (JSON file)")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")

    show = command(
        "show",
        cmd_show,
        "Print the effective profile as TOML: its layers, environment and --set values applied.",
        "dfsession show analytics.toml --env prod --origin",
        details="--origin ends each value with a comment naming where it came from: the file "
        "(base.toml), an environment of one (analytics.toml [env.prod]), the variables that "
        "filled it (${LAKE_ROOT}) or override. Literal secrets show as ***.",
    )
    _profile_arguments(show)
    show.add_argument(
        "--origin", action="store_true", help="say where each value came from, in a comment"
    )

    command(
        "schema",
        cmd_schema,
        "Print the JSON Schema of the profile format, for editors to complete and check profiles.",
        "dfsession schema > dfsession.schema.json",
        details="Generated from the profile's spec classes, with a description of every key. "
        "Point taplo or Even Better TOML at it, say with #:schema ./dfsession.schema.json as "
        "the first line of a profile.",
    )
    return parser


def _message(exc: BaseException) -> str:
    from dfsession.errors import DfSessionError  # noqa: PLC0415 - CLI start-up time

    text = str(exc).strip()
    if isinstance(exc, DfSessionError | ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("dfsession: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``); stop quietly without a second error on exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"dfsession: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
