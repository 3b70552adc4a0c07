"""Resolving ``package.module:attribute`` import references named in a profile."""

from __future__ import annotations

import importlib
import sys
from difflib import get_close_matches
from types import ModuleType

from dfsession.engine import one_line
from dfsession.errors import ProfileError
from dfsession.profile.values import ImportRef


def _is_missing_module(exc: ModuleNotFoundError, module: str) -> bool:
    """Whether ``exc`` says ``module`` itself (or a parent package of it) does not exist."""
    missing = exc.name or ""
    return bool(missing) and (module == missing or module.startswith(missing + "."))


def resolve_reference(reference: str, path: str) -> object:
    """Import ``package.module:attribute`` and return the attribute.

    Raises ``ProfileError`` at ``path`` naming the reference and why it does not resolve:
    the reference is malformed, the module is not found, importing it raised, or the
    attribute is missing.
    """
    return ReferenceResolver().resolve(reference, path)


class ReferenceResolver:
    """Resolves references as ``resolve_reference`` does, finding each module once.

    For a caller resolving many references in one go (a profile names one module once per
    function, and may name thousands); the caller owns it and drops it when done.
    """

    __slots__ = ("_modules",)

    def __init__(self) -> None:
        self._modules: dict[str, object] = {}

    def resolve(self, reference: str, path: str) -> object:
        """Import ``package.module:attribute`` and return the attribute (see above).

        A profile's references are ``ImportRef`` values already checked when it loaded;
        other text (an entry point's) is checked here.
        """
        try:
            ref = ImportRef.parse(reference)
        except ValueError as exc:
            raise ProfileError.at(path, str(exc)) from None
        module_name, attribute = ref.module, ref.attribute
        target = self._modules.get(module_name)
        if target is None:
            target = _imported(module_name)
            if target is None:
                target = _import(ref, module_name, path)
            self._modules[module_name] = target
        if "." not in attribute:  # the common case: a module-level name
            found = getattr(target, attribute, _MISSING)
            if found is not _MISSING:
                return found
        parts = attribute.split(".")
        for position, part in enumerate(parts):
            try:
                target = getattr(target, part)
            except AttributeError as exc:
                walked = f"{module_name}:{'.'.join(parts[:position])}" if position else module_name
                raise ProfileError.at(
                    path,
                    f"cannot resolve {ref!r}: {walked!r} has no attribute {part!r} "
                    f"({_suggest(target, part)})",
                ) from exc
        return target


_MISSING = object()


def _imported(module_name: str) -> object | None:
    """The module when it is already imported (and not still initializing), else ``None``.

    What ``importlib.import_module`` returns for such a module, without its per-call cost
    (profiles name one module once per function; a build may resolve thousands).
    """
    module = sys.modules.get(module_name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module


def _import(reference: str, module_name: str, path: str) -> object:
    """Import ``module_name``; a ``ProfileError`` at ``path`` naming ``reference`` if it fails."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _is_missing_module(exc, module_name):
            raise ProfileError.at(
                path,
                f"cannot resolve {reference!r}: module {exc.name!r} not found; install "
                "the package that provides it or fix the module path",
            ) from exc
        raise _import_raised(reference, module_name, path, exc) from exc
    except Exception as exc:
        raise _import_raised(reference, module_name, path, exc) from exc


def _suggest(target: object, missing: str) -> str:
    """Close matches among ``target``'s public names, else the first of them."""
    public = sorted(
        name
        for name in dir(target)
        if not name.startswith("_") and not isinstance(getattr(target, name, None), ModuleType)
    )
    close = get_close_matches(missing, public, n=3)
    if close:
        return "did you mean " + " or ".join(repr(name) for name in close) + "?"
    if not public:
        return "it has no public names"
    return "it has: " + ", ".join(public[:20]) + (", ..." if len(public) > 20 else "")


def _import_raised(reference: str, module: str, path: str, exc: BaseException) -> ProfileError:
    reason = one_line(exc)
    return ProfileError.at(
        path,
        f"cannot resolve {reference!r}: importing module {module!r} raised "
        f"{type(exc).__name__}: {reason}",
    )
