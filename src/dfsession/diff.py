"""What differs between two session reports: profile keys (with their origins), settings, steps,
functions, datasets, versions."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from dfsession.errors import DfSessionError
from dfsession.session import report_schema

__all__ = ["MAX_VALUE_CHARS", "SECTIONS", "Difference", "Kind", "ReportDiff", "diff_reports"]

Kind = Literal["changed", "only_in_a", "only_in_b"]
#: Sections in the order ``ReportDiff.lines()`` shows them.
SECTIONS = (
    "schema_version",
    "provenance",
    "settings",
    "steps",
    "functions",
    "datasets",
    "versions",
    "fingerprint",
    "runtime_hash",
)
#: Longest rendering of one value in ``lines()``; longer values are cut.
MAX_VALUE_CHARS = 160


@attrs.frozen
class Difference:
    """One difference: where (``section`` and dotted ``path``), and the value in each report.

    For a profile key (section ``provenance``), ``origin_a``/``origin_b`` say where each
    report's value came from (``base.toml``, ``analytics.toml [env.prod]``, ``override``...).
    """

    section: str
    path: str
    kind: Kind
    a: Any = None
    b: Any = None
    origin_a: str | None = None
    origin_b: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form: a value missing from one report is left out."""
        out: dict[str, Any] = {"section": self.section, "path": self.path, "kind": self.kind}
        for side, value, origin, absent in (
            ("a", self.a, self.origin_a, "only_in_b"),
            ("b", self.b, self.origin_b, "only_in_a"),
        ):
            if self.kind != absent:
                out[side] = value
                if origin is not None:
                    out[f"origin_{side}"] = origin
        return out

    def line(self, a_label: str, b_label: str) -> str:
        """The difference on one line, each report's value followed by its label and origin."""
        where = f"  {self.path}: " if self.path else "  "
        side_a = _side(a_label, self.origin_a)
        side_b = _side(b_label, self.origin_b)
        if self.kind == "only_in_a":
            return f"{where}only in {a_label}: {_show(self.a)}{_from(self.origin_a)}"
        if self.kind == "only_in_b":
            return f"{where}only in {b_label}: {_show(self.b)}{_from(self.origin_b)}"
        return f"{where}{_show(self.a)} ({side_a}) -> {_show(self.b)} ({side_b})"


def _side(label: str, origin: str | None) -> str:
    return label if origin is None else f"{label}, from {origin}"


def _from(origin: str | None) -> str:
    return "" if origin is None else f" (from {origin})"


@attrs.frozen
class ReportDiff:
    """The differences between reports A and B; step durations are never compared."""

    differences: tuple[Difference, ...]
    fingerprints: tuple[str, str] = ("", "")
    runtime_hashes: tuple[str, str] = ("", "")

    @property
    def equal(self) -> bool:
        """Whether the two sessions were built the same way on the same engine."""
        return not self.differences

    def section(self, name: str) -> tuple[Difference, ...]:
        """The differences of one section (``settings``, ``steps``, ...)."""
        return tuple(d for d in self.differences if d.section == name)

    def to_dict(self) -> dict[str, Any]:
        """``{"equal": ..., "differences": {section: [...]}}`` with every section listed."""
        return {
            "equal": self.equal,
            "differences": {name: [d.to_dict() for d in self.section(name)] for name in SECTIONS},
        }

    def lines(self, a_label: str = "A", b_label: str = "B") -> list[str]:
        """Human-readable lines, grouped by section, naming the reports ``a_label``/``b_label``."""
        if self.equal:
            return [
                f"{a_label} and {b_label} are the same session "
                f"(fingerprint {self.fingerprints[0][:12]}, "
                f"runtime hash {self.runtime_hashes[0][:12]})"
            ]
        counts = Counter(d.section for d in self.differences)
        summary = ", ".join(f"{name} ({counts[name]})" for name in SECTIONS if counts[name])
        lines = [f"{a_label} and {b_label} differ in {summary}"]
        for name in SECTIONS:
            found = self.section(name)
            if not found:
                continue
            lines.append(f"{name}:")
            lines.extend(d.line(a_label, b_label) for d in found)
        return lines


def diff_reports(a: Mapping[str, Any], b: Mapping[str, Any]) -> ReportDiff:
    """Compare two ``BuiltSession.report()`` documents; ``DfSessionError`` for a non-report."""
    _check(a, "A")
    _check(b, "B")
    out: list[Difference] = []
    _compare("schema_version", "", a["schema_version"], b["schema_version"], out)
    _compare_provenance(a.get("provenance"), b.get("provenance"), out)
    _compare_settings(a["settings"], b["settings"], out)
    _compare_steps(a["steps"], b["steps"], out)
    _compare("functions", "", a["functions"], b["functions"], out)
    _compare("datasets", "", a["datasets"], b["datasets"], out)
    _compare("versions", "", a["versions"], b["versions"], out)
    _compare("fingerprint", "", a["fingerprint"], b["fingerprint"], out)
    _compare("runtime_hash", "", a["runtime_hash"], b["runtime_hash"], out)
    return ReportDiff(
        differences=tuple(out),
        fingerprints=(str(a["fingerprint"]), str(b["fingerprint"])),
        runtime_hashes=(str(a["runtime_hash"]), str(b["runtime_hash"])),
    )


def _check(report: Any, label: str) -> None:
    """Refuse a document that is not a report, checked against the shipped report schema."""
    import jsonschema  # noqa: PLC0415 - CLI start-up time (jsonschema takes ~40 ms to import)

    validator = jsonschema.Draft202012Validator(report_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(report))
    if error is None:
        return
    where = ".".join(map(str, error.absolute_path))
    message = error.message
    if len(message) > MAX_VALUE_CHARS:
        message = message[: MAX_VALUE_CHARS - 3] + "..."
    raise DfSessionError(
        f"report {label} is not a dfsession report: {f'{where}: ' if where else ''}{message}; "
        "make reports with BuiltSession.report() or `dfsession report PROFILE`"
    )


def _compare_provenance(a: Any, b: Any, out: list[Difference]) -> None:
    """The profile keys whose values differ, with both origins; skipped for reports without."""
    if a is None or b is None:
        return  # a report of schema version 1: the schema_version difference says so
    for key in _union(list(a), list(b)):
        if key not in b:
            out.append(_provenance("only_in_a", key, a[key], None))
        elif key not in a:
            out.append(_provenance("only_in_b", key, None, b[key]))
        elif not _same_value(a[key]["value"], b[key]["value"]):
            out.append(_provenance("changed", key, a[key], b[key]))


def _provenance(kind: Kind, key: str, a: Any, b: Any) -> Difference:
    return Difference(
        "provenance",
        key,
        kind,
        a=None if a is None else a["value"],
        b=None if b is None else b["value"],
        origin_a=None if a is None else a["origin"],
        origin_b=None if b is None else b["origin"],
    )


def _same_value(a: Any, b: Any) -> bool:
    """JSON equality of two values, tables and arrays included (``true`` is not ``1``)."""
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return _token(a) == _token(b)
    return _same(a, b)


def _compare_settings(a: Any, b: Any, out: list[Difference]) -> None:
    if a is None and b is None:
        return
    if a is None or b is None:
        path = "(all: information_schema is off in the other report)"
        if a is None:
            out.append(Difference("settings", path, "only_in_b", b=f"{len(b)} settings"))
        else:
            out.append(Difference("settings", path, "only_in_a", a=f"{len(a)} settings"))
        return
    _compare("settings", "", _stable_settings(a), _stable_settings(b), out)


#: The engine makes a fresh ``datafusion-XXXXXX`` folder under each spill directory per session.
_PER_SESSION_FOLDER = re.compile(r"([/\\])datafusion-[A-Za-z0-9]{6}(?=$|[,;:])")


def _stable_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings without what differs in every session (spill folders' random names)."""
    stable = dict(settings)
    temp = stable.get("datafusion.runtime.temp_directory")
    if isinstance(temp, str):
        stable["datafusion.runtime.temp_directory"] = _PER_SESSION_FOLDER.sub(
            r"\1datafusion-*", temp
        )
    return stable


def _compare_steps(a: Sequence[Any], b: Sequence[Any], out: list[Difference]) -> None:
    names_a = [s["step"] for s in a]
    names_b = [s["step"] for s in b]
    if names_a != names_b and sorted(names_a) == sorted(names_b):
        out.append(Difference("steps", "(order)", "changed", a=names_a, b=names_b))
    by_a = {s["step"]: _without_duration(s) for s in a}
    by_b = {s["step"]: _without_duration(s) for s in b}
    for name in _union(names_a, names_b):
        if name not in by_b:
            out.append(Difference("steps", name, "only_in_a", a=by_a[name]))
        elif name not in by_a:
            out.append(Difference("steps", name, "only_in_b", b=by_b[name]))
        else:
            _compare("steps", name, by_a[name], by_b[name], out)


def _without_duration(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in ("step", "duration_ms")}


def _union(a: Sequence[str], b: Sequence[str]) -> list[str]:
    seen = dict.fromkeys(a)
    seen.update(dict.fromkeys(b))
    return list(seen)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _compare(section: str, path: str, a: Any, b: Any, out: list[Difference]) -> None:
    """Append the differences between ``a`` and ``b`` found under ``path`` to ``out``."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            where = _join(path, str(key))
            if key not in b:
                out.append(Difference(section, where, "only_in_a", a=a[key]))
            elif key not in a:
                out.append(Difference(section, where, "only_in_b", b=b[key]))
            else:
                _compare(section, where, a[key], b[key], out)
        return
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        _compare_lists(section, path, list(a), list(b), out)
        return
    if not _same(a, b):
        out.append(Difference(section, path, "changed", a=a, b=b))


def _compare_lists(
    section: str, path: str, a: list[Any], b: list[Any], out: list[Difference]
) -> None:
    keyed_a, keyed_b = _by_name(a), _by_name(b)
    if keyed_a is not None and keyed_b is not None:
        _compare(section, path, keyed_a, keyed_b, out)
        return
    scalars = (str, int, float, bool, type(None))
    if all(isinstance(v, scalars) for v in (*a, *b)):
        _compare_values(section, path, a, b, out)
        return
    if len(a) == len(b):
        for index, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            _compare(section, f"{path}[{index}]", item_a, item_b, out)
        return
    if not _same(a, b):
        out.append(Difference(section, path, "changed", a=a, b=b))


def _compare_values(
    section: str, path: str, a: list[Any], b: list[Any], out: list[Difference]
) -> None:
    """Lists of plain values: what each has more of, or a change of order alone."""
    count_a, count_b = Counter(map(_token, a)), Counter(map(_token, b))
    if count_a == count_b:
        if [_token(v) for v in a] != [_token(v) for v in b]:
            out.append(Difference(section, _join(path, "(order)"), "changed", a=a, b=b))
        return
    for value in a:
        if count_a[_token(value)] > count_b[_token(value)]:
            out.append(Difference(section, path, "only_in_a", a=value))
            count_a[_token(value)] -= 1
    for value in b:
        if count_b[_token(value)] > count_a[_token(value)]:
            out.append(Difference(section, path, "only_in_b", b=value))
            count_b[_token(value)] -= 1


def _by_name(items: list[Any]) -> dict[str, Any] | None:
    """Items keyed by their ``name`` (repeats numbered ``name#2``), or ``None`` if some lack one."""
    if not all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in items):
        return None
    keyed: dict[str, Any] = {}
    for item in items:
        key, n = item["name"], 1
        while key in keyed:
            n += 1
            key = f"{item['name']}#{n}"
        keyed[key] = {k: v for k, v in item.items() if k != "name"}
    return keyed


def _token(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, but ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."
