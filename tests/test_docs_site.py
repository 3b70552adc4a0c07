"""The documentation site: its reference pages follow the code, and it works in a browser.

The reference generator is ``docs/hooks/reference.py`` (an mkdocs hook). The browser test builds
the site with ``mkdocs build --strict``, serves it on 127.0.0.1 and opens it in headless
Chromium (Debian's ``chromium`` and ``chromium-driver``); the screenshot of the profile reference
is kept under ``tests/artifacts/``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import attrs
import pytest

import dfsession
from dfsession.cli import build_parser
from dfsession.profile.sections import ExecutionConfig
from dfsession.profile.values import doc, one_of

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"


def hook() -> ModuleType:
    """The site's reference generator, imported from its file."""
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "docs/hooks/reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the reference follows the code -----------------------------------------------------------


@attrs.frozen
class ExecutionWithCompression(ExecutionConfig):
    """Execution limits, and how spilled files are compressed."""

    spill_compression: str = attrs.field(
        default="zstd",
        validator=one_of("zstd", "lz4", "none"),
        metadata=doc("how spilled files are compressed"),
    )


@attrs.frozen
class ExtendedProfile(dfsession.SessionProfile):
    """A profile whose execution section has one key more."""

    execution: ExecutionWithCompression = attrs.field(factory=ExecutionWithCompression)


def test_a_field_added_to_a_spec_class_appears_in_the_profile_reference() -> None:
    reference = hook().profile_reference
    before = reference()
    after = reference(ExtendedProfile)

    assert "spill_compression" not in before
    row = next(line for line in after.splitlines() if line.startswith("| `spill_compression`"))
    assert row == (
        '| `spill_compression` | string | `"zstd"` | `"zstd"`, `"lz4"`, `"none"` '
        "| how spilled files are compressed |"
    )
    assert 'spill_compression = "zstd"' in after  # in the section's example too


def test_the_profile_reference_has_every_key_of_every_section_format_and_kind() -> None:
    text = hook().profile_reference()
    for key in dfsession.SessionProfile.__attrs_attrs__:
        if not key.name.startswith("_"):
            assert f"## `{key.name}`" in text
    for tag in ("parquet", "csv", "json", "arrow", "delta"):
        assert f'### `format = "{tag}"`' in text
    for kind in ("local", "s3", "gcs", "azure", "http"):
        assert f'### `kind = "{kind}"`' in text
    for key in ("options.delimiter", "secrets.secret_access_key", "memory_limit", "version"):
        assert f"| `{key}` |" in text


def test_every_example_of_the_profile_reference_is_a_valid_profile() -> None:
    import tomllib  # noqa: PLC0415

    reference = hook()
    examples = re.findall(r"```toml\n(.*?)```", reference.profile_reference(), re.DOTALL)
    assert len(examples) > 15
    for example in examples:  # beside the catalog the examples name, as the hook checks them
        context = "" if example.startswith("[catalogs.") else reference.EXAMPLE_CONTEXT
        dfsession.SessionProfile.from_dict(tomllib.loads(context + example))


def test_the_cli_reference_has_every_command_and_option() -> None:
    text = hook().cli_reference()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert f"## `dfsession {name}`" in text
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):  # every command has -h
                continue
            for option in action.option_strings:
                assert option in text, f"{name} {option}"


def test_the_api_reference_is_the_public_surface() -> None:
    text = hook().api_reference()
    names = re.findall(r"^::: dfsession\.(\w+)$", text, re.MULTILINE)
    assert names == [name for name in dfsession.__all__ if not name.startswith("_")]


def test_an_unknown_generated_block_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'profile-refrence'"):
        hook().on_page_markdown("<!-- generated: profile-refrence -->")


# --- the site in a browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with --strict (a broken link or reference fails the build)."""
    folder = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _browser() -> object:
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium import webdriver  # noqa: PLC0415 - the docs extra
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_the_site_works_in_a_browser(served: str) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - the docs extra
    from selenium.webdriver.support import expected_conditions  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    browser = _browser()
    try:
        browser.get(served + "/")
        assert browser.title.startswith("dfsession")
        assert "declarative" in browser.find_element(By.TAG_NAME, "article").text

        browser.get(served + "/reference/profile/")
        article = browser.find_element(By.TAG_NAME, "article").text
        assert "target_partitions" in article
        assert "secrets.secret_access_key" in article
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "profile-reference.png"
        assert browser.save_screenshot(str(screenshot))
        print(f"screenshot of the profile reference: {screenshot}")

        box = WebDriverWait(browser, 20).until(
            expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input"))
        )
        box.click()
        box.send_keys("memory_limit")
        results = WebDriverWait(browser, 30).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, ".md-search-result__item") or None
        )
        assert any("memory_limit" in item.text or "Profile" in item.text for item in results)
    finally:
        browser.quit()


def test_every_page_of_the_site_is_in_its_navigation_and_every_link_of_the_readme_exists() -> None:
    import yaml  # noqa: PLC0415 - mkdocs' own dependency (the docs extra)

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = set(re.findall(r"[\w/-]+\.md", str(config["nav"])))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages == listed
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(((?:docs/)?[\w/.-]+\.md)\)", readme):
        assert (ROOT / target).is_file(), target
