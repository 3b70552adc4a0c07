"""Local file writes that change nothing unless they complete: write aside, move into place."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import attrs

from dfsession.engine.text import sql_string
from dfsession.errors import QueryError

__all__ = ["COPY_FORMATS", "LocalWrite", "copy_statement"]

#: The ``STORED AS`` name of each file format ``COPY ... TO`` writes.
COPY_FORMATS = {"parquet": "PARQUET", "csv": "CSV", "json": "JSON"}
#: Options each format's ``COPY`` is given: CSV files get a header line.
_COPY_OPTIONS = {"csv": " OPTIONS ('format.has_header' 'true')"}


def copy_statement(
    table: str, destination: str, format: str, partition_by: tuple[str, ...] = ()
) -> str:
    """``COPY`` of every row of ``table`` to ``destination`` as ``format`` files.

    ``partition_by`` columns must be plain identifiers: the engine takes them as written.
    """
    partitioned = f" PARTITIONED BY ({', '.join(partition_by)})" if partition_by else ""
    return (
        f'COPY (SELECT * FROM "{table}") TO {sql_string(destination)} '
        f"STORED AS {COPY_FORMATS[format]}{partitioned}{_COPY_OPTIONS.get(format, '')}"
    )


@attrs.frozen
class LocalWrite:
    """Write local files aside, then move them into place: a failed write changes nothing.

    A target named with the format's extension (``out.parquet``) is one file; any other
    target is a directory of files. ``append`` adds files to a directory.
    """

    target: Path
    format: str
    mode: str

    @property
    def single_file(self) -> bool:
        """Whether the target names one file (by its extension) rather than a directory."""
        return self.target.suffix.lower() == f".{self.format}"

    def run(self, copy: Callable[[str], int]) -> int:
        """Check the mode against the target, write aside with ``copy``, move into place."""
        target = self.target
        self._check_mode()
        target.parent.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        suffix = target.suffix if self.single_file else ""
        aside = target.parent / f".{target.stem}.dfsession-{token}{suffix}"
        try:
            rows = copy(str(aside) if self.single_file else f"{aside}/")
            if not self.single_file:
                aside.mkdir(exist_ok=True)  # the engine makes no directory for zero rows
            if self.mode == "append":
                self._move_files(aside, target)
            else:
                self._replace(aside, target, token)
        finally:
            _remove(aside)
        return rows

    def _check_mode(self) -> None:
        """Refuse what the mode cannot write: an existing target for ``error``, a file to append."""
        target = self.target
        exists = target.exists() or target.is_symlink()
        if self.mode == "error" and exists:
            raise QueryError(
                f"write target {str(target)!r} already exists; use mode='overwrite' to replace "
                "it or mode='append' to add files"
            )
        if self.mode == "append" and (self.single_file or (exists and not target.is_dir())):
            raise QueryError(
                f"mode 'append' adds files to a directory, and {str(target)!r} names a file; "
                f"give a directory target (without the .{self.format} extension)"
            )

    @staticmethod
    def _move_files(source: Path, target: Path) -> None:
        """Move every file under ``source`` to the same place under ``target`` (partitions too)."""
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(path for path in source.rglob("*") if not path.is_dir()):
            destination = target / file.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if destination.exists():
                destination = destination.with_name(f"{uuid.uuid4().hex[:8]}-{file.name}")
            file.replace(destination)

    @staticmethod
    def _replace(source: Path, target: Path, token: str) -> None:
        if not (target.exists() or target.is_symlink()):
            source.rename(target)
            return
        if source.is_file() and target.is_file():
            source.replace(target)  # atomic for one file
            return
        old = target.parent / f".{target.name}.dfsession-old-{token}"
        target.rename(old)
        try:
            source.rename(target)
        except BaseException:
            old.rename(target)
            raise
        _remove(old)


def _remove(path: Path) -> None:
    """Remove a file or a folder with what it holds; nothing when it does not exist."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
