"""Provider datasets: a table provider object that another library makes, named by reference.

The reference names an object exposing ``__datafusion_table_provider__`` (a compiled plugin's
FFI table provider) or a ``datafusion.catalog.Table``, or a callable that returns one given the
dataset's ``options`` as a dict. FFI objects pass the native-plugin guard before the engine
sees them, and the engine's refusal of one becomes ``IncompatibleVersionsError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from datafusion import SessionContext
from datafusion.catalog import Table

from dfsession.engine.text import describe_object, one_line
from dfsession.engine.versions import PluginGuard
from dfsession.errors import ProfileError
from dfsession.profile.datasets import ProviderDataset, plain_options

__all__ = ["TABLE_PROVIDER", "Resolve", "register_provider", "table_provider"]

#: Imports a ``package.module:attribute`` reference: ``resolve(reference, dotted_path)``,
#: raising ``ProfileError`` at the path (``dfsession.imports.ReferenceResolver.resolve``).
Resolve = Callable[[str, str], object]

#: The PyCapsule protocol of an FFI table provider.
TABLE_PROVIDER = "__datafusion_table_provider__"


def _is_provider(obj: object) -> bool:
    return isinstance(obj, Table) or (not inspect.isclass(obj) and hasattr(obj, TABLE_PROVIDER))


def table_provider(name: str, spec: ProviderDataset, resolve: Resolve) -> Any:
    """The provider ``spec.ref`` names, called with the options when it is a callable.

    Every failure is a ``ProfileError`` at ``datasets.<name>.ref``: the reference does not
    import, the callable raises, or what it gives is no table provider.
    """
    path = f"datasets.{name}.ref"
    target = resolve(spec.ref, path)
    if _is_provider(target):
        if spec.options:
            raise ProfileError.at(
                path,
                f"{spec.ref!r} is a table provider, not a callable, so it takes no options: "
                f"remove datasets.{name}.options, or point ref at a callable that takes them",
            )
        return target
    if not callable(target):
        raise ProfileError.at(path, _not_a_provider(spec.ref, f"is {describe_object(target)}"))
    try:
        provider = target(plain_options(spec.options))
    except Exception as exc:
        raise ProfileError.at(
            path,
            f"calling {spec.ref!r} with datasets.{name}.options raised "
            f"{type(exc).__name__}: {one_line(exc)}",
        ) from exc
    if not _is_provider(provider):
        returned = f"returned {describe_object(provider)}"
        raise ProfileError.at(path, _not_a_provider(spec.ref, returned))
    return provider


def _not_a_provider(ref: str, what: str) -> str:
    return (
        f"{ref!r} {what}, which is no table provider: point ref at an object exposing "
        f"{TABLE_PROVIDER} (or a datafusion.catalog.Table), or at a callable returning one"
    )


def register_provider(
    name: str,
    spec: ProviderDataset,
    guard: PluginGuard,
    resolve: Resolve,
    ctx: SessionContext,
) -> dict[str, Any]:
    """The provider adapter: resolve, guard and register the table; its facts."""
    provider = table_provider(name, spec, resolve)
    if isinstance(provider, Table):  # the engine's own table: no plugin in between
        ctx.register_table(name, provider)
        return {"ref": str(spec.ref), "provider": "datafusion"}
    plugin = guard.check_object(provider)
    with guard.handing(plugin):
        ctx.register_table(name, provider)
    return {
        "ref": str(spec.ref),
        "provider": "native",
        "package": plugin.package,
        "package_version": plugin.version,
    }
