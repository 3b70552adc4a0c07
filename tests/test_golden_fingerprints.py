"""Fingerprints pinned before the redesign: every profile of the examples and of the test suite.

``tests/data/golden_fingerprints.json`` holds each profile the suite built (as the data given to
``SessionProfile.from_dict``) with the fingerprint it had, and the fingerprint of every example
profile file. A change to how profiles are parsed, stored or hashed must leave them all as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dfsession import SessionProfile, load_profile

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = json.loads((ROOT / "tests" / "data" / "golden_fingerprints.json").read_text("utf-8"))
PROFILES: list[dict[str, Any]] = GOLDEN["profiles"]


@pytest.mark.parametrize("example", sorted(GOLDEN["examples"]))
def test_example_profile_keeps_its_fingerprint(example: str) -> None:
    assert load_profile(ROOT / example).fingerprint() == GOLDEN["examples"][example]


def test_every_example_profile_is_pinned() -> None:
    found = {str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("*.toml")}
    assert found <= set(GOLDEN["examples"]), (
        f"pin the new example: {found - set(GOLDEN['examples'])}"
    )


@pytest.mark.parametrize("index", range(len(PROFILES)))
def test_pinned_profile_keeps_its_fingerprint_and_round_trips(index: int) -> None:
    entry = PROFILES[index]
    profile = SessionProfile.from_dict(entry["profile"])
    assert profile.fingerprint() == entry["fingerprint"]
    again = SessionProfile.from_dict(profile.to_dict())
    assert again == profile
    assert again.fingerprint() == entry["fingerprint"]
