"""The layers of the package and what each may import, read from the source with ``ast``.

Every import counts: at the top, inside functions, and under ``TYPE_CHECKING``. A rule names a
layer (a module or package) and the modules it must not import; to add a rule, add a row.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dfsession"


@attrs.frozen
class Rule:
    """Modules in ``layer`` import nothing in ``forbidden``, except what ``allowed`` names."""

    name: str
    layer: str
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()


RULES = (
    Rule(
        "the pipeline knows steps only through the protocol, and no shell, engine or tracer",
        layer="dfsession.pipeline",
        forbidden=(
            "dfsession.steps",
            "dfsession.facade",
            "dfsession.cli",
            "dfsession.bootstrap",
            "dfsession.session",
            "dfsession.tracing",
            "dfsession.engine",
            "opentelemetry",
        ),
    ),
    Rule(
        "the profile is a functional core: no engine, no pipeline, no steps",
        layer="dfsession.profile",
        forbidden=(
            "datafusion",
            "deltalake",
            "dfsession.pipeline",
            "dfsession.engine",
            "dfsession.steps",
        ),
    ),
    Rule(
        "a step module never reaches into another step module, nor into the shell above",
        layer="dfsession.steps",
        forbidden=(
            "dfsession.steps",
            "dfsession.facade",
            "dfsession.session",
            "dfsession.bootstrap",
        ),
    ),
    Rule(
        "only the engine layer imports deltalake",
        layer="dfsession",
        forbidden=("deltalake",),
        exempt=("dfsession.engine",),
    ),
    Rule(
        "only the engine's cluster module imports ballista (and only for a Ballista engine)",
        layer="dfsession",
        forbidden=("ballista",),
        exempt=("dfsession.engine.cluster",),
    ),
    Rule(
        "the engine layer stands on the profile, errors and logs alone",
        layer="dfsession.engine",
        forbidden=("dfsession",),
        allowed=(
            "dfsession.engine",
            "dfsession.profile",
            "dfsession.errors",
            "dfsession.logs",
            "dfsession._version",
        ),
    ),
    Rule(
        "validation builds through the composition root and the engine, never a step itself",
        layer="dfsession.bootstrap",
        forbidden=("dfsession.steps", "dfsession.facade", "dfsession.tracing"),
    ),
    Rule(
        "the doctor checks through the engine: it builds nothing and knows no step",
        layer="dfsession.checkup",
        forbidden=(
            "dfsession.steps",
            "dfsession.pipeline",
            "dfsession.session",
            "dfsession.bootstrap",
            "dfsession.facade",
        ),
    ),
    Rule(
        "the query facade runs queries on a built session: it knows no step and no build",
        layer="dfsession.facade",
        forbidden=(
            "dfsession.steps",
            "dfsession.pipeline",
            "dfsession.session",
            "dfsession.bootstrap",
        ),
    ),
    Rule(
        "nothing imports the command line (but `python -m dfsession`)",
        layer="dfsession",
        forbidden=("dfsession.cli",),
        exempt=("dfsession.__main__", "dfsession.cli"),
    ),
    Rule(
        "query-time faults are shared by the udfs step and the facade: they import neither",
        layer="dfsession.faults",
        forbidden=(
            "dfsession.pipeline",
            "dfsession.steps",
            "dfsession.facade",
            "dfsession.session",
            "dfsession.bootstrap",
            "dfsession.tracing",
        ),
    ),
    Rule(
        "errors import nothing of dfsession but the record",
        layer="dfsession.errors",
        forbidden=("dfsession",),
        allowed=("dfsession.record",),
    ),
)


def _within(module: str, prefix: str) -> bool:
    """Whether ``module`` is ``prefix`` or inside it (``a.b`` is within ``a``, ``ab`` is not)."""
    return module == prefix or module.startswith(prefix + ".")


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str, src: Path) -> bool:
    """Whether ``name`` is a module or package of the source tree."""
    path = src.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path, src: Path) -> Iterator[str]:
    """Every module ``path`` imports, wherever the import statement is."""
    module = _module_name(path, src)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # ``from dfsession import steps`` imports the module ``dfsession.steps``.
            for alias in node.names:
                if _is_module(f"{base}.{alias.name}", src):
                    yield f"{base}.{alias.name}"


def _violations(rule: Rule, src: Path = SRC) -> list[str]:
    """One line per forbidden import: the module, what it imports, and the rule."""
    found = []
    for path in sorted((src / "dfsession").rglob("*.py")):
        module = _module_name(path, src)
        if not _within(module, rule.layer) or any(_within(module, e) for e in rule.exempt):
            continue
        for imported in sorted(set(_imports(path, src))):
            if _within(imported, module):
                continue
            if any(_within(imported, f) for f in rule.forbidden) and not any(
                _within(imported, a) for a in rule.allowed
            ):
                found.append(f"{module} imports {imported} (rule: {rule.name})")
    return found


def test_every_rule_applies_to_modules_that_exist() -> None:
    modules = {_module_name(path, SRC) for path in PACKAGE.rglob("*.py")}
    for rule in RULES:
        assert any(_within(module, rule.layer) for module in modules), rule.layer


@pytest.mark.parametrize("rule", RULES, ids=[rule.layer for rule in RULES])
def test_no_layer_imports_what_its_rule_forbids(rule: Rule) -> None:
    assert _violations(rule) == []


def test_a_violation_names_the_module_the_import_and_the_rule(tmp_path: Path) -> None:
    steps = tmp_path / "dfsession" / "steps"
    steps.mkdir(parents=True)
    for name in ("__init__", "delta", "views"):
        (steps / f"{name}.py").write_text("", encoding="utf-8")
    # Lazy imports, relative ones and imports under TYPE_CHECKING count like any other.
    (steps / "views.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from . import delta\n"
        "def f():\n    from dfsession.steps.delta import DeltaStep\n",
        encoding="utf-8",
    )
    rule = Rule("steps stay apart", layer="dfsession.steps", forbidden=("dfsession.steps",))
    assert _violations(rule, tmp_path) == [
        "dfsession.steps.views imports dfsession.steps (rule: steps stay apart)",
        "dfsession.steps.views imports dfsession.steps.delta (rule: steps stay apart)",
    ]


def _declares_all(path: Path) -> bool:
    """Whether the module assigns ``__all__`` at its top level."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_every_public_module_declares_its_public_names() -> None:
    lacking = [
        _module_name(path, SRC)
        for path in sorted(PACKAGE.rglob("*.py"))
        if not (path.name.startswith("_") and path.name != "__init__.py")
        and not _declares_all(path)
    ]
    assert lacking == []
