"""The ``views`` and ``prepared`` steps: named queries, in dependency order, and PREPARE."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import pyarrow as pa
from datafusion import DataFrame, SessionContext, SQLOptions

from dfsession.engine import one_line
from dfsession.errors import ProfileError
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.sections import PreparedConfig
from dfsession.record import StepRecord

__all__ = [
    "PreparedStep",
    "ViewsStep",
    "cycle_message",
    "dependency_order",
    "find_cycles",
    "local_name",
    "parameter_numbers",
    "plan_view",
    "prepare_statement",
    "prepared_entry",
    "read_only",
    "referenced_tables",
    "references_in",
    "sql_type",
    "tokenize",
    "view_dependencies",
    "view_order",
]

# --- a small SQL tokenizer: enough to find the tables a query reads --------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>[EeXxBbNn]?'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`)
  | (?P<param>\$\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# Words that end a table reference: what may follow a table name other than an alias.
_CLAUSE_WORDS = frozenset(
    [
        "where",
        "group",
        "order",
        "limit",
        "offset",
        "having",
        "window",
        "qualify",
        "union",
        "intersect",
        "except",
        "join",
        "inner",
        "left",
        "right",
        "full",
        "outer",
        "cross",
        "natural",
        "on",
        "using",
        "lateral",
        "select",
        "from",
        "with",
        "as",
        "and",
        "or",
        "not",
    ]
)


@attrs.frozen
class _Token:
    kind: str
    text: str

    @property
    def name(self) -> str:
        """The identifier it spells: unquoted words fold to lower case, as the engine does."""
        if self.kind == "quoted":
            return self.text[1:-1].replace('""', '"')
        return self.text.lower()

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def tokenize(sql: str) -> list[_Token]:
    """Words, quoted names, literals, parameters and punctuation; no spaces or comments."""
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "punct"
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, match.group()))
    return tokens


def _is_name(token: _Token) -> bool:
    return token.kind == "quoted" or (
        token.kind == "word" and token.text.lower() not in _CLAUSE_WORDS
    )


def _closing(tokens: Sequence[_Token], start: int) -> int:
    """Index of the ``)`` matching the ``(`` at ``start`` (or the end)."""
    depth = 0
    for index in range(start, len(tokens)):
        if tokens[index].text == "(":
            depth += 1
        elif tokens[index].text == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(tokens) - 1


def _ctes(tokens: Sequence[_Token]) -> list[tuple[str, int, int, bool]]:
    """The CTEs of a top-level ``WITH``: (name, body start, body end, recursive) each."""
    found: list[tuple[str, int, int, bool]] = []
    depth = 0
    for index, token in enumerate(tokens):
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        if depth != 0 or not token.is_word("with"):
            continue
        at = index + 1
        recursive = at < len(tokens) and tokens[at].is_word("recursive")
        at += 1 if recursive else 0
        while at < len(tokens) and _is_name(tokens[at]):
            name = tokens[at].name
            at += 1
            if at < len(tokens) and tokens[at].text == "(":  # column list
                at = _closing(tokens, at) + 1
            if at < len(tokens) and tokens[at].is_word("as"):
                at += 1
            if at < len(tokens) and tokens[at].is_word("materialized", "not"):
                at += 1 if tokens[at].is_word("materialized") else 2
            if at < len(tokens) and tokens[at].text == "(":
                end = _closing(tokens, at)
                found.append((name, at + 1, end, recursive))
                at = end + 1
            if at < len(tokens) and tokens[at].text == ",":
                at += 1
                continue
            break
        break
    return found


def _read_tables(tokens: Sequence[_Token], at: int, found: set[str], *, listing: bool) -> int:
    """Read the table references of a FROM list (``listing``) or after a JOIN; next index."""
    while at < len(tokens):
        token = tokens[at]
        if token.text == "(":
            end = _closing(tokens, at)
            found |= references_in(tokens[at + 1 : end])
            at = end + 1
        elif _is_name(token):
            parts = [token.name]
            at += 1
            while at + 1 < len(tokens) and tokens[at].text == "." and _is_name(tokens[at + 1]):
                parts.append(tokens[at + 1].name)
                at += 2
            if at < len(tokens) and tokens[at].text == "(":  # a table function: f(...)
                end = _closing(tokens, at)
                found |= references_in(tokens[at + 1 : end])
                at = end + 1
            else:
                found.add(".".join(parts))
        else:
            return at
        if at < len(tokens) and tokens[at].is_word("as"):
            at += 1
        if at < len(tokens) and _is_name(tokens[at]):  # alias
            at += 1
            if at < len(tokens) and tokens[at].text == "(":  # alias column list
                at = _closing(tokens, at) + 1
        if listing and at < len(tokens) and tokens[at].text == ",":
            at += 1
            continue
        return at
    return at


# Functions whose arguments use FROM: EXTRACT(year FROM ts), SUBSTRING(s FROM 2), ...
_FROM_FUNCTIONS = frozenset({"extract", "substring", "substr", "trim", "position", "overlay"})


def _from_in_expression(tokens: Sequence[_Token], at: int) -> bool:
    """Whether the FROM at ``at`` is part of an expression, not a FROM clause."""
    if at > 0 and tokens[at - 1].is_word("distinct"):  # IS [NOT] DISTINCT FROM
        return True
    depth = 0
    for index in range(at - 1, -1, -1):
        text = tokens[index].text
        if text == ")":
            depth += 1
        elif text == "(":
            if depth == 0:
                return index > 0 and tokens[index - 1].is_word(*_FROM_FUNCTIONS)
            depth -= 1
    return False


def references_in(tokens: Sequence[_Token]) -> set[str]:
    """Table names read after FROM and JOIN (dotted names kept whole, in lower case).

    A CTE's name shadows a table only where it is visible: in the main query and in the CTEs
    declared after it (and in its own body when ``RECURSIVE``), so ``WITH orders AS (SELECT *
    FROM orders)`` still reads the table ``orders``.
    """
    ctes = _ctes(tokens)
    found: set[str] = set()
    defined: set[str] = set()
    inside: set[int] = set()
    for name, start, end, recursive in ctes:
        visible = defined | ({name} if recursive else set())
        found |= references_in(tokens[start:end]) - visible
        defined.add(name)
        inside.update(range(start, end))
    outside = [token for index, token in enumerate(tokens) if index not in inside]
    at = 0
    main: set[str] = set()
    while at < len(outside):
        token = outside[at]
        if token.is_word("join") or (
            token.is_word("from") and not _from_in_expression(outside, at)
        ):
            at = _read_tables(outside, at + 1, main, listing=True)
        else:
            at += 1
    return found | (main - defined)


def referenced_tables(sql: str) -> set[str]:
    """The table and view names a query reads (unquoted names in lower case)."""
    return references_in(tokenize(sql))


def parameter_numbers(sql: str) -> set[int]:
    """The ``$n`` placeholders a statement uses (not those inside literals or comments)."""
    return {int(token.text[1:]) for token in tokenize(sql) if token.kind == "param"}


# --- dependency order ----------------------------------------------------------------------


def local_name(reference: str, catalog: str = "datafusion", schema: str = "public") -> str:
    """The bare table name of a reference in the default schema; a qualified name elsewhere.

    ``v``, ``public.v`` and ``datafusion.public.v`` all name the view ``v`` registered in the
    default catalog and schema; ``information_schema.columns`` stays as it is.
    """
    parts = reference.lower().split(".")
    if len(parts) == 2 and parts[0] == schema.lower():
        return parts[1]
    if len(parts) == 3 and parts[0] == catalog.lower() and parts[1] == schema.lower():
        return parts[2]
    return reference.lower()


def view_dependencies(
    views: Mapping[str, str], catalog: str = "datafusion", schema: str = "public"
) -> dict[str, list[str]]:
    """For each view, the other views its SQL reads, in declaration order."""
    by_name = {name.lower(): name for name in views}
    position = {name: i for i, name in enumerate(views)}
    graph: dict[str, list[str]] = {}
    for name, sql in views.items():
        refs = (local_name(r, catalog, schema) for r in referenced_tables(sql))
        found = {by_name[r] for r in refs if r in by_name}
        graph[name] = sorted(found, key=position.__getitem__)
    return graph


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every group of views that depend on each other in a cycle, in declaration order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work: list[tuple[str, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, child = work[-1]
            edges = graph.get(node, ())
            if child < len(edges):
                work[-1] = (node, child + 1)
                nxt = edges[child]
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(component)

    for name in graph:
        if name not in index:
            visit(name)
    order = {name: position for position, name in enumerate(graph)}
    return [
        sorted(c, key=order.__getitem__)
        for c in sorted(components, key=lambda c: min(order[m] for m in c))
    ]


def _cycle_path(members: list[str], graph: Mapping[str, Sequence[str]]) -> list[str]:
    """The shortest cycle through the first-declared member, as ``[a, b, ..., a]``."""
    inside = set(members)
    start = members[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in graph.get(node, ()):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt in inside and nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start, start]


def dependency_order(graph: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    """Views in an order where each follows those it reads, and the views a cycle blocks.

    Ties keep declaration order, so the order is deterministic.
    """
    remaining = {name: len(set(deps)) for name, deps in graph.items()}
    readers: dict[str, list[str]] = {name: [] for name in graph}
    for name, deps in graph.items():
        for dep in set(deps):
            readers[dep].append(name)
    position = {name: i for i, name in enumerate(graph)}
    ready = [name for name, count in remaining.items() if count == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=position.__getitem__)
        name = ready.pop(0)
        order.append(name)
        for reader in readers[name]:
            remaining[reader] -= 1
            if remaining[reader] == 0:
                ready.append(reader)
    placed = set(order)
    return order, [name for name in graph if name not in placed]


def view_order(
    views: Mapping[str, str], catalog: str = "datafusion", schema: str = "public"
) -> list[str]:
    """Views in dependency order; a cycle is a ``ProfileError`` naming every view in it."""
    graph = view_dependencies(views, catalog, schema)
    cycles = find_cycles(graph)
    if cycles:
        problems = [_cycle_problem(_cycle_path(c, graph), c) for c in cycles]
        raise ProfileError(
            [(path, f"{text}; no view was registered. Break the cycle") for path, text in problems]
        )
    return dependency_order(graph)[0]


def cycle_message(cycle: list[str], graph: Mapping[str, Sequence[str]]) -> str:
    """The text that names the views of one cycle (as ``find_cycles`` gives it)."""
    return _cycle_problem(_cycle_path(cycle, graph), cycle)[1]


def _cycle_problem(cycle: list[str], members: list[str]) -> tuple[str, str]:
    if len(members) == 1:
        text = f"view {members[0]!r} reads itself"
    else:
        names = ", ".join(repr(m) for m in members)
        text = f"views {names} form a dependency cycle ({' -> '.join(cycle)})"
    return f"views.{members[0]}.sql", text


def read_only() -> SQLOptions:
    """Options that let the engine plan a query but refuse DDL, DML and statements."""
    return SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


def plan_view(ctx: SessionContext, name: str, sql: str) -> DataFrame:
    """Plan a view's query (read-only) and register it; the engine's error is raised as is."""
    df = ctx.sql(sql, options=read_only())
    ctx.register_view(name, df)
    return df


# --- SQL type names for PREPARE --------------------------------------------------------------

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

    Raises ``ProfileError`` for a name that is not an identifier, a type with no SQL name,
    or ``$n`` placeholders that do not match the declared parameters.
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
    used = parameter_numbers(config.sql)
    if used and max(used) > len(config.params):
        problems.append(
            (
                f"{base}.params",
                f"the SQL uses ${max(used)} but {len(config.params)} parameter type(s) are "
                "declared; declare one type per placeholder",
            )
        )
    if problems:
        raise ProfileError(problems)
    types = f"({', '.join(spelled)})" if spelled else ""
    return f"PREPARE {name}{types} AS {config.sql}", spelled


def prepared_entry(name: str, config: PreparedConfig, spelled: Iterable[str]) -> dict[str, Any]:
    """What a record shows of a prepared statement."""
    return {
        "name": name,
        "sql": config.sql,
        "params": [format_arrow_type(t) for t in config.params],
        "sql_types": list(spelled),
    }


# --- the steps -------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class ViewsStep:
    """Register the profile's views, each after the views it reads (found from the SQL)."""

    name: str = "views"
    requires: frozenset[str] = frozenset({"context", "datasets", "delta", "udfs"})
    provides: frozenset[str] = frozenset({"views"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Order (refusing cycles before registering anything), then plan and register."""
        views = {name: view.sql for name, view in build.profile.views.items()}
        if not views:
            return StepRecord.skipped(self.name, "no [views] in the profile")
        catalog = build.profile.catalog
        pending = view_order(views, catalog.default_catalog, catalog.default_schema)
        ctx = build.ctx
        registered: list[str] = []
        # A reference the tokenizer missed shows up as a planning failure: retry after others.
        while pending:
            failed: list[tuple[str, Exception]] = []
            for name in pending:
                try:
                    plan_view(ctx, name, views[name])
                except Exception as exc:
                    failed.append((name, exc))
                else:
                    registered.append(name)
            if not failed:
                break
            if len(failed) == len(pending):
                name, error = failed[0]
                raise ProfileError.at(
                    f"views.{name}.sql", f"view {name!r} does not plan: {one_line(error)}"
                ) from error
            pending = [name for name, _exc in failed]
        return StepRecord(step=self.name, applied={"views": registered})


@attrs.frozen(cache_hash=True)
class PreparedStep:
    """Install the profile's prepared statements with ``PREPARE name(types) AS sql``."""

    name: str = "prepared"
    requires: frozenset[str] = frozenset({"views"})
    provides: frozenset[str] = frozenset({"prepared"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Check every declaration first, then prepare each; the record lists them."""
        prepared = build.profile.prepared
        if not prepared:
            return StepRecord.skipped(self.name, "no [prepared] statements in the profile")
        statements = [
            (name, config, *prepare_statement(name, config)) for name, config in prepared.items()
        ]
        ctx = build.ctx
        entries: list[dict[str, Any]] = []
        for name, config, statement, spelled in statements:
            try:
                ctx.sql(statement)
            except Exception as exc:
                raise ProfileError.at(
                    f"prepared.{name}.sql",
                    f"prepared statement {name!r} does not plan: {one_line(exc)}",
                ) from exc
            entries.append(prepared_entry(name, config, spelled))
        return StepRecord(step=self.name, applied={"prepared": entries})
