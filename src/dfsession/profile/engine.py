"""The ``[engine]`` section: where queries run, in this process or on an Apache Ballista cluster."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs

from dfsession.profile.values import FieldError, doc, one_of, optional_field, raise_all

__all__ = ["BALLISTA", "ENGINE_KINDS", "LOCAL", "EngineConfig", "SchedulerUrl"]

LOCAL = "local"
BALLISTA = "ballista"
ENGINE_KINDS = (LOCAL, BALLISTA)

_SCHEDULER_URL = re.compile(r"^df://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")
_MAX_PORT = 65535


class SchedulerUrl(str):
    """A Ballista scheduler's address, ``df://host:port`` (a ``str``, as the profile writes it)."""

    __slots__ = ()
    #: How a profile writes one (JSON Schema).
    input_schema: ClassVar[Mapping[str, Any]] = {
        "type": "string",
        "pattern": _SCHEDULER_URL.pattern,
        "examples": ["df://127.0.0.1:50050"],
    }

    @classmethod
    def parse(cls, value: object) -> SchedulerUrl:
        """Check the ``df://host:port`` form; raise ``ValueError`` showing it."""
        if isinstance(value, SchedulerUrl):
            return value
        found = _SCHEDULER_URL.match(value) if isinstance(value, str) else None
        if found is None or not 0 < int(found.group(2)) <= _MAX_PORT:
            raise ValueError(
                "expected a Ballista scheduler address 'df://host:port' with a port from 1 to "
                f"{_MAX_PORT}, such as 'df://127.0.0.1:50050' (got {value!r})"
            )
        return cls(value)

    def unstructure(self) -> str:
        """The address as written."""
        return str(self)

    @property
    def host(self) -> str:
        """The scheduler's host name or address."""
        return self.removeprefix("df://").rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The scheduler's port."""
        return int(self.rpartition(":")[2])


@attrs.frozen
class EngineConfig:
    """Where queries run: ``local`` (this process) or ``ballista`` (a scheduler and executors).

    A Ballista engine takes either ``url`` (a running scheduler) or ``standalone = true`` (a
    scheduler and an executor started in this process, for trying it out).
    """

    kind: str = attrs.field(
        default=LOCAL,
        validator=one_of(*ENGINE_KINDS),
        metadata=doc("where queries run: local (this process) or ballista (a cluster)"),
    )
    url: SchedulerUrl | None = optional_field(
        SchedulerUrl.parse, "ballista: the address of a running scheduler, 'df://host:port'"
    )
    standalone: bool = attrs.field(
        default=False,
        metadata=doc("ballista: start a scheduler and an executor in this process instead"),
    )

    def __attrs_post_init__(self) -> None:
        raise_all(self._broken_rules())

    def _broken_rules(self) -> Iterator[FieldError]:
        if self.kind != BALLISTA:
            for name in ("url", "standalone"):
                if getattr(self, name):
                    yield FieldError(name, f"applies to kind = {BALLISTA!r} only; remove it")
        elif self.url is not None and self.standalone:
            yield FieldError(
                "standalone", "give either url (a running scheduler) or standalone = true, not both"
            )
        elif self.url is None and not self.standalone:
            yield FieldError(
                "url",
                "a Ballista engine needs a scheduler: url = 'df://host:50050', or "
                "standalone = true to start one in this process",
            )

    @property
    def is_local(self) -> bool:
        """Whether queries run in this process."""
        return self.kind == LOCAL
