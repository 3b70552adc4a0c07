"""Every error dfsession raises; each names the culprit and the fix."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dfsession.record import StepRecord

__all__ = [
    "DfSessionError",
    "IncompatibleVersionsError",
    "NotPortableError",
    "ProfileError",
    "QueryError",
    "SchemaMismatchError",
    "SqlPolicyError",
    "StepFailedError",
    "StepOrderError",
    "chained",
]


class DfSessionError(Exception):
    """Base of every dfsession error.

    During a build, ``step`` names the failing step and ``records`` holds the
    records of the steps that ran before it; both are empty outside a build.
    """

    step: str | None = None
    records: tuple[StepRecord, ...] = ()


class ProfileError(DfSessionError, ValueError):
    """A profile is invalid; ``problems`` lists every ``(dotted.path, message)`` found."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        if not self.problems:
            raise ValueError("ProfileError needs at least one problem")
        self.path: str = self.problems[0][0]
        lines = [f"{path}: {message}" if path else message for path, message in self.problems]
        if len(lines) == 1:
            text = lines[0]
        else:
            text = f"{len(lines)} problems in the profile:\n" + "\n".join(
                f"  {line}" for line in lines
            )
        super().__init__(text)

    @classmethod
    def at(cls, path: str, message: str) -> ProfileError:
        """The error of one problem: ``message`` about the field at the dotted ``path``."""
        return cls([(path, message)])


class NotPortableError(ProfileError):
    """What a remote engine cannot run: ``problems`` lists each ``(dotted.path, reason)``.

    Raised by ``plan()`` (and ``build()``, before any step runs) for an engine other than
    ``local``; ``engine`` is its kind. A path is empty for a step as a whole.
    """

    def __init__(self, engine: str, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.engine = engine
        lines = [f"{path}: {reason}" if path else reason for path, reason in self.problems]
        count, them = ("1 item", "it") if len(lines) == 1 else (f"{len(lines)} items", "them")
        self.args = (
            f"{count} of this build cannot run on a {engine!r} engine (engine.kind); remove "
            f"{them} or use kind = 'local':\n" + "\n".join(f"  {line}" for line in lines),
        )


class StepOrderError(DfSessionError):
    """The step list cannot run in the given order (missing capability, duplicate name).

    ``step`` names the culprit; for a missing capability, ``capability`` is what it requires
    and ``providers`` the steps that provide it (later in the list, or none); for a duplicate
    name, ``duplicate`` holds the classes of the two steps that share it.
    """

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        capability: str | None = None,
        providers: Sequence[str] = (),
        duplicate: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.capability = capability
        self.providers: tuple[str, ...] = tuple(providers)
        self.duplicate = duplicate


class StepFailedError(DfSessionError):
    """A step raised something other than a ``DfSessionError``; that is ``__cause__``."""


class IncompatibleVersionsError(DfSessionError):
    """Installed engine libraries that cannot work together (say deltalake and datafusion).

    For a native plugin: ``package`` built it, for DataFusion ``built_for``, and the installed
    DataFusion is ``installed`` (majors; ``None`` where unknown).
    """

    def __init__(
        self,
        message: str,
        *,
        package: str | None = None,
        built_for: int | None = None,
        installed: int | None = None,
    ) -> None:
        super().__init__(message)
        self.package = package
        self.built_for = built_for
        self.installed = installed


class SchemaMismatchError(DfSessionError):
    """A dataset's actual schema differs from the one the profile declares."""

    def __init__(self, message: str, *, dataset: str = "", differences: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.differences: tuple[str, ...] = tuple(differences)


class SqlPolicyError(DfSessionError):
    """A statement the profile's ``sql_policy`` does not allow.

    ``kind`` is ``DDL``, ``DML`` or ``statement``, ``statement`` the engine's name for it
    (``CreateMemoryTable``), ``field`` the profile field that would allow it.
    """

    def __init__(
        self, message: str, *, kind: str = "", statement: str = "", field: str = "", query: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.statement = statement
        self.field = field
        self.query = query

    def __repr__(self) -> str:
        # Constructor-like, so the error can be read back from the engine's text of an
        # exception raised in a callback (a table factory): the engine keeps only its repr.
        fields = {"kind": self.kind, "statement": self.statement, "field": self.field}
        extra = "".join(f", {name}={value!r}" for name, value in fields.items() if value)
        return f"{type(self).__name__}({str(self)!r}{extra})"


class QueryError(DfSessionError):
    """The engine rejected or failed a query; the message keeps the engine's words."""

    def __init__(self, message: str, *, query: str = "", engine_message: str = "") -> None:
        super().__init__(message)
        self.query = query
        self.engine_message = engine_message


def chained(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception chained to it (``__cause__``, ``__context__``), once each."""
    pending, seen = [error], list[BaseException]()
    while pending:
        current = pending.pop()
        if any(current is done for done in seen):
            continue
        seen.append(current)
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
