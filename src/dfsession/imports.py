"""Resolving ``package.module:attribute`` import references named in a profile."""

from __future__ import annotations

import importlib
from difflib import get_close_matches
from types import ModuleType

from dfsession.errors import ProfileError
from dfsession.profile.values import check_import_ref


def _is_missing_module(exc: ModuleNotFoundError, module: str) -> bool:
    """Whether ``exc`` says ``module`` itself (or a parent package of it) does not exist."""
    missing = exc.name or ""
    return bool(missing) and (module == missing or module.startswith(missing + "."))


def resolve_reference(reference: str, path: str) -> object:
    """Import ``package.module:attribute`` and return the attribute.

    Raises ``ProfileError`` at ``path`` naming the reference and why it does not resolve:
    the module is not found, importing it raised, or the attribute is missing.
    """
    try:
        check_import_ref(reference)
    except ValueError as exc:
        raise ProfileError([(path, str(exc))]) from None
    module_name, _, attribute = reference.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _is_missing_module(exc, module_name):
            raise ProfileError(
                [
                    (
                        path,
                        f"cannot resolve {reference!r}: module {exc.name!r} not found; install "
                        "the package that provides it or fix the module path",
                    )
                ]
            ) from exc
        raise _import_raised(reference, module_name, path, exc) from exc
    except Exception as exc:
        raise _import_raised(reference, module_name, path, exc) from exc
    walked = module_name
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ProfileError(
                [
                    (
                        path,
                        f"cannot resolve {reference!r}: {walked!r} has no attribute {part!r} "
                        f"({_suggest(target, part)})",
                    )
                ]
            ) from exc
        walked = f"{walked}:{part}" if walked == module_name else f"{walked}.{part}"
    return target


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
    reason = str(exc).replace("\n", " ")
    return ProfileError(
        [
            (
                path,
                f"cannot resolve {reference!r}: importing module {module!r} raised "
                f"{type(exc).__name__}: {reason}",
            )
        ]
    )
