"""mkdocs hook: the reference pages, generated from the code at build time.

A page holds a marker (``<!-- generated: NAME -->``) where the generated Markdown goes:

- ``profile-reference``: every key of the profile, from the spec classes and the profile's JSON
  Schema (``dfsession.profile.json_schema``): type, default, allowed values, an example;
- ``cli-reference``: every command and option, from ``dfsession.cli.build_parser()``;
- ``api-reference``: one mkdocstrings block per name of ``dfsession.__all__``;
- ``benchmark-table``: the figures of ``docs/benchmark-results.json`` (``nox -s bench``).

Nothing generated is checked in: a new key, option or public name appears at the next build.
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")
#: What the examples refer to by name: an example is checked as a profile beside these entries.
#: (A build that fails on an example naming something else says which; add it here.)
EXAMPLE_CONTEXT = '[catalogs.lake]\nkind = "iceberg"\n'

DOCS = Path(__file__).resolve().parents[1]


# --- the mkdocs hook --------------------------------------------------------------------------


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each marker of a page with what it names."""
    return MARKER.sub(lambda match: generate(match.group(1)), markdown)


def generate(name: str) -> str:
    """The Markdown a marker stands for."""
    generators: Mapping[str, Callable[[], str]] = {
        "profile-reference": profile_reference,
        "cli-reference": cli_reference,
        "api-reference": api_reference,
        "benchmark-table": benchmark_table,
    }
    if name not in generators:
        raise ValueError(f"unknown generated block {name!r}; known: {', '.join(generators)}")
    return generators[name]()


# --- the profile reference --------------------------------------------------------------------


def profile_reference(root: type | None = None) -> str:
    """Every key of the profile ``root`` (default ``SessionProfile``), section by section."""
    from dfsession.profile.json_schema import profile_schema  # noqa: PLC0415
    from dfsession.profile.model import SessionProfile  # noqa: PLC0415
    from dfsession.profile.shape import field_types  # noqa: PLC0415

    root = root or SessionProfile
    schema = profile_schema(root)
    writer = _ProfileWriter(schema["definitions"], root)
    lines = ["## Layers: `extends` and `[env.NAME]`", ""]
    lines += _table(
        [
            (f"`{key}`", _type(prop), "-", "-", prop.get("description", ""))
            for key, prop in _layers(schema)
        ]
    )
    hints = field_types(root)
    for field in _public_fields(root):
        lines += writer.top_level(field, hints[field.name], schema["properties"][field.name])
    return "\n".join(lines) + "\n"


def _layers(schema: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("extends", "env"):
        yield key, schema["properties"][key]


def _public_fields(cls: type) -> list[attrs.Attribute[Any]]:
    return [f for f in attrs.fields(cls) if not f.name.startswith("_")]


class _ProfileWriter:
    """Writes the sections of a profile, one table and one example per section or kind."""

    def __init__(self, definitions: Mapping[str, Any], root: type) -> None:
        self.definitions = definitions
        self.root = root

    def top_level(
        self, field: attrs.Attribute[Any], type_: Any, prop: Mapping[str, Any]
    ) -> list[str]:
        """A top-level key: a section, a map of named entries, a map of values or an array."""
        from dfsession.profile.shape import entry_type, is_section, members  # noqa: PLC0415

        head = [f"## `{field.name}`", ""]
        if is_section(type_):  # the section's class says what it is
            return head + self.section(type_, f"[{field.name}]")
        head += [_sentence(prop.get("description", "")), ""]
        entry = entry_type(type_)
        if entry is not None and any(is_section(m) for m in members(entry)):
            return head + self.entries(field.name, entry)
        origin = typing.get_origin(type_)
        if origin is tuple and is_section(typing.get_args(type_)[0]):
            return head + self.section(typing.get_args(type_)[0], f"[[{field.name}]]")
        return head + _table([(f"`{field.name}.NAME`", _type(prop), "-", "-", "any key")])

    def entries(self, name: str, entry: Any) -> list[str]:
        """A map of named entries; a union (one class per format or kind) gives one part each."""
        from dfsession.profile.convert import tag_field  # noqa: PLC0415
        from dfsession.profile.shape import members  # noqa: PLC0415

        lines: list[str] = []
        options = members(entry)
        for cls in options:
            tag = tag_field(cls) if len(options) > 1 else None
            header = f"[{name}.NAME]"
            if tag is not None:
                value = attrs.fields_dict(cls)[tag].default
                lines += [f'### `{tag} = "{value}"`', ""]
            lines += self.section(cls, header)
        return lines

    def section(self, cls: type, header: str) -> list[str]:
        """A section's table of keys, and an example that uses each one."""
        definition = self.definitions.get(cls.__name__) or {}
        lines = [_sentence(definition.get("description", "")), ""] if definition else []
        rows = list(self.rows(cls, ""))
        lines += _table([row[:5] for row in rows])
        example = self.example(header, {key: value for *_, key, value in rows})
        return [*lines, "", "Example:", "", "```toml", header, *example, "```", ""]

    def example(self, header: str, values: Mapping[str, str]) -> list[str]:
        """``key = value`` lines; a key the profile refuses beside the others is commented out.

        Some keys exclude each other (a Delta table's ``version`` and ``timestamp``): the
        loader says which, and its words go beside the line.
        """
        from dfsession.errors import ProfileError  # noqa: PLC0415

        lines = {key: f"{key} = {value}" for key, value in values.items()}
        table = header.strip("[]").replace("NAME", "name")
        text = "\n".join([header.replace("NAME", "name"), *lines.values()])
        if not header.startswith("[catalogs."):
            text = EXAMPLE_CONTEXT + text
        try:
            self.root.from_dict(tomllib.loads(text))  # type: ignore[attr-defined]
        except ProfileError as error:
            for path, message in error.problems:
                key = path.removeprefix(table + ".").removeprefix("0.")
                if key in lines:
                    lines[key] = f"# {lines[key]}  # {message}"
                else:
                    raise
        return list(lines.values())

    def rows(self, cls: type, prefix: str) -> Iterator[tuple[str, ...]]:
        """One row per key (a nested section's keys dotted), with its example as TOML."""
        from dfsession.profile.shape import field_types, is_section, members  # noqa: PLC0415

        properties = self.definitions[cls.__name__]["properties"]
        hints = field_types(cls)
        for field in _public_fields(cls):
            prop = properties.get(field.name, {})
            nested = [m for m in members(hints[field.name]) if is_section(m)]
            key = prefix + field.name
            if nested and not _is_value_type(nested[0]):
                yield from self.rows(nested[0], key + ".")
                continue
            example = _example(prop)
            yield (
                f"`{key}`",
                _type(prop),
                _default(field),
                _allowed(prop),
                prop.get("description", ""),
                key,
                example,
            )


def _is_value_type(cls: Any) -> bool:
    from dfsession.profile.convert import VALUE_TYPES  # noqa: PLC0415

    return cls in VALUE_TYPES


def _sentence(text: str) -> str:
    text = text.strip().replace("``", "`")
    return text[:1].upper() + text[1:] if text else ""


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    header = ["| key | type | default | allowed values | description |", "|---|---|---|---|---|"]
    body = ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return [*header, *body, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type(prop: Mapping[str, Any]) -> str:
    """A property's type, as a profile writes it."""
    if "allOf" in prop:
        return "table"
    if "oneOf" in prop:
        return 'secret reference: `{ env = "NAME" }` or `{ literal = "..." }`'
    if "anyOf" in prop:
        parts = [_type(part) for part in prop["anyOf"] if part.get("pattern") != r"\$\{"]
        return " or ".join(dict.fromkeys(parts))
    return "string" if "enum" in prop else _plain_type(prop)


def _plain_type(prop: Mapping[str, Any]) -> str:
    kind = prop.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"array of {_type(prop.get('items', {}))}"
    values = prop.get("additionalProperties")
    if kind == "object" and isinstance(values, dict):
        return f"table of name → {_type(values)}"
    return str(kind or "any").replace("object", "table")


def _allowed(prop: Mapping[str, Any]) -> str:
    """Choices and bounds: an enum, a minimum, a pattern's examples."""
    choices = [part["enum"] for part in prop.get("anyOf", []) if "enum" in part]
    if "enum" in prop:
        choices.append(prop["enum"])
    if choices:
        return ", ".join(f"`{json.dumps(choice)}`" for choice in choices[0])
    bounds = [part for part in [prop, *prop.get("anyOf", [])] if "minimum" in part]
    if bounds:
        return f"≥ {bounds[0]['minimum']}"
    if "pattern" in prop:
        return "`package.module:attribute`" if ":" in prop["pattern"] else "see example"
    return "-"


def _default(field: attrs.Attribute[Any]) -> str:
    """A field's default as a profile would write it; 'required' when there is none."""
    default = field.default
    if default is attrs.NOTHING or not field.init:  # not init: a tag (format, kind) to write
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    if default is None:
        return "not set"
    if attrs.has(type(default)):
        return "-"
    if isinstance(default, Mapping | tuple | list) and not default:
        return "`{}`" if isinstance(default, Mapping) else "`[]`"
    return f"`{_toml(default)}`"


def _example(prop: Mapping[str, Any]) -> str:
    """One example value of a property, written as TOML."""
    found = _first_example(prop)
    return _toml(found)


def _first_example(prop: Mapping[str, Any]) -> Any:
    for part in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]:
        if part.get("examples"):
            return part["examples"][0]
        if part.get("enum"):
            return part["enum"][0]
    if "oneOf" in prop:
        return {"env": "LAKE_SECRET"}
    return _typed_example(prop)


def _typed_example(prop: Mapping[str, Any]) -> Any:
    """An example made from a property's type, when the schema gives none."""
    kind = prop.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    samples: dict[Any, Any] = {
        "boolean": True,
        "integer": max(prop.get("minimum", 4), 4),
        "number": 1.5,
        "string": "value",
    }
    if kind == "array":
        return [_first_example(prop.get("items", {}))]
    if kind == "object":
        values = prop.get("additionalProperties")
        return {"name": _first_example(values) if isinstance(values, dict) else "value"}
    return samples.get(kind, "value")


def _toml(value: Any) -> str:
    """A value as TOML writes it inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


# --- the CLI reference ------------------------------------------------------------------------


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """Every subcommand of the parser: usage, description, options, examples."""
    if parser is None:
        from dfsession.cli import build_parser  # noqa: PLC0415

        parser = build_parser()
    lines = [
        _sentence(parser.description or ""),
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
    ]
    if parser.epilog:
        lines += [_sentence(parser.epilog), ""]
    for name, sub in _subcommands(parser).items():
        lines += _command(name, sub)
    return "\n".join(lines) + "\n"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse offers no public walk of its subcommands
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _command(name: str, parser: argparse.ArgumentParser) -> list[str]:
    usage = parser.format_usage().removeprefix("usage: ").strip()
    lines = [f"## `dfsession {name}`", "", *(parser.description or "").split("\n"), ""]
    lines += ["```text", usage, "```", ""]
    lines += ["| argument | what it does | default |", "|---|---|---|"]
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        lines.append(
            f"| {_argument(action)} | {_cell(_help(action))} | {_action_default(action)} |"
        )
    if parser.epilog:
        lines += ["", "Example:", "", "```bash", *_examples(parser.epilog), "```"]
    return [*lines, ""]


def _argument(action: argparse.Action) -> str:
    names = ", ".join(action.option_strings) or (action.metavar or action.dest)
    metavar = action.metavar or (action.dest.upper() if action.option_strings else "")
    takes_value = action.nargs != 0 and action.option_strings
    return f"`{names} {metavar}`" if takes_value else f"`{names}`"


def _help(action: argparse.Action) -> str:
    text = (action.help or "").replace("%%", "%")
    if action.choices:
        text += " (one of: " + ", ".join(f"`{choice}`" for choice in action.choices) + ")"
    return text


def _action_default(action: argparse.Action) -> str:
    if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
        return "-"
    if isinstance(action.default, list) and not action.default:
        return "-"
    return f"`{action.default}`"


def _examples(epilog: str) -> list[str]:
    return [line.strip() for line in epilog.splitlines()[1:] if line.strip()]


# --- the Python API reference -----------------------------------------------------------------


def api_reference() -> str:
    """One mkdocstrings block per public name (``dfsession.__all__``), in its order."""
    import dfsession  # noqa: PLC0415

    names = [name for name in dfsession.__all__ if not name.startswith("_")]
    return "\n".join(f"::: dfsession.{name}\n" for name in names)


# --- the benchmark figures --------------------------------------------------------------------


def benchmark_table(path: Path = DOCS / "benchmark-results.json") -> str:
    """Each benchmark's medians and ratios to its baseline, from a results file.

    The file is ``run_all.py``'s (one run: ``results``) or several runs of the benchmarks
    (``runs``, each with the results of each benchmark module); each run gets its own table.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"From `{path.name}`." + (f" {_sentence(document['note'])}" if "note" in document else "")
    ]
    if "commands" in document:
        lines += ["", "```bash", *document["commands"], "```"]
    for label, results in _runs(document):
        lines += ["", f"### {label}", ""] if label else [""]
        lines += [
            "| benchmark | median per candidate | time / the baseline's |",
            "|---|---|---|",
            *(_benchmark_row(result) for result in results),
        ]
    return "\n".join(lines) + "\n"


def _figure(value: float) -> str:
    """Four significant digits, thousands separated."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4g}"


def _runs(document: Mapping[str, Any]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    if "results" in document:
        return [("", document["results"])]
    return [
        (
            f"Run {run['run']}",
            [result for part in run["benchmarks"].values() for result in part["results"]],
        )
        for run in document["runs"]
    ]


def _benchmark_row(result: Mapping[str, Any]) -> str:
    if "error" in result:
        return f"| {_cell(result['benchmark'])} | not measured: {_cell(result['error'])} | - |"
    unit, medians = (
        ("MB", result["median_mb"]) if "median_mb" in result else ("ms", result["median_ms"])
    )
    figures = ", ".join(f"{name} {_figure(value)} {unit}" for name, value in medians.items())
    ratios = ", ".join(
        f"{name} {ratio:.2f}"
        for name, ratio in result.get("ratio_to_baseline", {}).items()
        if name != result.get("baseline")
    )
    return f"| {_cell(result['benchmark'])} | {_cell(figures)} | {_cell(ratios) or '-'} |"
