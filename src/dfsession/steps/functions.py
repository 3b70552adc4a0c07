"""The ``udfs`` step: install the profile's functions (and advertised ones) and snapshot them."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from collections.abc import Callable, Iterator
from operator import itemgetter
from types import FunctionType
from typing import Any, NamedTuple

import attrs
import pyarrow as pa
from datafusion import (
    AggregateUDF,
    ScalarUDF,
    SessionConfig,
    SessionContext,
    TableFunction,
    WindowUDF,
)

from dfsession.engine.cluster import REASONS
from dfsession.engine.text import describe_object
from dfsession.errors import DfSessionError, ProfileError
from dfsession.faults import CheckedFunction, UdfFaults
from dfsession.imports import ReferenceResolver, resolve_reference
from dfsession.logs import get_logger
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.model import SessionProfile
from dfsession.profile.sections import UdfConfig
from dfsession.record import StepRecord

__all__ = [
    "ENTRY_POINT_GROUP",
    "UdfsStep",
]

log = get_logger(__name__)

ENTRY_POINT_GROUP = "dfsession.udfs"
_ENTRY_POINTS_PATH = "features.udf_entry_points"
_OBJECT_KINDS: tuple[tuple[type, str], ...] = (
    (ScalarUDF, "scalar"),
    (AggregateUDF, "aggregate"),
    (WindowUDF, "window"),
    (TableFunction, "table"),
)
_TABLE_REPR = re.compile(r"^TableUDF\((?P<name>.+)\)$")
_ACCEPTED = (
    "a datafusion ScalarUDF, AggregateUDF, WindowUDF or TableFunction, a plain callable "
    "with args and returns declared in the profile, or a list of function objects (a bundle)"
)
# information_schema tables read whole through ``ctx.table`` and cut down in Arrow: cheaper
# than planning SQL over them (two plain scans are cheaper than one join or union, too).
_ROUTINES = ("information_schema.routines", ["routine_name", "function_type", "is_deterministic"])
_PARAMETERS = (
    "information_schema.parameters",
    ["specific_name", "rid", "parameter_mode", "ordinal_position", "data_type"],
)


class _Function:
    """One function ready to install: the engine object and where it came from."""

    __slots__ = ("entry", "kind", "name", "obj", "override", "source", "where")

    def __init__(
        self,
        name: str,
        kind: str,
        obj: Any,
        source: str,
        where: int | str,
        *,
        override: bool,
        entry: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.obj = obj
        self.source = source
        #: The index of its ``[[udfs]]`` entry, or the profile path it came from (entry points).
        self.where = where
        self.override = override
        #: Its snapshot entry, known up front for a plain callable the profile declares.
        self.entry = entry

    @property
    def path(self) -> str:
        """The dotted profile path of the entry that names this function."""
        return f"udfs.{self.where}.ref" if isinstance(self.where, int) else self.where


def _object_kind(obj: object) -> str | None:
    """``scalar``, ``aggregate``, ``window`` or ``table`` for an engine function object."""
    for cls, kind in _OBJECT_KINDS:
        if isinstance(obj, cls):
            return kind
    return None


def _table_name(obj: object, source: str, path: str) -> str:
    # TableFunction keeps its name only in the engine; its repr is the one place it shows.
    match = _TABLE_REPR.match(repr(obj))
    if match is None:
        raise ProfileError.at(
            path, f"cannot read the name of table function {source!r} (repr {obj!r})"
        )
    return match.group("name")


def _wrong_kind(source: str, obj: object, path: str, extra: str = "") -> ProfileError:
    hint = ""
    if inspect.isclass(obj):
        hint = (
            "; a class (an Accumulator or WindowEvaluator, say) must be wrapped with "
            "datafusion.udaf/udwf in its module"
        )
    return ProfileError.at(
        path, f"{source!r} is {describe_object(obj)}{extra}; expected {_ACCEPTED}{hint}"
    )


def _engine_object(
    obj: Any, source: str, where: int | str, override: bool, kind: str | None = None
) -> _Function:
    if kind is None:
        kind = _object_kind(obj)
    if kind is None:
        path = f"udfs.{where}.ref" if isinstance(where, int) else where
        raise _wrong_kind(source, obj, path)
    if kind == "table":
        path = f"udfs.{where}.ref" if isinstance(where, int) else where
        return _Function(
            _table_name(obj, source, path), kind, obj, source, where, override=override
        )
    return _Function(obj.name, kind, obj, source, where, override=override)


def _attribute_name(ref: str) -> str:
    """The last name of ``package.module:attribute.name``."""
    return ref.rpartition(":")[2].rpartition(".")[2]


#: How ``_ProfileFunctions`` files a resolved reference (worked out once per reference).
_BUNDLE, _OBJECT, _CALLABLE, _OTHER = "bundle", "object", "callable", "other"


def _reference_kind(obj: object) -> str:
    """How a resolved reference is installed: a bundle, an engine object, a callable, neither."""
    if isinstance(obj, FunctionType):  # a module-level ``def``: the common case
        return _CALLABLE
    if isinstance(obj, list | tuple):
        return _BUNDLE
    if _object_kind(obj) is not None:
        return _OBJECT
    if callable(obj) and not isinstance(obj, type):
        return _CALLABLE
    return _OTHER


#: The Arrow input fields, return field, argument type names and return type name of a signature.
_Signature = tuple[list[pa.Field], pa.Field, list[str], str]


class _ProfileFunctions:
    """Turns ``[[udfs]]`` entries into functions, working out once per build what they share.

    Profiles name one module many times and repeat signatures, so each module is imported
    and each signature's Arrow fields and type names are made once per build.
    """

    __slots__ = ("_faults", "_resolver", "_signatures")

    def __init__(self, faults: UdfFaults, search: tuple[str, ...]) -> None:
        #: Where the checked callables keep their faults for the session's query facade.
        self._faults = faults
        self._resolver = ReferenceResolver(search)
        self._signatures: dict[tuple[tuple[pa.DataType, ...], pa.DataType], _Signature] = {}

    def collect(self, index: int, config: UdfConfig, out: list[_Function]) -> None:
        """Append the function(s) entry ``udfs.<index>`` names to ``out``."""
        ref = config.ref
        obj: Any = self._resolver.resolve(ref, f"udfs.{index}.ref")
        kind = _reference_kind(obj)
        args, returns = config.args, config.returns
        if kind is _CALLABLE and args is not None and returns is not None:
            # The common case: a plain callable with the signature the entry declares.
            signature = self._signatures.get((args, returns)) or self._signature(args, returns)
            in_fields, out_field, arg_names, return_name = signature
            name = config.name or _attribute_name(ref)
            volatility = config.volatility
            entry = {
                "name": name,
                "kind": "scalar",
                "args": arg_names.copy(),  # each entry its own list: records are plain data
                "returns": return_name,
                "volatility": volatility,
                "source": ref,
            }
            checked = CheckedFunction(obj, name, index, config, self._faults)
            function_obj = ScalarUDF(name, checked, in_fields, out_field, volatility)
            out.append(
                _Function(
                    name, "scalar", function_obj, ref, index, override=config.override, entry=entry
                )
            )
        elif kind is _BUNDLE:
            self._bundle(index, config, obj, out)
        elif kind is _OBJECT:
            out.append(self._object(index, config, obj))
        else:
            raise self._not_a_function(index, config, obj, kind)

    def _signature(self, args: tuple[pa.DataType, ...], returns: pa.DataType) -> _Signature:
        signature = self._signatures[args, returns] = (
            # The fields datafusion.udf(func, types, type, ...) would make.
            [pa.field(f"value_{i}", t) for i, t in enumerate(args)],
            pa.field("value", returns),
            [format_arrow_type(t) for t in args],
            format_arrow_type(returns),
        )
        return signature

    @staticmethod
    def _bundle(
        index: int, config: UdfConfig, obj: list[Any] | tuple[Any, ...], out: list[_Function]
    ) -> None:
        source = config.ref
        if not obj:
            raise _wrong_kind(source, obj, f"udfs.{index}.ref")
        declared = config.args is not None
        if declared or config.name is not None:
            raise ProfileError.at(
                f"udfs.{index}.{'args' if declared else 'name'}",
                f"{source!r} is a bundle of {len(obj)} functions; name, args and "
                "returns apply to a single plain callable, remove them",
            )
        override = config.override
        for position, member in enumerate(obj):
            member_source = f"{source}[{position}]"
            kind = _object_kind(member)
            if kind is None:
                raise _wrong_kind(
                    member_source, member, f"udfs.{index}.ref", " (bundle members must be objects)"
                )
            out.append(_engine_object(member, member_source, index, override, kind))

    @staticmethod
    def _object(index: int, config: UdfConfig, obj: object) -> _Function:
        source = config.ref
        if config.args is not None:
            raise ProfileError.at(
                f"udfs.{index}.args",
                f"{source!r} is a {type(obj).__name__}, which carries its own "
                "signature; args and returns are only for plain callables, remove them",
            )
        function = _engine_object(obj, source, index, config.override)
        if config.name is not None and config.name != function.name:
            raise ProfileError.at(
                f"udfs.{index}.name",
                f"{source!r} is a {type(obj).__name__} named {function.name!r}; "
                f"it cannot be renamed to {config.name!r} (remove name, or rename it "
                "where it is defined)",
            )
        return function

    @staticmethod
    def _not_a_function(index: int, config: UdfConfig, obj: object, kind: str) -> ProfileError:
        """The error for an entry naming neither function objects nor a declared callable."""
        source = config.ref
        if kind is not _CALLABLE:
            return _wrong_kind(source, obj, f"udfs.{index}.ref")
        hint = ""
        if hasattr(obj, "__wrapped__"):
            hint = (
                " (the @udf(...) decorator form returns a plain function: build the UDF "
                "with udf(func, ...) in the module, or declare the signature here)"
            )
        return ProfileError.at(
            f"udfs.{index}.args",
            f"{source!r} is a plain callable; declare its signature with "
            f"args = [...] and returns = '...' (and volatility) in the profile{hint}",
        )


def _from_entry_points() -> Iterator[_Function]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry in sorted(found, key=lambda e: (e.name, e.value)):
        dist = getattr(entry, "dist", None)
        package = f", package {dist.name}" if dist is not None else ""
        source = f"entry point {entry.name} = {entry.value}{package}"
        if not entry.attr:
            raise ProfileError.at(
                _ENTRY_POINTS_PATH,
                f"{source}: expected 'package.module:attribute' in group {ENTRY_POINT_GROUP!r}",
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


def _collect(
    udfs: tuple[UdfConfig, ...],
    faults: UdfFaults,
    search: tuple[str, ...],
    *,
    entry_points: bool,
) -> list[_Function]:
    """Every function the profile's entries (and, with ``entry_points``, packages) name."""
    functions: list[_Function] = []
    collector = _ProfileFunctions(faults, search)
    for index, config in enumerate(udfs):
        collector.collect(index, config, functions)
    if entry_points:
        functions.extend(_from_entry_points())
    _check_unique(functions, [f.name for f in functions])
    return functions


def _check_unique(functions: list[_Function], names: list[str]) -> None:
    if len(set(names)) == len(names):
        return
    seen: dict[str, _Function] = {}
    for function in functions:
        first = seen.setdefault(function.name, function)
        if first is not function:
            raise ProfileError.at(
                function.path,
                f"two functions are named {function.name!r}: {first.source!r} "
                f"({first.path}) and {function.source!r}; function names must be "
                "unique, remove or rename one",
            )


def _scratch_catalog() -> SessionContext:
    """A fresh context with information_schema on and no scalar, aggregate or window functions.

    information_schema lists every routine of a context; without the ~320 built-ins a query
    of it costs a fraction of a millisecond instead of over one and a half.
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


class _EngineCatalog(NamedTuple):
    """What a scratch context reports of the profile's function objects, from one registration."""

    #: Function name -> its args, returns and volatility as the engine reports them.
    signatures: dict[str, dict[str, Any]]
    #: The table functions a fresh context has (built-ins): the only list of them there is.
    table_functions: frozenset[str]


def _read_catalog(objects: list[_Function]) -> _EngineCatalog:
    """Register the scalar, aggregate and window objects on a scratch context and read them back.

    The objects carry their types only inside the engine (their Python classes expose a name
    and nothing else), so information_schema is the one place to read them. On the scratch
    context, emptied of built-ins, reading both tables costs ~0.6 ms for 200 functions; on the
    session's own context the ~320 built-ins make each read ~1.6 ms (one join of the two,
    ~7 ms). Table functions are not registered there: information_schema gives them no
    signature, and the fresh context's own table functions are what a profile's table
    function may shadow.

    information_schema names types by their logical kind (``Int64``, ``String`` for every
    string type, ``Date``), and says only whether a function is immutable (deterministic).
    Every object must come back listed under the name it reports: that is what registering
    it on the session's context makes visible there.
    """
    scratch = _scratch_catalog()
    engine_objects = [f for f in objects if f.kind != "table"]
    _register(scratch, engine_objects)
    wanted = {f.name for f in engine_objects}
    signatures: dict[str, dict[str, Any]] = {}
    tables: set[str] = set()
    for name, kind, det in _scan(scratch, *_ROUTINES):
        if kind == "TABLE":
            tables.add(name)
        elif name in wanted:
            volatility = "immutable" if det else "stable or volatile"
            signatures[name] = {"args": None, "returns": None, "volatility": volatility}
    missing = wanted.difference(signatures)
    if missing:
        described = ", ".join(
            f"{f.name!r} ({f.kind}, from {f.source!r})" for f in engine_objects if f.name in missing
        )
        raise DfSessionError(
            f"installed functions the engine does not list: {described}; the engine replaced "
            "or dropped them, check the function objects' names"
        )
    if engine_objects:
        _read_parameters(scratch, signatures)
    return _EngineCatalog(signatures, frozenset(tables))


def _read_parameters(scratch: SessionContext, signatures: dict[str, dict[str, Any]]) -> None:
    """Fill in the args and returns of ``signatures`` from information_schema.parameters."""
    # (name, rid) -> [(position, type) of each argument], return type.
    variants: dict[tuple[str, int], list[Any]] = {}
    for name, rid, mode, pos, type_ in _scan(scratch, *_PARAMETERS):
        if name not in signatures:
            continue
        variant = variants.get((name, rid))
        if variant is None:
            variant = variants[name, rid] = [[], None]
        if mode == "IN":
            variant[0].append((pos, type_))
        else:
            variant[1] = type_
    by_name: dict[str, list[tuple[int, list[str], str | None]]] = {}
    for (name, rid), (args, returns) in variants.items():
        args.sort()
        by_name.setdefault(name, []).append((rid, [type_ for _, type_ in args], returns))
    for name, found in by_name.items():  # most functions have one variant
        info = signatures[name]
        if len(found) == 1:
            _, info["args"], info["returns"] = found[0]
        else:
            found.sort(key=itemgetter(0))
            info["args"] = [args for _, args, _ in found]
            info["returns"] = [returns for _, _, returns in found]


def _scan(ctx: SessionContext, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``columns`` of a whole (small) table, as tuples."""
    data = ctx.table(table).to_arrow_table().select(columns).to_pydict()
    return zip(*(data[column] for column in columns), strict=True)


def _taken(ctx: SessionContext, names: list[str]) -> set[str]:
    """Which of ``names`` the engine has as a scalar, aggregate or window function already."""
    if not names:
        return set()
    return {*ctx.udfs(), *ctx.udafs(), *ctx.udwfs()}.intersection(names)


_NORMALIZATION = "datafusion.sql_parser.enable_ident_normalization"


def _check_callable_names(functions: list[_Function]) -> None:
    """A name with capitals is unreachable unquoted: SQL folds ``Upper(x)`` to ``upper``."""
    for function in functions:
        if function.name != function.name.lower():
            raise ProfileError.at(
                function.path,
                f"{function.source!r} is named {function.name!r}, but SQL folds unquoted "
                f"names to lower case, so {function.name}(...) would call "
                f"{function.name.lower()!r} instead; use a lower-case name (with "
                "override = true to shadow a built-in), or set "
                f'"{_NORMALIZATION}" = "false" in [settings]',
            )


def _check_shadowing(
    ctx: SessionContext, functions: list[_Function], tables: frozenset[str]
) -> list[str]:
    """Names that replace an engine function; an error unless that entry says ``override``.

    A scalar, aggregate or window function may shadow one of any of those kinds (SQL resolves
    a name across them), built in or installed by an earlier step; a table function, one of
    the built-in table functions ``tables`` names.
    """
    taken = _taken(ctx, [f.name for f in functions if f.kind != "table"])
    taken_tables = tables.intersection(f.name for f in functions if f.kind == "table")
    if not taken and not taken_tables:
        return []
    shadowed = []
    for function in functions:
        if function.name not in (taken_tables if function.kind == "table" else taken):
            continue
        if not function.override:
            what = "table function" if function.kind == "table" else "function"
            raise ProfileError.at(
                function.path,
                f"{function.source!r} would replace the engine's {what} "
                f"{function.name!r} (a built-in, or one an earlier step installed); "
                "set override = true on this entry to shadow it, or rename the function",
            )
        shadowed.append(function.name)
    return sorted(shadowed)


def _snapshot(functions: list[_Function], catalog: _EngineCatalog | None) -> list[dict[str, Any]]:
    """One entry per function, sorted by name: declared signatures, else the engine's."""
    signatures = catalog.signatures if catalog is not None else {}
    snapshot = []
    for function in functions:
        entry = function.entry
        if entry is None:
            info = signatures.get(function.name)
            if info is None:  # a table function: information_schema gives it no signature
                info = {"args": None, "returns": None, "volatility": None}
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
        """Resolve, check and register every function; record the snapshot."""
        profile = build.profile
        use_entry_points = profile.features.udf_entry_points
        if not profile.udfs and not use_entry_points:
            return StepRecord.skipped(
                self.name, "no [[udfs]] in the profile and features.udf_entry_points is false"
            )
        faults = UdfFaults()
        functions = _collect(
            profile.udfs, faults, profile.features.import_paths, entry_points=use_entry_points
        )
        # Function objects carry their signatures only inside the engine: read them (and the
        # built-in table functions) from a scratch context. Declared callables need neither.
        objects = [f for f in functions if f.entry is None]
        catalog = _read_catalog(objects) if objects else None
        ctx = build.ctx
        tables = catalog.table_functions if catalog is not None else frozenset()
        if profile.settings.get(_NORMALIZATION, "true").lower() != "false":
            _check_callable_names(functions)
        shadowed = _check_shadowing(ctx, functions, tables)
        # Each function registers under the name it was read by (the engine object's own, or
        # the one dfsession gave it), so it is listed under that name; no second listing.
        _register(ctx, functions)
        build.provide(faults)  # the query facade reports the checked functions' faults
        snapshot = _snapshot(functions, catalog)
        log.debug("dfsession.udfs", installed=len(snapshot), shadowed=shadowed)
        applied: dict[str, Any] = {"functions": snapshot}
        if shadowed:
            applied["shadowed"] = shadowed
        if use_entry_points:
            applied["entry_point_group"] = ENTRY_POINT_GROUP
        return StepRecord(step=self.name, applied=applied)

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Every function: Python functions run in this process only."""
        for index, config in enumerate(profile.udfs):
            label = config.name if config.name is not None else config.ref
            yield Unportable(f"udfs.{index}", f"{label!r}: {REASONS['python_function']}")
        if profile.features.udf_entry_points:
            yield Unportable(_ENTRY_POINTS_PATH, REASONS["entry_points"])
