"""Write the example data, build a session from the bundled profile, print its records, query.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import logging
from pathlib import Path

import make_data
import structlog

from dfsession import SessionContextBuilder, load_profile

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Build, show what each step applied, query."""
    # dfsession never configures logging; an application does. Here: warnings only, so the
    # printed records are the output (drop this line to see one debug event per step).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    make_data.main()
    profile = load_profile(HERE / "profile.toml")
    session = SessionContextBuilder(profile).build()
    print(f"profile {session.fingerprint[:12]}  runtime {session.runtime_hash[:12]}")
    for record in session.records:
        applied = dict(record.applied)
        timing = f"{record.duration_ms:>8.3f} ms"
        print(f"  {record.step:<14} {record.status:<8} {timing}  {applied}")
    table = session.ctx.sql(
        "SELECT name, value FROM information_schema.df_settings "
        "WHERE name IN ('datafusion.execution.target_partitions', "
        "'datafusion.optimizer.max_passes') "
        "ORDER BY name"
    ).to_arrow_table()
    for row in table.to_pylist():
        print(f"  {row['name']} = {row['value']}")
    print("revenue by tier (a view over a view over Parquet, joined to a Delta table):")
    for row in session.execute("SELECT * FROM revenue_by_tier ORDER BY tier").to_pylist():
        print(f"  {row['tier']:<6} {row['trips']:>4} trips  {row['revenue']:>10.2f}")
    counts = session.execute(
        "SELECT (SELECT count(*) FROM customers) AS now, "
        "(SELECT count(*) FROM customers_v0) AS at_version_0"
    ).to_pylist()[0]
    print(f"customers now: {counts['now']}, at Delta version 0: {counts['at_version_0']}")
    print(
        "prepared trips_of_customer(3):",
        session.execute_prepared("trips_of_customer", 3).to_pylist(),
    )


if __name__ == "__main__":
    main()
