"""``doctor``: will this profile work here? Real folders, real Delta tables, and the
S3-compatible server the suite starts (conftest.py), with its authentication switched on to
show a store that refuses a wrong key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datafusion
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from ballista_cluster import BALLISTA_MISSING, free_port
from conftest import DATAFUSION_MAJOR, KEY_ENV, SECRET_ENV, S3Bucket
from dfsession import DoctorReport, SessionProfile, doctor
from dfsession.checkup import FAMILIES, Check, DoctorRun
from test_cli import run

ORDERS = pa.table({"id": pa.array([1, 2], pa.int64())})


def check_of(report: DoctorReport, what: str) -> Any:
    (found,) = [check for check in report.checks if check.what.startswith(what)]
    return found


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A Parquet file, a Delta table of two versions, a folder of tables."""
    pq.write_table(ORDERS, tmp_path / "orders.parquet")
    write_deltalake(str(tmp_path / "events"), ORDERS)
    write_deltalake(str(tmp_path / "events"), ORDERS, mode="append")
    (tmp_path / "raw" / "t").mkdir(parents=True)
    pq.write_table(ORDERS, tmp_path / "raw" / "t" / "a.parquet")
    return tmp_path


def local_profile(lake: Path, **delta: Any) -> dict[str, Any]:
    return {
        "datasets": {
            "orders": {"format": "parquet", "location": str(lake / "orders.parquet")},
            "events": {"format": "delta", "location": str(lake / "events"), **delta},
        },
        "discover": {"raw": {"location": str(lake / "raw"), "format": "parquet"}},
    }


def test_a_sound_local_profile_passes_every_check(lake: Path) -> None:
    report = doctor(SessionProfile.from_dict(local_profile(lake, version=1)))
    assert report.ok
    assert [(c.kind, c.status) for c in report.checks] == [
        ("plugin", "ok"),
        ("location", "ok"),
        ("location", "ok"),
        ("location", "ok"),
        ("delta", "ok"),
    ]
    assert check_of(report, "datasets.events (Delta log").detail == "readable at version 1"
    assert check_of(report, "discover.raw.location").detail == "exists"


def test_the_doctor_reads_no_row(lake: Path) -> None:
    (lake / "orders.parquet").write_bytes(b"not parquet at all")
    assert doctor(SessionProfile.from_dict(local_profile(lake))).ok


def test_a_missing_location_fails_with_the_fix(lake: Path) -> None:
    data = local_profile(lake)
    data["datasets"]["orders"]["location"] = str(lake / "gone.parquet")
    report = doctor(SessionProfile.from_dict(data))
    assert not report.ok
    (failure,) = report.failures
    assert failure.what.startswith("datasets.orders.location")
    assert failure.detail == "does not exist"
    assert failure.fix == "write the data there or fix datasets.orders.location"


def test_a_delta_version_that_does_not_exist_fails_naming_the_versions(lake: Path) -> None:
    report = doctor(SessionProfile.from_dict(local_profile(lake, version=7)))
    (failure,) = report.failures
    assert failure.kind == "delta"
    assert "version 7" in failure.what
    assert failure.fix == "the table has versions 0 to 1: fix datasets.events.version"


def test_a_delta_timestamp_before_the_first_commit_fails(lake: Path) -> None:
    report = doctor(SessionProfile.from_dict(local_profile(lake, timestamp="2001-01-01T00:00:00Z")))
    (failure,) = report.failures
    assert "did not exist at 2001-01-01" in failure.detail
    assert failure.fix.endswith("fix datasets.events.timestamp")


def test_a_plugin_built_for_another_datafusion_fails_with_the_way_out(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = 54 if DATAFUSION_MAJOR == 55 else 55  # the installed deltalake fits the installed one
    monkeypatch.setattr(datafusion, "__version__", f"{other}.0.0")
    report = doctor(SessionProfile.from_dict(local_profile(lake)))
    plugin = check_of(report, "deltalake")
    assert plugin.status == "failed"
    assert f"built for DataFusion {DATAFUSION_MAJOR}" in plugin.detail
    assert "pip install" in plugin.fix
    assert check_of(report, "datasets.events (Delta").status == "skipped"


def test_an_unset_secret_fails_and_its_store_is_skipped(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    report = doctor(SessionProfile.from_dict({"object_stores": {"lake": s3_bucket.store()}}))
    statuses = {c.what: (c.status, c.fix) for c in report.checks}
    assert statuses[f"object_stores.lake.secrets.secret_access_key (env:{SECRET_ENV})"] == (
        "failed",
        f"export {SECRET_ENV} before building the session",
    )
    assert statuses[f"object_stores.lake.secrets.access_key_id (env:{KEY_ENV})"][0] == "ok"
    assert check_of(report, "object_stores.lake (s3").status == "skipped"
    assert s3_bucket.key_id not in json.dumps(report.to_dict())


def test_an_s3_store_answers_and_its_locations_are_found(s3_bucket: S3Bucket) -> None:
    s3_bucket.put_parquet("trips/a.parquet", ORDERS)
    data = {
        "object_stores": {"lake": s3_bucket.store()},
        "datasets": {
            "trips": {"format": "parquet", "location": f"s3://{s3_bucket.name}/trips/"},
            "gone": {"format": "parquet", "location": f"s3://{s3_bucket.name}/gone/"},
        },
    }
    report = doctor(SessionProfile.from_dict(data))
    assert check_of(report, "object_stores.lake (s3").status == "ok"
    assert check_of(report, "datasets.trips.location").status == "ok"
    gone = check_of(report, "datasets.gone.location")
    assert (gone.status, gone.detail) == ("failed", "does not exist")


def test_a_delta_log_in_s3_is_read_at_its_version(s3_bucket: S3Bucket) -> None:
    uri = f"s3://{s3_bucket.name}/events"
    write_deltalake(uri, ORDERS, storage_options=s3_bucket.delta_storage_options())
    data = {
        "object_stores": {"lake": s3_bucket.store()},
        "datasets": {"events": {"format": "delta", "location": uri, "version": 3}},
    }
    report = doctor(SessionProfile.from_dict(data))
    (failure,) = report.failures
    assert failure.fix == "the table has versions 0 to 0: fix datasets.events.version"
    assert s3_bucket.secret not in json.dumps(report.to_dict())


@pytest.fixture
def s3_auth() -> Iterator[None]:
    """The S3-compatible server checks credentials for the duration of the test."""
    from moto import settings  # noqa: PLC0415 - only this test switches authentication on
    from moto.core.authorization import ActionAuthenticatorMixin  # noqa: PLC0415

    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = before


def test_a_store_refusing_a_wrong_key_fails_with_the_fix_and_no_secret_shown(
    s3_bucket: S3Bucket, s3_auth: None, tmp_path: Path
) -> None:
    store = s3_bucket.store()
    (tmp_path / "p.toml").write_text(
        "[object_stores.lake]\n"
        f"url = '{store['url']}'\nkind = 's3'\n"
        f"options = {{ region = 'us-east-1', endpoint = '{s3_bucket.endpoint}', "
        "allow_http = true }\n"
        f"secrets = {{ access_key_id = {{ env = '{KEY_ENV}' }}, "
        f"secret_access_key = {{ env = '{SECRET_ENV}' }} }}\n"
    )
    result = run("doctor", str(tmp_path / "p.toml"))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    (store_line,) = [line for line in lines if " store " in line]
    assert store_line.startswith("FAILED  store    object_stores.lake (s3 s3://")
    assert "the store refused the credentials" in store_line
    assert f"env:{KEY_ENV}, env:{SECRET_ENV}" in store_line
    assert lines[-1] == "doctor: FAILED (2 ok, 1 failed, 0 skipped)"
    for text in (result.stdout, result.stderr):
        assert s3_bucket.secret not in text
        assert s3_bucket.key_id not in text


# --- the command line ---------------------------------------------------------------------


def write_profile(lake: Path) -> Path:
    path = lake / "p.toml"
    path.write_text(
        "[datasets.events]\nformat = 'delta'\nlocation = 'events'\nversion = 1\n\n"
        "[env.old.datasets.events]\nversion = 0\n"
    )
    return path


def test_the_cli_prints_one_line_per_check_and_exits_0(lake: Path) -> None:
    result = run("doctor", str(write_profile(lake)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK      plugin   deltalake ")
    assert lines[-2].startswith("OK      delta    datasets.events (Delta log at ")
    assert lines[-1] == "doctor: ok (3 ok, 0 failed, 0 skipped)"


def test_the_cli_takes_env_and_set_and_prints_json_checks(lake: Path) -> None:
    profile = str(write_profile(lake))
    old = run("doctor", profile, "--env", "old", "--json")
    assert old.returncode == 0, old.stderr
    checks = json.loads(old.stdout)
    assert [c["kind"] for c in checks] == ["plugin", "location", "delta"]
    assert set(checks[0]) == {"kind", "what", "status", "detail", "fix"}
    assert checks[2]["detail"] == "readable at version 0"
    bad = run("doctor", profile, "--set", "datasets.events.version=9", "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)[2]["status"] == "failed"


def test_a_family_of_checks_can_be_added(lake: Path) -> None:
    def tables_named(run: DoctorRun) -> Iterator[Check]:
        for name in run.profile.datasets:
            status = "ok" if name.islower() else "failed"
            yield Check("naming", f"datasets.{name}", status, fix="use lower case")

    profile = SessionProfile.from_dict(local_profile(lake))
    report = doctor(profile, families=(*FAMILIES, tables_named))
    assert [c.kind for c in report.checks][-2:] == ["naming", "naming"]
    assert report.ok


def test_provider_datasets_are_imported_and_guarded_but_never_called(lake: Path) -> None:
    (lake / "lake_providers.py").write_text(
        "from deltalake import DeltaTable\n"
        f"EVENTS = DeltaTable({str(lake / 'events')!r})\n"
        "def make(options):\n    raise AssertionError('the doctor calls no provider')\n"
    )
    data = {
        "features": {"import_paths": [str(lake)]},
        "datasets": {
            "events": {"format": "provider", "ref": "lake_providers:EVENTS"},
            "made": {"format": "provider", "ref": "lake_providers:make"},
            "gone": {"format": "provider", "ref": "lake_providers:GONE"},
        },
    }
    report = doctor(SessionProfile.from_dict(data))
    events = check_of(report, "datasets.events.ref")
    assert (events.kind, events.status) == ("plugin", "ok")
    assert events.detail.startswith("deltalake ")
    assert events.detail.endswith(f"built for DataFusion {DATAFUSION_MAJOR}")
    assert check_of(report, "datasets.made.ref").status == "skipped"
    gone = check_of(report, "datasets.gone.ref")
    assert (gone.status, gone.fix) == ("failed", "fix datasets.gone.ref")
    assert [c.kind for c in report.checks] == ["plugin"] * 3


def test_a_ballista_scheduler_that_does_not_answer_fails_with_the_fix() -> None:
    url = f"df://127.0.0.1:{free_port()}"
    report = doctor(SessionProfile.from_dict({"engine": {"kind": "ballista", "url": url}}))
    scheduler = check_of(report, f"engine.url ({url})")
    assert scheduler.status == "failed"
    assert scheduler.detail.startswith("no scheduler answers")
    assert "fix engine.url" in scheduler.fix
    client = check_of(report, "engine (Ballista client)")
    if BALLISTA_MISSING is not None:
        assert client.status == "failed"
        assert 'pip install "dfsession[ballista]"' in client.fix
    else:
        assert client.status == "ok"
    assert not report.ok


def test_a_local_engine_has_no_cluster_checks(lake: Path) -> None:
    report = doctor(SessionProfile.from_dict(local_profile(lake)))
    assert not [check for check in report.checks if check.kind == "cluster"]
