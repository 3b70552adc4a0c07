"""Build a session from the bundled profile, print its step records, and run a query.

Run: python examples/quickstart.py
"""

from __future__ import annotations

from pathlib import Path

from dfsession import SessionContextBuilder, load_profile

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Build, show what each step applied, query."""
    profile = load_profile(HERE / "profile.toml")
    session = SessionContextBuilder(profile).build()
    print(f"profile {session.fingerprint[:12]}  runtime {session.runtime_hash[:12]}")
    for record in session.records:
        applied = dict(record.applied)
        print(f"  {record.step:<14} {record.status:<8} {record.duration_ms:>8.3f} ms  {applied}")
    table = session.ctx.sql(
        "SELECT name, value FROM information_schema.df_settings "
        "WHERE name IN ('datafusion.execution.target_partitions', 'datafusion.optimizer.max_passes') "
        "ORDER BY name"
    ).to_arrow_table()
    for row in table.to_pylist():
        print(f"  {row['name']} = {row['value']}")


if __name__ == "__main__":
    main()
