"""Datasets from table providers: a Delta table through deltalake's FFI provider, and Parquet
files through a pyarrow dataset, each made by a callable the profile names.

Run: python examples/provider_datasets.py
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import make_data
import structlog

from dfsession import SessionContextBuilder, load_profile

PROFILE = Path(__file__).resolve().parent / "providers.toml"


def main() -> None:
    """Build the session, query the view over both providers, show their records."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    make_data.main()
    with SessionContextBuilder(load_profile(PROFILE)).build() as session:
        for row in session.execute("SELECT * FROM fares_by_tier ORDER BY tier").to_pylist():
            print(f"{row['tier']:<6} {row['trips']:>5} trips {row['fares']:>10.2f}")
        for entry in session.record("datasets").applied["datasets"]:
            shown = {k: entry[k] for k in ("name", "ref", "provider", "package") if k in entry}
            print(json.dumps(shown))
        versions = session.report()["versions"]
        print("deltalake built for DataFusion", versions["deltalake.datafusion_major"])


if __name__ == "__main__":
    main()
