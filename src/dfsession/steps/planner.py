"""The ``extensions`` and ``planner`` steps: codecs, extension bundles, optimizer rules."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import attrs
import datafusion
from datafusion import SessionContext

from dfsession.engine.cluster import REASONS
from dfsession.engine.context import set_option
from dfsession.engine.text import describe_object, one_line
from dfsession.engine.versions import NativePlugins, PluginGuard, PluginVersion
from dfsession.errors import IncompatibleVersionsError, ProfileError
from dfsession.imports import resolve_reference
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.model import SessionProfile
from dfsession.profile.sections import PlannerConfig
from dfsession.profile.values import did_you_mean
from dfsession.record import StepRecord

__all__ = [
    "ExtensionsStep",
    "LOGICAL_CODEC",
    "PHYSICAL_CODEC",
    "PHYSICAL_RULE",
    "PlannerStep",
    "QUERY_PLANNER",
    "SESSION_COMPONENTS",
    "SESSION_PLANNER",
    "effective_rules",
]

LOGICAL_CODEC = "__datafusion_logical_extension_codec__"
PHYSICAL_CODEC = "__datafusion_physical_extension_codec__"
SESSION_COMPONENTS = "__datafusion_session_components__"
SESSION_PLANNER = "__datafusion_session_planner__"
PHYSICAL_RULE = "__datafusion_physical_optimizer_rule__"
QUERY_PLANNER = "__datafusion_query_planner__"

_RULES_QUERY = "EXPLAIN VERBOSE SELECT 1"
T = TypeVar("T")


def _require_protocol(
    ref: str, obj: object, path: str, protocols: tuple[str, ...], what: str
) -> None:
    """Refuse a class, or an object that exposes none of ``protocols``, naming ref and protocol."""
    wanted = " or ".join(protocols)
    if inspect.isclass(obj):
        raise ProfileError.at(
            path,
            f"{ref!r} is the class {obj.__module__}.{obj.__qualname__}; {what} is an "
            f"instance exposing {wanted}: point the reference at an instance",
        )
    if not any(hasattr(obj, protocol) for protocol in protocols):
        raise ProfileError.at(
            path,
            f"{ref!r} is {describe_object(obj)}, which does not expose {wanted}; {what} must "
            "come from a compiled DataFusion extension exposing that PyCapsule protocol",
        )


def _capsule(ref: str) -> str:
    return f"{ref!r}: {REASONS['planner_capsule']}"


def _guard(build: SessionBuild) -> PluginGuard:
    """The native-plugin guard, noting what it checks for the session's report."""
    return (build.get(PluginGuard) or PluginGuard()).noting(build.get(NativePlugins))


def _handed(
    guard: PluginGuard,
    objects: Sequence[object],
    where: tuple[str, str, str],
    hand: Callable[[], T],
) -> T:
    """``hand()`` the engine extension ``objects`` once the guard passed each one.

    ``where``: the reference, profile path and kind of object, for a refusal. The engine's
    refusal of a plugin built for another DataFusion becomes ``IncompatibleVersionsError``.
    """
    ref, path, what = where
    plugins = [guard.check_object(obj) for obj in objects]
    plugin = plugins[0]
    if len(plugins) > 1:
        packages = ", ".join(p.package for p in plugins)
        plugin = PluginVersion(packages, ", ".join(p.version for p in plugins), None, "")
    try:
        with guard.handing(plugin):
            return hand()
    except IncompatibleVersionsError:
        raise
    except Exception as exc:
        raise _engine_rejected(ref, path, what, exc) from exc


def _with_codec(ctx: SessionContext, codec: Any) -> SessionContext:
    """``ctx`` with ``codec`` as its logical and/or physical extension codec."""
    if hasattr(codec, LOGICAL_CODEC):
        ctx = ctx.with_logical_extension_codec(codec)
    if hasattr(codec, PHYSICAL_CODEC):
        ctx = ctx.with_physical_extension_codec(codec)
    return ctx


def _engine_rejected(ref: str, path: str, what: str, exc: Exception) -> ProfileError:
    reason = one_line(exc)
    return ProfileError.at(
        path, f"the engine rejected {what} {ref!r}: {type(exc).__name__}: {reason}"
    )


def effective_rules(ctx: SessionContext) -> dict[str, list[str]]:
    """The analyzer, logical optimizer and physical optimizer rule names ``ctx`` runs, in order.

    Read from ``EXPLAIN VERBOSE``, which reports the plan after every rule.
    """
    plan_types = ctx.sql(_RULES_QUERY).to_pydict()["plan_type"]
    rules: dict[str, list[str]] = {"analyzer": [], "logical": [], "physical": []}
    phase = "analyzer"
    for plan_type in plan_types:
        if plan_type == "analyzed_logical_plan":
            phase = "logical"
        elif plan_type.startswith("physical_plan after "):
            rules["physical"].append(plan_type.removeprefix("physical_plan after "))
        elif plan_type.startswith("logical_plan after "):
            name = plan_type.removeprefix("logical_plan after ")
            if name not in rules[phase]:  # later optimizer passes repeat the rules
                rules[phase].append(name)
    return rules


@attrs.frozen(cache_hash=True)
class ExtensionsStep:
    """Install extension codecs, then ``with_extensions`` bundles; both return a new context."""

    name: str = "extensions"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"extensions"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Hand the new context back through ``build.ctx``; the record lists the codec ids."""
        planner = build.profile.planner
        if not planner.codecs and not planner.bundles:
            return StepRecord.skipped(self.name, "no planner.codecs or planner.bundles")
        ctx, guard = build.ctx, _guard(build)
        codecs: list[dict[str, Any]] = []
        for index, ref in enumerate(planner.codecs):
            path = f"planner.codecs.{index}"
            codec: Any = resolve_reference(ref, path, build.profile.features.import_paths)
            _require_protocol(ref, codec, path, (LOGICAL_CODEC, PHYSICAL_CODEC), "a codec")
            ctx = _handed(guard, [codec], (ref, path, "codec"), partial(_with_codec, ctx, codec))
            logical, physical = hasattr(codec, LOGICAL_CODEC), hasattr(codec, PHYSICAL_CODEC)
            codecs.append({"ref": ref, "logical": logical, "physical": physical})
        if planner.bundles:
            search = build.profile.features.import_paths
            ctx = self._with_bundles(ctx, planner.bundles, search, guard)
        build.ctx = ctx
        return StepRecord(
            step=self.name,
            applied={
                "codecs": codecs,
                "bundles": list(planner.bundles),
                "logical_codec_ids": list(ctx.logical_extension_codec_ids()),
                "physical_codec_ids": list(ctx.physical_extension_codec_ids()),
            },
        )

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Codecs and bundles: compiled extensions of this process."""
        planner = profile.planner
        for section, refs in (("codecs", planner.codecs), ("bundles", planner.bundles)):
            for index, ref in enumerate(refs):
                yield Unportable(f"planner.{section}.{index}", _capsule(ref))

    @staticmethod
    def _with_bundles(
        ctx: SessionContext, refs: tuple[str, ...], search: tuple[str, ...], guard: PluginGuard
    ) -> SessionContext:
        if not hasattr(ctx, "with_extensions"):
            raise IncompatibleVersionsError(
                f"planner.bundles needs SessionContext.with_extensions, which datafusion "
                f"{datafusion.__version__} lacks; upgrade datafusion or remove planner.bundles"
            )
        bundles: list[Any] = []
        for index, ref in enumerate(refs):
            path = f"planner.bundles.{index}"
            bundle = resolve_reference(ref, path, search)
            _require_protocol(ref, bundle, path, (SESSION_COMPONENTS, SESSION_PLANNER), "a bundle")
            bundles.append(bundle)
        where = (", ".join(refs), "planner.bundles", "bundles")
        new_ctx: SessionContext = _handed(
            guard, bundles, where, partial(ctx.with_extensions, *bundles)
        )
        return new_ctx


@attrs.frozen(cache_hash=True)
class PlannerStep:
    """Optimizer settings, removed logical rules, physical rules and a query planner."""

    name: str = "planner"
    requires: frozenset[str] = frozenset({"context", "extensions"})
    provides: frozenset[str] = frozenset({"planner"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Apply each change in place; the record lists them (and, if asked, the rule names)."""
        planner = build.profile.planner
        if not _asks_for_work(planner):
            return StepRecord.skipped(self.name, "no [planner] settings, rules or planner")
        ctx, search = build.ctx, build.profile.features.import_paths
        applied: dict[str, Any] = {}
        if planner.optimizer:
            applied["optimizer"] = _set_optimizer(ctx, planner.optimizer)
        if planner.disable_rules:
            applied["removed_rules"] = self._remove_rules(ctx, planner.disable_rules)
        if planner.physical_rules:
            rules = planner.physical_rules
            applied["physical_rules"] = _add_physical_rules(ctx, rules, search, _guard(build))
        if planner.query_planner is not None:
            query_planner = planner.query_planner
            applied["query_planner"] = _set_query_planner(ctx, query_planner, search, _guard(build))
        if planner.record_rules:
            applied["effective_rules"] = effective_rules(ctx)
        return StepRecord(step=self.name, applied=applied)

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Removed rules, physical rules and a query planner: the scheduler plans with its own."""
        planner = profile.planner
        for index, name in enumerate(planner.disable_rules):
            yield Unportable(
                f"planner.disable_rules.{index}", f"{name!r}: {REASONS['disable_rules']}"
            )
        for index, ref in enumerate(planner.physical_rules):
            yield Unportable(f"planner.physical_rules.{index}", _capsule(ref))
        if planner.query_planner is not None:
            yield Unportable("planner.query_planner", _capsule(planner.query_planner))

    @staticmethod
    def _remove_rules(ctx: SessionContext, names: tuple[str, ...]) -> list[str]:
        removed: list[str] = []
        for index, name in enumerate(names):
            path = f"planner.disable_rules.{index}"
            if name in removed:
                raise ProfileError.at(path, f"rule {name!r} is listed twice; remove one")
            if ctx.remove_optimizer_rule(name):
                removed.append(name)
                continue
            rules = effective_rules(ctx)
            known = rules["logical"]
            hint = did_you_mean(name, known)
            if name in rules["analyzer"]:
                hint = f"; {name!r} is an analyzer rule, which cannot be removed"
            elif name in rules["physical"]:
                hint = f"; {name!r} is a physical optimizer rule, which cannot be removed"
            raise ProfileError.at(
                path,
                f"unknown logical optimizer rule {name!r} (known rules: {', '.join(known)}){hint}",
            )
        return removed


def _asks_for_work(planner: PlannerConfig) -> bool:
    """Whether ``[planner]`` asks this step for anything (codecs and bundles are extensions)."""
    return bool(
        planner.optimizer
        or planner.disable_rules
        or planner.physical_rules
        or planner.query_planner is not None
        or planner.record_rules
    )


def _set_optimizer(ctx: SessionContext, optimizer: Mapping[str, str]) -> dict[str, str]:
    """Set each ``planner.optimizer`` option; an unknown key or bad value names the key."""
    for key, value in optimizer.items():
        try:
            set_option(ctx, key, value)
        except ValueError as exc:
            raise ProfileError.at(f"planner.optimizer.{key}", str(exc)) from exc
    return dict(optimizer)


def _add_physical_rules(
    ctx: SessionContext, refs: Sequence[str], search: tuple[str, ...], guard: PluginGuard
) -> list[str]:
    """Add each physical optimizer rule the references name, in order."""
    for index, ref in enumerate(refs):
        _install(
            ref,
            f"planner.physical_rules.{index}",
            PHYSICAL_RULE,
            "physical optimizer rule",
            ctx.add_physical_optimizer_rule,
            search=search,
            guard=guard,
        )
    return list(refs)


def _set_query_planner(
    ctx: SessionContext, ref: str, search: tuple[str, ...], guard: PluginGuard
) -> str:
    """Install the query planner the reference names."""
    if not hasattr(ctx, "set_query_planner"):
        raise IncompatibleVersionsError(
            f"planner.query_planner needs SessionContext.set_query_planner, which datafusion "
            f"{datafusion.__version__} lacks; upgrade datafusion or remove planner.query_planner"
        )
    _install(
        ref,
        "planner.query_planner",
        QUERY_PLANNER,
        "query planner",
        ctx.set_query_planner,
        search=search,
        guard=guard,
    )
    return ref


def _install(
    ref: str,
    path: str,
    protocol: str,
    what: str,
    install: Callable[[Any], Any],
    *,
    search: tuple[str, ...],
    guard: PluginGuard,
) -> None:
    """Resolve ``ref``, check it exposes ``protocol`` and hand it to the engine's ``install``."""
    obj: Any = resolve_reference(ref, path, search)
    _require_protocol(ref, obj, path, (protocol,), f"a {what}")
    _handed(guard, [obj], (ref, path, what), partial(install, obj))
