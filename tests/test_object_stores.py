"""The ``object_stores`` step: real stores registered under URLs, secrets that never show.

S3 runs against moto's server on 127.0.0.1 (see conftest.py); local stores over tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from structlog.testing import capture_logs

from conftest import KEY_ENV, SECRET_ENV, S3Bucket
from dfsession import ProfileError, SessionContextBuilder, SessionProfile, StepFailedError
from dfsession.bootstrap import validate_profile
from dfsession.locations import ObjectStores
from dfsession.profile.locations import Location, redact_url
from dfsession.steps.datasets import DatasetsStep
from dfsession.steps.session import ContextStep
from dfsession.steps.storage import ObjectStoresStep

TRIPS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "fare": [10.0, 250.0, 99.5]})


def build(data: dict[str, Any]) -> Any:
    return SessionContextBuilder(SessionProfile.from_dict(data)).build()


def test_parquet_written_to_an_s3_bucket_is_registered_and_queried(s3_bucket: S3Bucket) -> None:
    s3_bucket.put_parquet("trips/part-0.parquet", TRIPS)
    session = build(
        {
            "object_stores": {"lake": s3_bucket.store()},
            "datasets": {
                "trips": {
                    "format": "parquet",
                    "location": f"s3://{s3_bucket.name}/trips/",
                    "schema": {"id": "int64", "fare": "float64"},
                    "schema_mode": "exact",
                }
            },
        }
    )
    result = session.ctx.sql("SELECT count(*) AS n, sum(fare) AS total FROM trips").to_pydict()
    assert result == {"n": [3], "total": [359.5]}


def test_store_url_may_alias_a_bucket_named_in_options(s3_bucket: S3Bucket) -> None:
    s3_bucket.put_parquet("trips/part-0.parquet", TRIPS)
    store = s3_bucket.store()
    store["url"] = "s3://warehouse"
    store["options"] = {**store["options"], "bucket": s3_bucket.name}
    session = build(
        {
            "object_stores": {"lake": store},
            "datasets": {"trips": {"format": "parquet", "location": "s3://warehouse/trips/"}},
        }
    )
    assert session.ctx.sql("SELECT count(*) AS n FROM trips").to_pydict() == {"n": [3]}


def test_local_store_with_a_prefix_serves_a_custom_scheme(tmp_path: Path) -> None:
    (tmp_path / "trips").mkdir()
    pq.write_table(TRIPS, tmp_path / "trips" / "part-0.parquet")
    session = build(
        {
            "object_stores": {
                "files": {
                    "url": "myfs://bucket",
                    "kind": "local",
                    "options": {"prefix": str(tmp_path)},
                }
            },
            "datasets": {"trips": {"format": "parquet", "location": "myfs://bucket/trips/"}},
        }
    )
    assert session.ctx.sql("SELECT max(id) AS m FROM trips").to_pydict() == {"m": [3]}
    record = session.record("object_stores")
    assert record.applied["object_stores"] == [
        {
            "name": "files",
            "url": "myfs://bucket",
            "kind": "local",
            "options": {"prefix": str(tmp_path)},
            "secrets": {},
        }
    ]


def test_missing_local_prefix_is_a_profile_error_not_an_engine_panic(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    profile = SessionProfile.from_dict(
        {
            "object_stores": {
                "files": {"url": "myfs://b", "kind": "local", "options": {"prefix": str(missing)}}
            }
        }
    )
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.path == "object_stores.files.options.prefix"
    assert str(missing) in str(caught.value)
    assert caught.value.step == "object_stores"


def test_unknown_store_option_is_rejected_at_load_time_with_its_path() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {
                "object_stores": {
                    "lake": {"url": "s3://lake", "kind": "s3", "options": {"regoin": "x"}}
                }
            }
        )
    assert caught.value.path == "object_stores.lake.options.regoin"
    assert "did you mean 'region'" in str(caught.value)


def test_a_secret_given_as_plain_text_is_rejected_at_load_time() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {
                "object_stores": {
                    "lake": {
                        "url": "s3://lake",
                        "kind": "s3",
                        "secrets": {"secret_access_key": "abc"},
                    }
                }
            }
        )
    assert caught.value.path.startswith("object_stores.lake.secrets")
    assert "abc" not in str(caught.value)


def test_missing_secret_variable_names_the_variable_and_the_path(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    profile = SessionProfile.from_dict({"object_stores": {"lake": s3_bucket.store()}})
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.path == "object_stores.lake.secrets.secret_access_key"
    assert SECRET_ENV in str(caught.value)


def test_record_describes_secrets_by_source_never_by_value(s3_bucket: S3Bucket) -> None:
    session = build({"object_stores": {"lake": s3_bucket.store()}})
    (entry,) = session.record("object_stores").applied["object_stores"]
    assert entry == {
        "name": "lake",
        "url": f"s3://{s3_bucket.name}",
        "kind": "s3",
        "options": {"region": "us-east-1", "endpoint": s3_bucket.endpoint, "allow_http": True},
        "secrets": {"access_key_id": f"env:{KEY_ENV}", "secret_access_key": f"env:{SECRET_ENV}"},
    }


def test_literal_secrets_work_and_show_only_as_literal_stars(s3_bucket: S3Bucket) -> None:
    s3_bucket.put_parquet("t/part-0.parquet", TRIPS)
    store = s3_bucket.store()
    store["secrets"] = {
        "access_key_id": {"literal": s3_bucket.key_id},
        "secret_access_key": {"literal": s3_bucket.secret},
    }
    profile = SessionProfile.from_dict(
        {
            "object_stores": {"lake": store},
            "datasets": {"t": {"format": "parquet", "location": f"s3://{s3_bucket.name}/t/"}},
        }
    )
    session = SessionContextBuilder(profile).build()
    assert session.ctx.sql("SELECT count(*) AS n FROM t").to_pydict() == {"n": [3]}
    (entry,) = session.record("object_stores").applied["object_stores"]
    assert entry["secrets"] == {"access_key_id": "literal:***", "secret_access_key": "literal:***"}
    assert s3_bucket.secret not in profile.fingerprint()
    assert s3_bucket.secret not in repr(profile)
    assert s3_bucket.secret not in json.dumps(session.report())


def test_azure_and_gcs_stores_register_and_record_without_network() -> None:
    session = build(
        {
            "object_stores": {
                "blobs": {
                    "url": "az://container",
                    "kind": "azure",
                    "options": {"use_emulator": True},
                },
                "gcs": {"url": "gs://bucket", "kind": "gcs"},
                "web": {"url": "https://example.com", "kind": "http"},
            }
        }
    )
    kinds = [e["kind"] for e in session.record("object_stores").applied["object_stores"]]
    assert kinds == ["azure", "gcs", "http"]


def test_missing_gcs_service_account_file_names_the_option(tmp_path: Path) -> None:
    profile = SessionProfile.from_dict(
        {
            "object_stores": {
                "gcs": {
                    "url": "gs://bucket",
                    "kind": "gcs",
                    "options": {"service_account_path": str(tmp_path / "missing.json")},
                }
            }
        }
    )
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.path == "object_stores.gcs.options.service_account_path"


def test_the_session_holds_the_provided_store_access_for_later_steps(
    s3_bucket: S3Bucket,
) -> None:
    session = build({"object_stores": {"lake": s3_bucket.store()}})
    stores = session.provided.get(ObjectStores)
    assert stores is not None and list(stores) == ["lake"]
    access = stores["lake"]
    options = access.delta_storage_options()
    assert options["AWS_ENDPOINT_URL"] == s3_bucket.endpoint
    assert options["AWS_ALLOW_HTTP"] == "true"
    assert options["AWS_SECRET_ACCESS_KEY"] == s3_bucket.secret
    assert s3_bucket.secret not in repr(access)


def test_credentials_in_a_location_are_redacted() -> None:
    assert redact_url("s3://user:pa55@bucket/x?sig=abc&sv=1") == "s3://***@bucket/x?sig=***&sv=***"
    assert redact_url("data/trips.parquet") == "data/trips.parquet"
    assert Location.parse("s3://bucket/x?sig=abc").redacted() == "s3://bucket/x?sig=***"


def test_the_secret_value_appears_in_no_record_log_repr_or_report(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    s3_bucket.put_parquet("trips/part-0.parquet", TRIPS)
    write_deltalake(
        f"s3://{s3_bucket.name}/orders",
        pa.table({"id": [1, 2]}),
        storage_options=s3_bucket.delta_storage_options(),
    )
    data = {
        "catalog": {"information_schema": True},
        "object_stores": {"lake": s3_bucket.store()},
        "datasets": {
            "trips": {
                "format": "parquet",
                "location": f"s3://{s3_bucket.name}/trips/",
                "schema": {"id": "int64", "fare": "float64"},
            },
            "orders": {"format": "delta", "location": f"s3://{s3_bucket.name}/orders"},
        },
        "views": {"big": {"sql": "SELECT * FROM trips WHERE fare > 100"}},
        "prepared": {"by_id": {"sql": "SELECT * FROM trips WHERE id = $1", "params": ["int64"]}},
    }
    profile = SessionProfile.from_dict(data)
    with capture_logs() as logs:
        session = SessionContextBuilder(profile).build()
        session.ctx.sql("SELECT * FROM big").to_pydict()
        report = session.report()
        validation = validate_profile(profile)
    secret = s3_bucket.secret
    places = {
        "records": json.dumps([r.to_dict() for r in session.records]),
        "repr(records)": repr(session.records),
        "repr(profile)": repr(profile),
        "profile TOML": profile.to_toml(),
        "fingerprint": profile.fingerprint(),
        "repr(session)": repr(session),
        "repr(provided)": repr(session.provided),
        "repr(stores)": repr(session.provided.get(ObjectStores)),
        "report": json.dumps(report),
        "validation": json.dumps(validation.to_dict()),
        "logs": repr(logs),
    }
    assert [where for where, text in places.items() if secret in text] == []
    assert session.ctx.sql("SELECT count(*) AS n FROM trips").to_pydict() == {"n": [3]}


def test_a_failed_build_message_does_not_carry_the_secret(s3_bucket: S3Bucket) -> None:
    profile = SessionProfile.from_dict(
        {
            "object_stores": {"lake": s3_bucket.store()},
            "datasets": {"t": {"format": "parquet", "location": f"s3://{s3_bucket.name}/none/"}},
        }
    )
    with capture_logs() as logs, pytest.raises(Exception) as caught:
        SessionContextBuilder(
            profile, steps=(ContextStep(), ObjectStoresStep(), DatasetsStep())
        ).build()
    assert "'t'" in str(caught.value)
    assert s3_bucket.secret not in str(caught.value)
    assert s3_bucket.secret not in repr(logs)


def test_store_folder_without_trailing_slash_reads_the_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "sub" / "x.parquet")
    profile = SessionProfile.from_dict(
        {
            "object_stores": {
                "l": {"url": "local://data", "kind": "local", "options": {"prefix": str(tmp_path)}}
            },
            "datasets": {"t": {"format": "parquet", "location": "local://data/sub"}},
        }
    )
    session = SessionContextBuilder(profile).build()
    assert session.execute("SELECT sum(a) AS s FROM t").to_pydict() == {"s": [3]}


def test_location_in_no_registered_store_names_the_missing_entry() -> None:
    profile = SessionProfile.from_dict(
        {"datasets": {"t": {"format": "parquet", "location": "s3://nowhere/x/"}}}
    )
    with pytest.raises(StepFailedError, match=r"no \[object_stores\] entry covers 's3://nowhere'"):
        SessionContextBuilder(profile).build()
