"""Resolving ``package.module:attribute`` import references named in a profile."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

from dfsession.engine.text import one_line
from dfsession.errors import ProfileError
from dfsession.profile.values import ImportRef, did_you_mean

__all__ = ["ReferenceResolver", "resolve_reference"]


def _is_missing_module(exc: ModuleNotFoundError, module: str) -> bool:
    """Whether ``exc`` says ``module`` itself (or a parent package of it) does not exist."""
    missing = exc.name or ""
    return bool(missing) and (module == missing or module.startswith(missing + "."))


def resolve_reference(reference: str, path: str, search: tuple[str, ...] = ()) -> object:
    """Import ``package.module:attribute`` and return the attribute.

    Modules are looked up in the ``search`` folders (``features.import_paths``) first, then on
    ``sys.path``. Raises ``ProfileError`` at ``path`` naming the reference and why it does not
    resolve: the reference is malformed, the module is not found, importing it raised, or the
    attribute is missing.
    """
    return ReferenceResolver(search).resolve(reference, path)


class ReferenceResolver:
    """Resolves references as ``resolve_reference`` does, importing each module once.

    For a caller resolving many references in one go (a profile names one module once per
    function, and may name thousands); the caller owns it and drops it when done.
    """

    __slots__ = ("_modules", "_search")

    def __init__(self, search: tuple[str, ...] = ()) -> None:
        self._modules: dict[str, ModuleType] = {}
        self._search = search

    def resolve(self, reference: str, path: str) -> object:
        """Import ``package.module:attribute`` and return the attribute (see above).

        A profile's references are ``ImportRef`` values already checked when it loaded;
        other text (an entry point's) is checked here.
        """
        try:
            ref = ImportRef.parse(reference)
        except ValueError as exc:
            raise ProfileError.at(path, str(exc)) from None
        module = self._modules.get(ref.module)
        if module is None:
            with _searching(self._search):
                module = self._modules[ref.module] = _import(ref, ref.module, path)
        target: object = module
        parts = ref.attribute.split(".")
        for position, part in enumerate(parts):
            try:
                target = getattr(target, part)
            except AttributeError as exc:
                walked = f"{ref.module}:{'.'.join(parts[:position])}" if position else ref.module
                raise ProfileError.at(
                    path,
                    f"cannot resolve {ref!r}: {walked!r} has no attribute {part!r}"
                    f"{_suggest(target, part)}",
                ) from exc
        return target


def _import(reference: str, module_name: str, path: str) -> ModuleType:
    """Import ``module_name``; a ``ProfileError`` at ``path`` naming ``reference`` if it fails."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _is_missing_module(exc, module_name):
            raise ProfileError.at(
                path,
                f"cannot resolve {reference!r}: module {exc.name!r} not found; install "
                "the package that provides it, fix the module path, or add its folder "
                "to features.import_paths",
            ) from exc
        raise _import_raised(reference, module_name, path, exc) from exc
    except Exception as exc:
        raise _import_raised(reference, module_name, path, exc) from exc


@contextlib.contextmanager
def _searching(folders: tuple[str, ...]) -> Iterator[None]:
    """``folders`` first on ``sys.path`` while a module is imported; taken off again after.

    Modules imported meanwhile stay imported (``sys.modules``), as after any import.
    """
    added = [folder for folder in folders if folder not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


def _suggest(target: object, missing: str) -> str:
    """A close match among ``target``'s public names, else the first of them."""
    public = sorted(
        name
        for name in dir(target)
        if not name.startswith("_") and not isinstance(getattr(target, name, None), ModuleType)
    )
    close = did_you_mean(missing, public)
    if close or not public:
        return close or " (it has no public names)"
    return f" (it has: {', '.join(public[:20])}{', ...' if len(public) > 20 else ''})"


def _import_raised(reference: str, module: str, path: str, exc: BaseException) -> ProfileError:
    reason = one_line(exc)
    return ProfileError.at(
        path,
        f"cannot resolve {reference!r}: importing module {module!r} raised "
        f"{type(exc).__name__}: {reason}",
    )
