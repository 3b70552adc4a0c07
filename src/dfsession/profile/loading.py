"""From files or a mapping to the one table the parser reads, in a fixed order.

Layers (``extends``) merge, the selected environment goes over them, variables are filled in,
overrides go last, and relative paths are joined to the folder of the file that declared them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from dfsession.errors import ProfileError
from dfsession.profile.convert import structure
from dfsession.profile.interpolation import interpolate
from dfsession.profile.layers import (
    ENV_VARIABLE,
    Origin,
    Origins,
    merge_layers,
    read_layers,
    read_profile_file,
    select_environment,
)
from dfsession.profile.overrides import apply_overrides, check_environments
from dfsession.profile.paths import resolve_paths

__all__ = ["MAPPING", "Composed", "compose_file", "compose_mapping"]

T = TypeVar("T")
#: The origin of the keys of a mapping given to ``SessionProfile.from_dict``.
MAPPING = "<dict>"


@attrs.frozen(eq=False)
class Composed:
    """The one table to parse, and the origin of each of its keys."""

    data: dict[str, Any]
    origins: Origins

    def parse(self, cls: type[T]) -> T:
        """Parse the table into ``cls``; in a layered profile each problem names its source."""
        origins = self.origins
        try:
            return structure(self.data, cls)
        except ProfileError as exc:
            if not origins.layered:
                raise
            problems = [
                (path, f"{message} (from {origins.of_path(path).describe()})")
                for path, message in exc.problems
            ]
        raise ProfileError(problems)


def compose_file(
    path: str | os.PathLike[str],
    *,
    env: str | None,
    environ: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None,
    profile_type: type,
) -> Composed:
    """The profile file at ``path`` and its layers, composed; relative paths lead from them."""
    root = read_profile_file(Path(path))  # errors name the file as it was given
    file = Path(path).resolve()
    folder = str(file.parent)
    origin = Origin(file.name, folder)
    return _compose(
        root, origin, file, env=env, environ=environ, overrides=overrides, profile_type=profile_type
    )


def compose_mapping(
    data: Mapping[str, Any],
    *,
    env: str | None,
    environ: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None,
    base_dir: str | os.PathLike[str] | None,
    profile_type: type,
) -> Composed:
    """``data`` and its layers, composed; its relative paths lead from ``base_dir``.

    Without ``base_dir`` they stay as written (meaning the working directory) and ``extends``
    reads files from the working directory.
    """
    folder = None if base_dir is None else str(Path(base_dir).resolve())
    origin = Origin(MAPPING, folder)
    return _compose(
        data, origin, None, env=env, environ=environ, overrides=overrides, profile_type=profile_type
    )


def _compose(
    root: Mapping[str, Any],
    origin: Origin,
    file: Path | None,
    *,
    env: str | None,
    environ: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None,
    profile_type: type,
) -> Composed:
    environ = os.environ if environ is None else environ
    origins = Origins(origin)
    if not isinstance(root, Mapping):
        structure(root, profile_type)  # raises the parser's own error for data that is no table
    layers = read_layers(root, origin, file)
    overlaid = bool(overrides) or env is not None or bool(environ.get(ENV_VARIABLE))
    if len(layers) == 1 and not overlaid:
        data = dict(layers[0][0])  # one source: nothing merges, nothing is changed in place
    else:
        data = merge_layers(layers, origins)
    check_environments(data.get("env"), origins, profile_type)
    data = select_environment(data, env, environ, origins)
    data = interpolate(data, environ, origins)
    if overrides:
        data = apply_overrides(data, overrides, origins, profile_type)
    data = resolve_paths(data, origins)
    return Composed(data, origins)
