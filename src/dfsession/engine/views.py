"""Views and prepared statements, planned by the engine, in the order the engine finds.

No SQL is parsed here: a view is planned, and when the engine answers ``table
'<catalog>.<schema>.<name>' not found`` for a declared view not registered yet, the view waits
for that one and is planned again once it is registered. Each view is planned once, plus once
per dependency found that way: linear in views and their dependencies. What still waits at
the end waits in a cycle (or on one), which ``graphlib`` names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from graphlib import CycleError, TopologicalSorter

import attrs
import pyarrow as pa
from datafusion import SessionContext, SQLOptions

from dfsession.engine.text import one_line
from dfsession.errors import ProfileError
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.sections import CatalogConfig, PreparedConfig, ViewConfig

__all__ = [
    "MAX_CYCLES_NAMED",
    "ViewOrder",
    "cycle_text",
    "missing_table",
    "order_views",
    "plan_view",
    "prepare",
    "prepare_statement",
    "read_only",
    "register_views",
    "sql_type",
    "unknown_table",
]

#: The engine's words for a table it does not know, with the name it looked up.
_NOT_FOUND = re.compile(r"table '([^']+)' not found")
#: The engine's words for a PREPARE whose declared types do not match the placeholders.
_ARITY = re.compile(r"Prepare specifies (\d+) data types but query has (\d+) parameters")
#: At most this many cycles are named in one error (each costs a pass over what waits).
MAX_CYCLES_NAMED = 10


def read_only() -> SQLOptions:
    """Options that let the engine plan a query but refuse DDL, DML and statements."""
    return SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


def plan_view(ctx: SessionContext, name: str, sql: str, *, run: bool = False) -> None:
    """Plan a view's query (read-only) and register it; ``run`` executes it first.

    The engine's error is raised as it is; a view that fails is not registered.
    """
    df = ctx.sql(sql, options=read_only())
    if run:
        df.collect()
    ctx.register_view(name, df)


def missing_table(error: BaseException, catalog: CatalogConfig) -> str | None:
    """The table a planning error says is not found in the default catalog and schema, if any."""
    found = unknown_table(error)
    if found is None:
        return None
    parts = found.split(".", 2)
    if len(parts) != 3 or parts[:2] != [catalog.default_catalog, catalog.default_schema]:
        return None
    return parts[2]


def unknown_table(error: BaseException) -> str | None:
    """The full name (``catalog.schema.table``) of a table a planning error says is not found."""
    found = _NOT_FOUND.search(str(error))
    return None if found is None else found.group(1)


@attrs.frozen
class ViewOrder:
    """What planning views in dependency order came to.

    ``registered`` in the order registered; ``failed`` each view whose error is not a wait
    for another declared view, in the order they failed (a view reading a failed view fails
    after it); ``waiting`` each view left waiting, and the declared view it waits for.
    """

    declared: tuple[str, ...]
    registered: tuple[str, ...] = ()
    failed: tuple[tuple[str, Exception], ...] = ()
    waiting: Mapping[str, str] = attrs.field(factory=dict)

    def cycles(self) -> list[list[str]]:
        """The cycles among the waiting views, each as ``[a, b, ..., a]`` (``a`` reads ``b``).

        Each starts at its first-declared view, in declaration order; at most
        ``MAX_CYCLES_NAMED``. A waiting view waits for one view, so cycles do not overlap.
        """
        graph = {name: {dependency} for name, dependency in self.waiting.items()}
        found: list[list[str]] = []
        while graph and len(found) < MAX_CYCLES_NAMED:
            try:
                TopologicalSorter(graph).prepare()
            except CycleError as exc:
                cycle = list(reversed(exc.args[1]))[:-1]  # graphlib lists predecessors first
                for member in cycle:
                    del graph[member]
                found.append(cycle)
            else:
                break
        position = {name: i for i, name in enumerate(self.declared)}
        rotated = []
        for cycle in found:
            first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
            rotated.append([*cycle[first:], *cycle[:first], cycle[first]])
        return sorted(rotated, key=lambda cycle: position[cycle[0]])


def order_views(
    names: Sequence[str],
    register: Callable[[str], None],
    missing: Callable[[Exception], str | None],
) -> ViewOrder:
    """Register the views ``names`` in declaration order, each after the declared view it reads.

    ``register(name)`` plans and registers one view, raising the engine's error; ``missing``
    gives the table such an error says is not found. A view whose error names a declared view
    that is neither registered nor failed waits for it, and is planned again once that one is
    registered or has failed.
    """
    declared = {name: name for name in names}
    lower = {name.lower(): name for name in names}
    registered: dict[str, None] = {}  # an ordered set
    failed: dict[str, Exception] = {}
    waiting: dict[str, str] = {}
    waiters: dict[str, list[str]] = {}
    pending = list(reversed(names))  # a stack: the next view to plan is on top
    while pending:
        name = pending.pop()
        try:
            register(name)
        except Exception as exc:
            table = missing(exc)
            dependency = None if table is None else declared.get(table, lower.get(table.lower()))
            if dependency is not None and dependency not in registered and dependency not in failed:
                waiting[name] = dependency
                waiters.setdefault(dependency, []).append(name)
                continue
            failed[name] = exc
        else:
            registered[name] = None
        waiting.pop(name, None)
        pending.extend(reversed(waiters.pop(name, [])))
    return ViewOrder(tuple(names), tuple(registered), tuple(failed.items()), waiting)


def register_views(
    ctx: SessionContext,
    views: Mapping[str, ViewConfig],
    catalog: CatalogConfig,
    *,
    run: bool = False,
) -> ViewOrder:
    """Plan and register ``views`` on ``ctx`` in the order the engine finds (``order_views``).

    ``run`` executes each view before registering it (zero-row validation with seed rows).
    """
    return order_views(
        list(views),
        lambda name: plan_view(ctx, name, views[name].sql, run=run),
        lambda error: missing_table(error, catalog),
    )


def cycle_text(cycle: Sequence[str]) -> str:
    """The words naming one cycle (as ``ViewOrder.cycles`` gives it)."""
    members = cycle[:-1]
    if len(members) == 1:
        return f"view {members[0]!r} reads itself"
    names = ", ".join(repr(member) for member in members)
    return f"views {names} form a dependency cycle ({' -> '.join(cycle)})"


# --- prepared statements -----------------------------------------------------------------------

_SQL_TYPES: dict[pa.DataType, str] = {
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.uint8(): "TINYINT UNSIGNED",
    pa.uint16(): "SMALLINT UNSIGNED",
    pa.uint32(): "INT UNSIGNED",
    pa.uint64(): "BIGINT UNSIGNED",
    pa.float32(): "REAL",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.string_view(): "VARCHAR",
    pa.binary(): "BYTEA",
    pa.large_binary(): "BYTEA",
    pa.binary_view(): "BYTEA",
    pa.date32(): "DATE",
    pa.month_day_nano_interval(): "INTERVAL",
}
_PRECISION = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def sql_type(data_type: pa.DataType) -> str:
    """The SQL spelling DataFusion reads as ``data_type``; ``ValueError`` when it has none."""
    types = pa.types
    known = _SQL_TYPES.get(data_type)
    if known is not None:
        return known
    if types.is_timestamp(data_type):
        zone = " WITH TIME ZONE" if data_type.tz else ""
        return f"TIMESTAMP({_PRECISION[data_type.unit]}){zone}"
    if types.is_time64(data_type):
        return "TIME"
    if types.is_decimal(data_type):
        return f"DECIMAL({data_type.precision}, {data_type.scale})"
    if types.is_list(data_type) or types.is_large_list(data_type):
        return f"{sql_type(data_type.value_type)}[]"
    raise ValueError(
        f"{format_arrow_type(data_type)} has no SQL type name for PREPARE; use one of "
        "bool, int8..int64, uint8..uint64, float32, float64, string, binary, date32, "
        "time64, timestamp, decimal128 or list<...> of those"
    )


def prepare_statement(name: str, config: PreparedConfig) -> tuple[str, list[str]]:
    """The ``PREPARE`` text for a declared statement and the SQL type of each parameter.

    Raises ``ProfileError`` for a name that is not an identifier or a type with no SQL name.
    """
    base = f"prepared.{name}"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ProfileError.at(base, "a prepared statement's name must be a plain identifier")
    problems: list[tuple[str, str]] = []
    spelled: list[str] = []
    for position, data_type in enumerate(config.params):
        try:
            spelled.append(sql_type(data_type))
        except ValueError as exc:
            problems.append((f"{base}.params.{position}", str(exc)))
    if problems:
        raise ProfileError(problems)
    types = f"({', '.join(spelled)})" if spelled else ""
    return f"PREPARE {name}{types} AS {config.sql}", spelled


def prepare(ctx: SessionContext, name: str, config: PreparedConfig) -> list[str]:
    """Prepare a declared statement on ``ctx``; the SQL type of each parameter.

    The engine checks the placeholders against the declared types: a mismatch is a
    ``ProfileError`` at ``prepared.<name>.params``. Any other planning error is raised as is.
    """
    statement, spelled = prepare_statement(name, config)
    try:
        ctx.sql(statement)
    except Exception as exc:
        arity = _ARITY.search(str(exc))
        if arity is None:
            raise
        used = int(arity.group(2))
        placeholders = f"$1 to ${used}" if used > 1 else "$1" if used else "none"
        raise ProfileError.at(
            f"prepared.{name}.params",
            f"prepared statement {name!r} declares {arity.group(1)} parameter type(s) but its "
            f"SQL has {used} placeholder(s) ({placeholders}); declare one type per placeholder "
            f"({one_line(exc)})",
        ) from exc
    return spelled
