"""``SessionProfile``: every setting of a session, as one frozen value with a stable fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from dfsession.profile.catalogs import IcebergCatalog
from dfsession.profile.convert import unstructure
from dfsession.profile.datasets import DatasetSpec, IcebergDataset
from dfsession.profile.discovery import DiscoverSpec
from dfsession.profile.engine import EngineConfig
from dfsession.profile.interpolation import escape
from dfsession.profile.layers import Origins, dotted, leaves
from dfsession.profile.loading import Composed, compose_file, compose_mapping
from dfsession.profile.paths import has_relative_paths
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
    did_you_mean,
    doc,
    frozen_map,
    frozen_tuple,
    raise_all,
    settings_map,
)

__all__ = ["FINGERPRINT_VERSION", "PYTHON", "SessionProfile", "load_profile"]

FINGERPRINT_VERSION = "dfsession-profile/1"
#: The origin of every key of a profile made in Python rather than loaded.
PYTHON = "<python>"


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
        factory=FrozenMap,
        converter=settings_map,
        metadata=doc("raw DataFusion settings", {"datafusion.optimizer.max_passes": "3"}),
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
    catalogs: FrozenMap[str, IcebergCatalog] = attrs.field(
        factory=FrozenMap, converter=frozen_map, metadata=doc("table catalogs by name")
    )
    datasets: FrozenMap[str, DatasetSpec] = attrs.field(
        factory=FrozenMap, converter=frozen_map, metadata=doc("tables by name")
    )
    discover: FrozenMap[str, DiscoverSpec] = attrs.field(
        factory=FrozenMap,
        converter=frozen_map,
        metadata=doc("folders whose sub-folders each become a dataset, by name"),
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
    engine: EngineConfig = attrs.field(
        factory=EngineConfig, metadata=doc("where queries run: this process or a Ballista cluster")
    )
    #: The fingerprint, and whether the profile holds relative paths (computed once).
    _fingerprint: tuple[str, bool] | None = attrs.field(
        default=None, init=False, eq=False, repr=False
    )
    #: Where each key came from, when the profile was loaded.
    _origins: Origins | None = attrs.field(default=None, init=False, eq=False, repr=False)

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
        yield from self._catalog_rules()
        for setting, field, value in (
            ("datafusion.runtime.memory_limit", "memory_limit", self.execution.memory_limit),
            ("datafusion.runtime.temp_directory", "spill", self.execution.spill),
        ):
            if setting in self.settings and value is not None:
                yield FieldError(
                    f"settings.{setting}",
                    f"conflicts with execution.{field}; set it in one place only",
                )

    def _catalog_rules(self) -> Iterator[FieldError]:
        """Iceberg datasets name declared catalogs; mounted catalogs take free schema names."""
        for name, spec in self.datasets.items():
            if isinstance(spec, IcebergDataset) and spec.catalog not in self.catalogs:
                declared = ", ".join(self.catalogs) or "none"
                yield FieldError(
                    f"datasets.{name}.catalog",
                    f"no catalog {spec.catalog!r} is declared (declared: {declared})"
                    + (
                        did_you_mean(spec.catalog, self.catalogs)
                        or "; add [catalogs."
                        + spec.catalog
                        + '] with kind = "iceberg" and its properties'
                    ),
                )
        for name, catalog in self.catalogs.items():
            if catalog.include and name == self.catalog.default_schema:
                yield FieldError(
                    f"catalogs.{name}.include",
                    f"would mount tables under the schema {name!r}, which is the default "
                    "schema (catalog.default_schema); rename the catalog",
                )

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        env: str | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> SessionProfile:
        """Parse untrusted data (a decoded TOML file); ``ProfileError`` lists every problem.

        ``extends``, ``[env.NAME]``, ``${NAME}`` and ``overrides`` work as in ``load_profile``;
        relative paths lead from ``base_dir`` (without it they stay as written, meaning the
        working directory).
        """
        composed = compose_mapping(
            data,
            env=env,
            environ=environ,
            overrides=overrides,
            base_dir=base_dir,
            profile_type=cls,
        )
        return cls._made_from(composed)

    @classmethod
    def _made_from(cls, composed: Composed) -> SessionProfile:
        profile = composed.parse(cls)
        # Set once, on a profile nobody else holds yet: part of making it.
        object.__setattr__(profile, "_origins", composed.origins)
        return profile

    def to_dict(self) -> dict[str, Any]:
        """The plain-data form, defaults left out; ``from_dict(p.to_dict()) == p``.

        A ``$`` that reading would take for ``$$`` or ``${`` is written ``$$``.
        """
        data: dict[str, Any] = escape(unstructure(self))
        return data

    def to_toml(self) -> str:
        """The profile as TOML text that ``load_profile`` reads back to an equal profile."""
        return tomli_w.dumps(self.to_dict())

    def fingerprint(self) -> str:
        """Hex SHA-256 of the canonical form: stable across processes, blind to key order.

        Literal secrets enter only as their own SHA-256, so two profiles with different
        credentials never share a fingerprint and the value never appears in it.
        """
        return self._digest()[0]

    def anchor(self) -> str | None:
        """The folder relative paths lead from when the session is built, if the profile has any.

        A loaded profile holds absolute paths (``None``); one given as data without
        ``base_dir`` keeps relative paths as written, which mean the working directory.
        ``SessionCache`` keys on it beside the fingerprint.
        """
        return str(Path.cwd()) if self._digest()[1] else None

    def _digest(self) -> tuple[str, bool]:
        """The fingerprint, and whether the profile holds relative paths; computed once."""
        if self._fingerprint is None:
            data = self.to_dict()
            text = json.dumps(
                [FINGERPRINT_VERSION, _hide_literals(data)], sort_keys=True, separators=(",", ":")
            )
            digest = hashlib.sha256(text.encode()).hexdigest()
            object.__setattr__(self, "_fingerprint", (digest, has_relative_paths(data)))
        assert self._fingerprint is not None
        return self._fingerprint

    def provenance(self) -> dict[str, str]:
        """Each key not at its default, dotted, and where its value came from.

        A file (``base.toml``), an environment of one (``analytics.toml [env.prod]``), the
        variables that filled it (``${LAKE_ROOT}``) or ``override``. Not part of the fingerprint.
        """
        origins = self._origins
        return {
            dotted(key): PYTHON if origins is None else str(origins.of(key))
            for key, _value in leaves(self.to_dict())
        }


def _hide_literals(data: Any) -> Any:
    if isinstance(data, dict):
        if len(data) == 1 and isinstance(data.get("literal"), str):
            return {"literal_sha256": hashlib.sha256(data["literal"].encode()).hexdigest()}
        return {k: _hide_literals(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_hide_literals(v) for v in data]
    return data


def load_profile(
    path: str | os.PathLike[str],
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SessionProfile:
    """Read a TOML profile file and the layers it extends; errors name the file and the path.

    ``env``: the ``[env.NAME]`` overlay to apply (default: ``environ["DFSESSION_ENV"]`` when
    set); ``environ``: the mapping ``${NAME}`` reads (default ``os.environ``); ``overrides``:
    ``{"execution.target_partitions": 16}``, applied last. Relative paths lead from the file
    that declares them.
    """
    composed = compose_file(
        path, env=env, environ=environ, overrides=overrides, profile_type=SessionProfile
    )
    return SessionProfile._made_from(composed)
