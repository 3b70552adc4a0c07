"""``SessionProfile``: every setting of a session, as one frozen value with a stable fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from dfsession.errors import ProfileError
from dfsession.profile.convert import structure, unstructure
from dfsession.profile.datasets import DatasetSpec
from dfsession.profile.sections import (
    CatalogConfig,
    ExecutionConfig,
    FeaturesConfig,
    PlannerConfig,
    PreparedConfig,
    SqlPolicy,
    TracingConfig,
    UdfConfig,
    ViewConfig,
)
from dfsession.profile.stores import ObjectStoreSpec
from dfsession.profile.values import (
    FieldError,
    FrozenMap,
    doc,
    frozen_map,
    frozen_tuple,
    raise_all,
    settings_map,
)

__all__ = ["FINGERPRINT_VERSION", "SessionProfile", "load_profile"]

FINGERPRINT_VERSION = "dfsession-profile/1"


@attrs.frozen
class SessionProfile:
    """Every setting of a session, in sections. Pure data: no I/O, no engine objects."""

    execution: ExecutionConfig = attrs.field(
        factory=ExecutionConfig, metadata=doc("execution limits: partitions, batches, memory")
    )
    catalog: CatalogConfig = attrs.field(
        factory=CatalogConfig, metadata=doc("default catalog and schema names")
    )
    settings: FrozenMap[str, str] = attrs.field(
        factory=FrozenMap, converter=settings_map, metadata=doc("raw DataFusion settings")
    )
    sql_policy: SqlPolicy = attrs.field(
        factory=SqlPolicy, metadata=doc("which kinds of statement queries may run")
    )
    features: FeaturesConfig = attrs.field(
        factory=FeaturesConfig, metadata=doc("opt-in engine features")
    )
    # Each converter is written out: the attrs mypy plugin reads it for the __init__ types.
    object_stores: FrozenMap[str, ObjectStoreSpec] = attrs.field(
        factory=FrozenMap, converter=frozen_map, metadata=doc("object stores by name")
    )
    datasets: FrozenMap[str, DatasetSpec] = attrs.field(
        factory=FrozenMap, converter=frozen_map, metadata=doc("tables by name")
    )
    views: FrozenMap[str, ViewConfig] = attrs.field(
        factory=FrozenMap, converter=frozen_map, metadata=doc("views by name")
    )
    prepared: FrozenMap[str, PreparedConfig] = attrs.field(
        factory=FrozenMap, converter=frozen_map, metadata=doc("prepared statements by name")
    )
    udfs: tuple[UdfConfig, ...] = attrs.field(
        default=(), converter=frozen_tuple, metadata=doc("functions to install")
    )
    planner: PlannerConfig = attrs.field(
        factory=PlannerConfig, metadata=doc("optimizer settings and planner extensions")
    )
    tracing: TracingConfig = attrs.field(
        factory=TracingConfig, metadata=doc("OpenTelemetry spans of the build and queries")
    )
    _fingerprint: str | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        raise_all(self._broken_rules())

    def _broken_rules(self) -> Iterator[FieldError]:
        tables = {*self.datasets}
        for name in self.views:
            if name in tables:
                yield FieldError(f"views.{name}", f"a dataset is also named {name!r}; rename one")
        for store_name, store in self.object_stores.items():
            for other_name, other in self.object_stores.items():
                # The engine keys stores on scheme and host: s3://lake/raw and s3://lake/curated
                # would be one store, the later silently replacing the earlier.
                if other_name < store_name and other.url.store_key == store.url.store_key:
                    yield FieldError(
                        f"object_stores.{store_name}.url",
                        f"object stores {other_name!r} and {store_name!r} are both registered "
                        f"for {store.url.root}: the engine keeps one store per scheme "
                        "and host; use one store for both (datasets choose paths under it)",
                    )
        for setting, field, value in (
            ("datafusion.runtime.memory_limit", "memory_limit", self.execution.memory_limit),
            ("datafusion.runtime.temp_directory", "spill", self.execution.spill),
        ):
            if setting in self.settings and value is not None:
                yield FieldError(
                    f"settings.{setting}",
                    f"conflicts with execution.{field}; set it in one place only",
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionProfile:
        """Parse untrusted data (a decoded TOML file); ``ProfileError`` lists every problem."""
        return structure(data, cls)

    def to_dict(self) -> dict[str, Any]:
        """The plain-data form, defaults left out; ``from_dict(p.to_dict()) == p``."""
        return unstructure(self)

    def to_toml(self) -> str:
        """The profile as TOML text that ``load_profile`` reads back to an equal profile."""
        return tomli_w.dumps(self.to_dict())

    def fingerprint(self) -> str:
        """Hex SHA-256 of the canonical form: stable across processes, blind to key order.

        Literal secrets enter only as their own SHA-256, so two profiles with different
        credentials never share a fingerprint and the value never appears in it.
        """
        if self._fingerprint is None:
            canonical = _hide_literals(self.to_dict())
            text = json.dumps(
                [FINGERPRINT_VERSION, canonical], sort_keys=True, separators=(",", ":")
            )
            object.__setattr__(self, "_fingerprint", hashlib.sha256(text.encode()).hexdigest())
        assert self._fingerprint is not None
        return self._fingerprint


def _hide_literals(data: Any) -> Any:
    if isinstance(data, dict):
        if len(data) == 1 and isinstance(data.get("literal"), str):
            return {"literal_sha256": hashlib.sha256(data["literal"].encode()).hexdigest()}
        return {k: _hide_literals(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_hide_literals(v) for v in data]
    return data


def load_profile(path: str | os.PathLike[str]) -> SessionProfile:
    """Read a TOML profile file; errors name the file and the dotted field path."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError.at("", f"profile file {str(file)!r} does not exist") from None
    except IsADirectoryError:
        raise ProfileError.at(
            "", f"profile file {str(file)!r} is a folder; give the path of a .toml file"
        ) from None
    except UnicodeDecodeError as exc:
        raise ProfileError.at(
            "", f"profile file {str(file)!r} is not UTF-8 text ({exc.reason})"
        ) from None
    except OSError as exc:
        raise ProfileError.at(
            "", f"profile file {str(file)!r} cannot be read: {exc.strerror}"
        ) from None
    return SessionProfile.from_dict(_parse_toml(file, text))


def _parse_toml(file: Path, text: str) -> dict[str, Any]:
    """The TOML document; any failure to read it is a ``ProfileError`` naming the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
    except RecursionError:
        reason = "nested too deeply (no profile nests more than a few levels)"
    except ValueError:  # tomllib reads integers with int(), which refuses 4,300+ digits
        reason = "an integer too long to read; TOML integers are 64-bit (-2^63 to 2^63-1)"
    raise ProfileError.at("", f"{file}: not valid TOML: {reason}")
