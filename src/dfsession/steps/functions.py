"""The ``udfs`` step: install the profile's functions (and advertised ones) and snapshot them."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any, NamedTuple

import attrs
import pyarrow as pa
import structlog
from datafusion import (
    AggregateUDF,
    ScalarUDF,
    SessionConfig,
    SessionContext,
    TableFunction,
    WindowUDF,
)

from dfsession.errors import DfSessionError, ProfileError
from dfsession.imports import resolve_reference
from dfsession.pipeline.step import SessionBuild, StepRecord
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.sections import UdfConfig

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "dfsession.udfs"
_ENTRY_POINTS_PATH = "features.udf_entry_points"
_OBJECT_KINDS: tuple[tuple[type, str], ...] = (
    (ScalarUDF, "scalar"),
    (AggregateUDF, "aggregate"),
    (WindowUDF, "window"),
    (TableFunction, "table"),
)
_OBJECT_TYPES = tuple(cls for cls, _ in _OBJECT_KINDS)
_TABLE_REPR = re.compile(r"^TableUDF\((?P<name>.+)\)$")
_ACCEPTED = (
    "a datafusion ScalarUDF, AggregateUDF, WindowUDF or TableFunction, a plain callable "
    "with args and returns declared in the profile, or a list of function objects (a bundle)"
)
# Two plain scans: cheaper than one join of the two tables.
_ROUTINES_SQL = (
    "SELECT routine_name AS name, function_type AS kind, is_deterministic AS det "
    "FROM information_schema.routines"
)
_PARAMETERS_SQL = (
    "SELECT specific_name AS name, rid, parameter_mode AS mode, ordinal_position AS pos, "
    "data_type AS type FROM information_schema.parameters"
)


class _Function(NamedTuple):
    """One function ready to install: the engine object and where it came from."""

    name: str
    kind: str
    obj: Any
    source: str
    #: The index of its ``[[udfs]]`` entry, or the profile path it came from (entry points).
    where: int | str
    override: bool
    #: Its snapshot entry, known up front for a plain callable the profile declares.
    entry: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        """The dotted profile path of the entry that names this function."""
        return f"udfs.{self.where}.ref" if isinstance(self.where, int) else self.where


def _object_kind(obj: object) -> str | None:
    if not isinstance(obj, _OBJECT_TYPES):  # one C-level test for the common plain callable
        return None
    return next(kind for cls, kind in _OBJECT_KINDS if isinstance(obj, cls))


def _object_name(obj: Any, kind: str, source: str, path: str) -> str:
    if kind != "table":
        return str(obj.name)
    # TableFunction keeps its name only in the engine; its repr is the one place it shows.
    match = _TABLE_REPR.match(repr(obj))
    if match is None:
        raise ProfileError(
            [(path, f"cannot read the name of table function {source!r} (repr {obj!r})")]
        )
    return match.group("name")


def _describe(obj: object) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, list | tuple) and not obj:
        return "an empty list"
    text = repr(obj)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{type(obj).__name__} {text}"


def _wrong_kind(source: str, obj: object, path: str, extra: str = "") -> ProfileError:
    hint = ""
    if inspect.isclass(obj):
        hint = (
            "; a class (an Accumulator or WindowEvaluator, say) must be wrapped with "
            "datafusion.udaf/udwf in its module"
        )
    return ProfileError(
        [(path, f"{source!r} is {_describe(obj)}{extra}; expected {_ACCEPTED}{hint}")]
    )


def _engine_object(obj: object, source: str, where: int | str, override: bool) -> _Function:
    path = f"udfs.{where}.ref" if isinstance(where, int) else where
    kind = _object_kind(obj)
    if kind is None:
        raise _wrong_kind(source, obj, path)
    return _Function(_object_name(obj, kind, source, path), kind, obj, source, where, override)


def _attribute_name(ref: str) -> str:
    """The last name of ``package.module:attribute.name``."""
    return ref.rpartition(":")[2].rpartition(".")[2]


class _ProfileFunctions:
    """Turns ``[[udfs]]`` entries into functions; memoizes per build what entries share.

    Profiles name one module many times and repeat argument types, so resolved references
    and the Arrow fields and type names of a signature are worked out once per build.
    """

    __slots__ = ("_objects", "_signatures")

    def __init__(self) -> None:
        self._objects: dict[str, object] = {}
        #: (ids of the argument types, id of the return type) -> fields and names.
        self._signatures: dict[
            tuple[tuple[int, ...], int], tuple[list[pa.Field], pa.Field, list[str], str]
        ] = {}

    def collect(self, index: int, config: UdfConfig, out: list[_Function]) -> None:
        """Append the function(s) entry ``udfs.<index>`` names to ``out``."""
        ref = config.ref
        obj = self._objects.get(ref)
        if obj is None:
            obj = self._objects[ref] = resolve_reference(ref, f"udfs.{index}.ref")
        if isinstance(obj, list | tuple):
            self._bundle(index, config, obj, out)
        elif _object_kind(obj) is not None:
            out.append(self._object(index, config, obj))
        else:
            out.append(self._callable(index, config, obj))

    @staticmethod
    def _bundle(
        index: int, config: UdfConfig, obj: list[Any] | tuple[Any, ...], out: list[_Function]
    ) -> None:
        source = config.ref
        if not obj:
            raise _wrong_kind(source, obj, f"udfs.{index}.ref")
        declared = config.args is not None
        if declared or config.name is not None:
            raise ProfileError(
                [
                    (
                        f"udfs.{index}.{'args' if declared else 'name'}",
                        f"{source!r} is a bundle of {len(obj)} functions; name, args and "
                        "returns apply to a single plain callable, remove them",
                    )
                ]
            )
        for position, member in enumerate(obj):
            member_source = f"{source}[{position}]"
            if _object_kind(member) is None:
                raise _wrong_kind(
                    member_source, member, f"udfs.{index}.ref", " (bundle members must be objects)"
                )
            out.append(_engine_object(member, member_source, index, config.override))

    @staticmethod
    def _object(index: int, config: UdfConfig, obj: object) -> _Function:
        source = config.ref
        if config.args is not None:
            raise ProfileError(
                [
                    (
                        f"udfs.{index}.args",
                        f"{source!r} is a {type(obj).__name__}, which carries its own "
                        "signature; args and returns are only for plain callables, remove them",
                    )
                ]
            )
        function = _engine_object(obj, source, index, config.override)
        if config.name is not None and config.name != function.name:
            raise ProfileError(
                [
                    (
                        f"udfs.{index}.name",
                        f"{source!r} is a {type(obj).__name__} named {function.name!r}; "
                        f"it cannot be renamed to {config.name!r} (remove name, or rename it "
                        "where it is defined)",
                    )
                ]
            )
        return function

    def _signature(
        self, args: tuple[pa.DataType, ...], returns: pa.DataType
    ) -> tuple[list[pa.Field], pa.Field, list[str], str]:
        # Keyed on identity: the profile holds these type objects for the whole build.
        key = (tuple(map(id, args)), id(returns))
        signature = self._signatures.get(key)
        if signature is None:
            signature = self._signatures[key] = (
                # The fields datafusion.udf(func, types, type, ...) would make.
                [pa.field(f"value_{i}", t) for i, t in enumerate(args)],
                pa.field("value", returns),
                [format_arrow_type(t) for t in args],
                format_arrow_type(returns),
            )
        return signature

    def _callable(self, index: int, config: UdfConfig, obj: object) -> _Function:
        source, args, returns = config.ref, config.args, config.returns
        if not callable(obj) or isinstance(obj, type):
            raise _wrong_kind(source, obj, f"udfs.{index}.ref")
        if args is None or returns is None:
            hint = ""
            if hasattr(obj, "__wrapped__"):
                hint = (
                    " (the @udf(...) decorator form returns a plain function: build the UDF "
                    "with udf(func, ...) in the module, or declare the signature here)"
                )
            raise ProfileError(
                [
                    (
                        f"udfs.{index}.args",
                        f"{source!r} is a plain callable; declare its signature with "
                        f"args = [...] and returns = '...' (and volatility) in the profile{hint}",
                    )
                ]
            )
        name = config.name or _attribute_name(source)
        in_fields, out_field, arg_names, return_name = self._signature(args, returns)
        volatility = config.volatility
        entry = {
            "name": name,
            "kind": "scalar",
            "args": list(arg_names),  # each entry its own list: records are plain data
            "returns": return_name,
            "volatility": volatility,
            "source": source,
        }
        function_obj = ScalarUDF(name, obj, in_fields, out_field, volatility)
        return _Function(name, "scalar", function_obj, source, index, config.override, entry)


def _from_entry_points() -> Iterator[_Function]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry in sorted(found, key=lambda e: (e.name, e.value)):
        dist = getattr(entry, "dist", None)
        package = f", package {dist.name}" if dist is not None else ""
        source = f"entry point {entry.name} = {entry.value}{package}"
        if not entry.attr:
            raise ProfileError(
                [
                    (
                        _ENTRY_POINTS_PATH,
                        f"{source}: expected 'package.module:attribute' in group "
                        f"{ENTRY_POINT_GROUP!r}",
                    )
                ]
            )
        obj = resolve_reference(f"{entry.module}:{entry.attr}", _ENTRY_POINTS_PATH)
        is_bundle = isinstance(obj, list | tuple)
        members: list[object] = list(obj) if isinstance(obj, list | tuple) else [obj]
        for position, member in enumerate(members):
            member_source = f"{source} [{position}]" if is_bundle else source
            if _object_kind(member) is None:
                raise _wrong_kind(
                    member_source,
                    member,
                    _ENTRY_POINTS_PATH,
                    " (entry points advertise function objects; a plain callable has no "
                    "declared signature there)",
                )
            yield _engine_object(member, member_source, _ENTRY_POINTS_PATH, False)


def _check_unique(functions: list[_Function], names: list[str]) -> None:
    if len(set(names)) == len(names):
        return
    seen: dict[str, _Function] = {}
    for function in functions:
        first = seen.setdefault(function.name, function)
        if first is not function:
            raise ProfileError(
                [
                    (
                        function.path,
                        f"two functions are named {function.name!r}: {first.source!r} "
                        f"({first.path}) and {function.source!r}; function names must be "
                        "unique, remove or rename one",
                    )
                ]
            )


def _scratch_catalog() -> SessionContext:
    """A fresh context with information_schema on and no scalar, aggregate or window functions.

    information_schema lists every routine of a context; without the ~450 built-ins a query
    of it costs a fraction of a millisecond instead of over one.
    """
    scratch = SessionContext(SessionConfig().with_information_schema(True))
    for name in scratch.udfs():
        scratch.deregister_udf(name)
    for name in scratch.udafs():
        scratch.deregister_udaf(name)
    for name in scratch.udwfs():
        scratch.deregister_udwf(name)
    return scratch


def _register(ctx: SessionContext, functions: list[_Function]) -> None:
    register: dict[str, Callable[[Any], None]] = {
        "scalar": ctx.register_udf,
        "aggregate": ctx.register_udaf,
        "window": ctx.register_udwf,
        "table": ctx.register_udtf,
    }
    for function in functions:
        register[function.kind](function.obj)


def _table_functions(ctx: SessionContext) -> set[str]:
    rows = ctx.sql(_ROUTINES_SQL).to_pydict()
    return {n for n, k in zip(rows["name"], rows["kind"], strict=True) if k == "TABLE"}


def _check_shadowing(
    ctx: SessionContext, functions: list[_Function], scratch: SessionContext | None
) -> list[str]:
    """Names that replace an engine function; an error unless that entry says ``override``."""
    existing = {*ctx.udfs(), *ctx.udafs(), *ctx.udwfs()}
    # Table functions have no list outside information_schema: read a fresh context's.
    tables: set[str] = set()
    if scratch is not None and any(f.kind == "table" for f in functions):
        tables = _table_functions(scratch)
    if existing.isdisjoint(f.name for f in functions if f.kind != "table") and (
        not tables or tables.isdisjoint(f.name for f in functions if f.kind == "table")
    ):
        return []
    shadowed = []
    for function in functions:
        names = tables if function.kind == "table" else existing
        if function.name not in names:
            continue
        if not function.override:
            what = "table function" if function.kind == "table" else "function"
            raise ProfileError(
                [
                    (
                        function.path,
                        f"{function.source!r} would replace the engine's {what} "
                        f"{function.name!r} (a built-in, or one an earlier step installed); "
                        "set override = true on this entry to shadow it, or rename the function",
                    )
                ]
            )
        shadowed.append(function.name)
    return sorted(shadowed)


def _table_functions_in(ctx: SessionContext) -> set[str]:
    """The table functions ``ctx`` lists, turning information_schema on for the query if off."""
    try:
        return _table_functions(ctx)
    except Exception as exc:
        if "information_schema" not in str(exc):
            raise
    ctx.sql("SET datafusion.catalog.information_schema = true")
    try:
        return _table_functions(ctx)
    finally:
        ctx.sql("SET datafusion.catalog.information_schema = false")


def _check_visible(ctx: SessionContext, functions: list[_Function]) -> None:
    by_kind: dict[str, list[str]] = {}
    for function in functions:
        by_kind.setdefault(function.kind, []).append(function.name)
    lists = {"scalar": ctx.udfs, "aggregate": ctx.udafs, "window": ctx.udwfs}
    missing: set[str] = set()
    for kind, names in by_kind.items():
        listed = _table_functions_in(ctx) if kind == "table" else lists[kind]()
        missing.update(set(names).difference(listed))
    if missing:
        described = ", ".join(
            f"{f.name!r} ({f.kind}, from {f.source!r})" for f in functions if f.name in missing
        )
        raise DfSessionError(
            f"installed functions the engine does not list: {described}; the engine replaced "
            "or dropped them, check the function objects' names"
        )


def _engine_signatures(
    scratch: SessionContext, functions: list[_Function]
) -> dict[str, dict[str, Any]]:
    """Argument and return types and volatility of engine objects, as the engine reports them.

    information_schema names types by their logical kind (``Int64``, ``String`` for every
    string type, ``Date``), and says only whether a function is immutable (deterministic).
    """
    _register(scratch, functions)
    wanted = {f.name for f in functions}
    found: dict[str, dict[str, Any]] = {}
    routines = scratch.sql(_ROUTINES_SQL).to_pydict()
    for name, kind, det in zip(routines["name"], routines["kind"], routines["det"], strict=True):
        if name in wanted:
            volatility = "immutable" if det else "stable or volatile"
            found[name] = {"volatility": None if kind == "TABLE" else volatility}
    variants: dict[str, dict[int, dict[str, Any]]] = {}
    params = scratch.sql(_PARAMETERS_SQL).to_pydict()
    for name, rid, mode, pos, type_ in zip(
        params["name"], params["rid"], params["mode"], params["pos"], params["type"], strict=True
    ):
        if name not in wanted:
            continue
        variant = variants.setdefault(name, {}).setdefault(rid, {"args": {}, "returns": None})
        if mode == "IN":
            variant["args"][pos] = type_
        else:
            variant["returns"] = type_
    for name, info in found.items():
        signatures = [
            ([v["args"][p] for p in sorted(v["args"])], v["returns"])
            for _, v in sorted(variants.get(name, {}).items())
        ]
        if not signatures:
            info["args"], info["returns"] = None, None
        elif len(signatures) == 1:
            info["args"], info["returns"] = signatures[0]
        else:
            info["args"] = [args for args, _ in signatures]
            info["returns"] = [returns for _, returns in signatures]
    return found


def _snapshot(functions: list[_Function], scratch: SessionContext | None) -> list[dict[str, Any]]:
    """One entry per function, sorted by name: declared signatures, else the engine's."""
    engine_objects = [f for f in functions if f.entry is None]
    engine: dict[str, dict[str, Any]] = {}
    if engine_objects and scratch is not None:
        engine = _engine_signatures(scratch, engine_objects)
    snapshot = []
    for function in functions:
        entry = function.entry
        if entry is None:
            info = engine.get(function.name)
            if info is None:
                raise DfSessionError(
                    f"the engine reports no signature for {function.name!r} from "
                    f"{function.source!r}"
                )
            entry = {
                "name": function.name,
                "kind": function.kind,
                "args": info["args"],
                "returns": info["returns"],
                "volatility": info["volatility"],
                "source": function.source,
            }
        snapshot.append(entry)
    snapshot.sort(key=itemgetter("name"))
    return snapshot


@attrs.frozen(cache_hash=True)
class UdfsStep:
    """Install the profile's ``[[udfs]]`` (and, when enabled, entry-point functions)."""

    name: str = "udfs"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"udfs"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Resolve, check, register and verify every function; record the snapshot."""
        profile = build.profile
        use_entry_points = profile.features.udf_entry_points
        if not profile.udfs and not use_entry_points:
            return StepRecord.skipped(
                self.name, "no [[udfs]] in the profile and features.udf_entry_points is false"
            )
        functions: list[_Function] = []
        collector = _ProfileFunctions()
        for index, config in enumerate(profile.udfs):
            collector.collect(index, config, functions)
        if use_entry_points:
            functions.extend(_from_entry_points())
        _check_unique(functions, [f.name for f in functions])
        ctx = build.ctx
        needs_engine_catalog = any(f.entry is None for f in functions)
        scratch = _scratch_catalog() if needs_engine_catalog else None
        shadowed = _check_shadowing(ctx, functions, scratch)
        _register(ctx, functions)
        _check_visible(ctx, functions)
        snapshot = _snapshot(functions, scratch)
        log.debug("dfsession.udfs", installed=len(snapshot), shadowed=shadowed)
        applied: dict[str, Any] = {"functions": snapshot}
        if shadowed:
            applied["shadowed"] = shadowed
        if use_entry_points:
            applied["entry_point_group"] = ENTRY_POINT_GROUP
        return StepRecord(step=self.name, applied=applied)
