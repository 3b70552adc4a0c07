"""Profiles in layers: ``extends``, ``[env.NAME]`` overlays, and where every value came from.

All of it works on plain data, before the one parser runs: each file is read with tomllib, the
layers it ``extends`` are applied first, in order, then the file itself; tables merge key by key
at any depth, arrays and scalars replace. The chosen environment's overlay goes over the result.
Every key keeps its ``Origin`` (file, environment, variable or override).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from dfsession.errors import ProfileError
from dfsession.profile.convert import MAX_DEPTH
from dfsession.profile.values import did_you_mean

__all__ = [
    "ENV_VARIABLE",
    "Key",
    "Origin",
    "Origins",
    "dotted",
    "leaves",
    "merge_into",
    "merge_layers",
    "read_layers",
    "read_profile_file",
    "select_environment",
]

#: A key of the profile as its path of table names: ``("datasets", "trips", "location")``.
Key = tuple[str, ...]
#: The environment variable that selects an environment when none is given.
ENV_VARIABLE = "DFSESSION_ENV"


def dotted(key: Key) -> str:
    """``datasets.trips.location``: a key as profile errors and provenance write it."""
    return ".".join(map(str, key))


@attrs.frozen
class Origin:
    """Where a value came from: a file, an environment of it, variables, or an override.

    ``folder`` is where the relative paths the source declares lead from (``None``: they stay
    as written, meaning the working directory).
    """

    source: str
    folder: str | None = None
    variables: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.variables:
            return ", ".join(f"${{{name}}}" for name in self.variables)
        return self.source

    def describe(self) -> str:
        """For messages: the variables and the source they were written in."""
        return f"{self} in {self.source}" if self.variables else self.source

    def in_environment(self, name: str) -> Origin:
        """This origin as the overlay of environment ``name`` (``analytics.toml [env.prod]``)."""
        return attrs.evolve(self, source=f"{self.source} [env.{name}]")


class Origins:
    """The origin of each key: its own, else the nearest table's above it, else ``default``."""

    __slots__ = ("_keys", "default")

    def __init__(self, default: Origin) -> None:
        self.default = default
        self._keys: dict[Key, Origin] = {}

    def set(self, key: Key, origin: Origin) -> None:
        """``key`` (a value, or a table as a whole) came from ``origin``."""
        self._keys[key] = origin

    def of(self, key: Key) -> Origin:
        """Where ``key`` came from."""
        for end in range(len(key), 0, -1):
            found = self._keys.get(key[:end])
            if found is not None:
                return found
        return self.default

    def of_path(self, path: str) -> Origin:
        """Where the dotted ``path`` of an error came from (table names may hold dots)."""
        by_path = {dotted(key): origin for key, origin in self._keys.items()}
        while path:
            found = by_path.get(path)
            if found is not None:
                return found
            path = path.rpartition(".")[0]
        return self.default

    @property
    def layered(self) -> bool:
        """Whether more than one source made the profile (its errors then name theirs)."""
        return any(origin != self.default for origin in self._keys.values())


# -- files --------------------------------------------------------------------------------------


def read_profile_file(file: Path) -> dict[str, Any]:
    """The TOML document of a profile file; any failure to read it names the file."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        reason = "does not exist"
    except IsADirectoryError:
        reason = "is a folder; give the path of a .toml file"
    except UnicodeDecodeError as exc:
        reason = f"is not UTF-8 text ({exc.reason})"
    except OSError as exc:
        reason = f"cannot be read: {exc.strerror}"
    else:
        return _parse_toml(file, text)
    raise ProfileError.at("", f"profile file {str(file)!r} {reason}")


def _parse_toml(file: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
    except RecursionError:
        reason = "nested too deeply (no profile nests more than a few levels)"
    except ValueError:  # tomllib reads integers with int(), which refuses 4,300+ digits
        reason = "an integer too long to read; TOML integers are 64-bit (-2^63 to 2^63-1)"
    raise ProfileError.at("", f"{file}: not valid TOML: {reason}")


# -- extends ------------------------------------------------------------------------------------

Layer = tuple[Mapping[str, Any], Origin]


def read_layers(root: Mapping[str, Any], origin: Origin, file: Path | None) -> list[Layer]:
    """``root`` and every layer it extends, in the order they apply (each file once).

    ``extends`` names files relative to the folder of the file naming them; a file reached a
    second time (two layers sharing a base) applies once, where it was first reached.
    """
    reader = _LayerReader(Path(origin.folder) if origin.folder is not None else Path.cwd())
    reader.visit(root, origin, ((file, origin.source),))
    return reader.layers


class _LayerReader:
    """Reads the layers a profile extends, depth first, each file once."""

    def __init__(self, root_folder: Path) -> None:
        self.root_folder = root_folder
        self.seen: set[Path] = set()
        self.layers: list[Layer] = []

    def visit(
        self, data: Mapping[str, Any], origin: Origin, chain: tuple[tuple[Path | None, str], ...]
    ) -> None:
        """Apply the layers ``data`` extends, then ``data``; ``chain`` is how it was reached."""
        folder = Path(origin.folder) if origin.folder is not None else Path.cwd()
        for name in _extends(data, origin):
            target = (folder / name).resolve()
            label = self._check(name, target, chain)
            if target not in self.seen:
                self.seen.add(target)
                layer = read_profile_file(target)
                self.visit(layer, Origin(label, str(target.parent)), (*chain, (target, label)))
        self.layers.append(({k: v for k, v in data.items() if k != "extends"}, origin))

    def _check(self, name: str, target: Path, chain: tuple[tuple[Path | None, str], ...]) -> str:
        """The label of layer ``target``; a cycle or a missing file is an error naming the chain."""
        label = Path(os.path.relpath(target, self.root_folder)).as_posix()
        labels = " -> ".join(text for _file, text in chain)
        if any(file == target for file, _text in chain):
            message = (
                f"layers extend each other in a cycle: {labels} -> {label}; "
                "remove one of these extends"
            )
        elif target.is_dir():
            message = (
                f"{labels} extends {name!r}, which is a folder ({target}); name a .toml file in it"
            )
        elif not target.is_file():
            message = (
                f"{labels} extends {name!r}, which does not exist ({target}); "
                f"paths in extends are relative to the folder of {chain[-1][1]}"
            )
        else:
            return label
        raise ProfileError.at("extends", message)


def _extends(data: Mapping[str, Any], origin: Origin) -> list[str]:
    value = data.get("extends", [])
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ProfileError.at(
            "extends",
            f"expected a file name or a list of them, such as ['base.toml'] (in {origin.source})",
        )
    return names


# -- merging ------------------------------------------------------------------------------------


def merge_layers(layers: list[Layer], origins: Origins) -> dict[str, Any]:
    """One table of the layers applied in order, each key's origin set in ``origins``."""
    merged: dict[str, Any] = {}
    for data, origin in layers:
        merge_into(merged, data, key=(), origins=origins, origin_of=_always(origin))
    return merged


def _always(origin: Origin) -> Callable[[Key], Origin]:
    return lambda _key: origin


def merge_into(
    into: dict[str, Any],
    layer: Mapping[str, Any],
    *,
    key: Key,
    origins: Origins,
    origin_of: Callable[[Key], Origin],
    depth: int = 0,
) -> None:
    """Lay ``layer`` over ``into``: tables merge key by key; arrays and scalars replace."""
    for name, value in layer.items():
        here = (*key, name)
        if isinstance(value, Mapping) and depth < MAX_DEPTH:
            current = into.get(name)
            if not isinstance(current, dict):
                current = into[name] = {}
                origins.set(here, origin_of(here))
            merge_into(
                current, value, key=here, origins=origins, origin_of=origin_of, depth=depth + 1
            )
        else:
            into[name] = value
            origins.set(here, origin_of(here))


# -- environments -------------------------------------------------------------------------------


def select_environment(
    data: dict[str, Any], env: str | None, environ: Mapping[str, str], origins: Origins
) -> dict[str, Any]:
    """``data`` without its ``env`` tables, the selected one laid over it.

    ``env`` is the name asked for; ``None`` reads ``DFSESSION_ENV``; none at all leaves the base.
    """
    environments = data.pop("env", {})
    asked = env if env is not None else environ.get(ENV_VARIABLE) or None
    _check_tables(environments)
    if asked is None:
        return data
    overlay = environments.get(asked)
    if overlay is None:
        raise ProfileError.at("env", _unknown_environment(asked, env is None, environments))
    merge_into(
        data,
        overlay,
        key=(),
        origins=origins,
        origin_of=lambda key: origins.of(("env", asked, *key)).in_environment(asked),
    )
    return data


def _check_tables(environments: Any) -> None:
    """``env`` is a table of ``[env.NAME]`` tables; each one that is not is named."""
    if not isinstance(environments, Mapping):
        raise ProfileError.at(
            "env", "expected [env.NAME] tables, each an overlay of profile sections"
        )
    if not all(isinstance(name, str) for name in environments):
        raise ProfileError.at("env", "environment names must be text; quote them")
    problems = [
        (
            f"env.{name}",
            f"expected a table of profile sections, such as [env.{name}.execution], "
            "not a single value",
        )
        for name, overlay in environments.items()
        if not isinstance(overlay, Mapping)
    ]
    if problems:
        raise ProfileError(problems)


def _unknown_environment(name: str, from_variable: bool, defined: Mapping[str, Any]) -> str:
    where = f" (from {ENV_VARIABLE})" if from_variable else ""
    if not defined:
        return f"environment {name!r}{where} is not defined: the profile has no [env.NAME] tables"
    names = ", ".join(sorted(defined))
    return (
        f"environment {name!r}{where} is not defined; the profile defines: {names}"
        + did_you_mean(name, defined)
    )


def leaves(data: Mapping[str, Any], key: Key = ()) -> Iterator[tuple[Key, Any]]:
    """Every key of ``data`` that holds a value (arrays are values), with it, depth first."""
    for name, value in data.items():
        here = (*key, name)
        if isinstance(value, Mapping) and value:
            yield from leaves(value, here)
        else:
            yield here, value
