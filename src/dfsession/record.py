"""``StepRecord``: what one step applied, as plain, JSON-able data; read-only copies of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = ["Status", "StepRecord", "plain_copy", "read_only"]

Status = Literal["applied", "skipped"]


def _refuse(self: object, *_args: Any, **_kwargs: Any) -> Any:
    raise TypeError(f"a step record is read-only; this {type(self).__name__} cannot change")


class _ReadOnlyDict(dict[str, Any]):
    """A dict that refuses changes: JSON, equality and ``isinstance(x, dict)`` as a dict."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse


class _ReadOnlyList(list[Any]):
    """A list that refuses changes: JSON, equality and ``isinstance(x, list)`` as a list."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse


def read_only(value: Any) -> Any:
    """``value`` with every nested dict and list (tuples too) made read-only."""
    if isinstance(value, _ReadOnlyDict | _ReadOnlyList):
        return value
    if isinstance(value, Mapping):
        return _ReadOnlyDict({str(key): read_only(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return _ReadOnlyList([read_only(item) for item in value])
    return value


def plain_copy(value: Any) -> Any:
    """A deep copy in plain JSON types: mappings become dicts, lists and tuples lists."""
    if isinstance(value, Mapping):
        return {str(key): plain_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(item) for item in value]
    return value


@attrs.frozen
class StepRecord:
    """What one step applied, as it applied it; ``duration_ms`` is filled in by the runner."""

    step: str
    status: Status = attrs.field(
        default="applied", validator=attrs.validators.in_(("applied", "skipped"))
    )
    applied: Mapping[str, Any] = attrs.field(factory=dict)
    duration_ms: float = 0.0

    @classmethod
    def skipped(cls, step: str, reason: str) -> StepRecord:
        """A record for a step that had nothing to do, and why."""
        return cls(step=step, status="skipped", applied={"reason": reason})

    def with_duration(self, duration_ms: float) -> StepRecord:
        """A copy with ``duration_ms`` set (the runner's timing)."""
        return StepRecord(self.step, self.status, self.applied, duration_ms)

    def sealed(self) -> StepRecord:
        """A copy whose ``applied`` is read-only all the way down (for records others share)."""
        return StepRecord(self.step, self.status, read_only(self.applied), self.duration_ms)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form used in reports."""
        return {
            "step": self.step,
            "status": self.status,
            "applied": plain_copy(self.applied),
            "duration_ms": self.duration_ms,
        }
