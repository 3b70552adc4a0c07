"""Profiles in layers: examples/layers/ holds a base, a lake layer and an analytics profile
with two environments. Build each environment, say where prod's values come from, and what
differs between the two sessions.

Run: python examples/layered_profiles.py
"""

from __future__ import annotations

import logging
from pathlib import Path

import make_data
import structlog

from dfsession import SessionContextBuilder, load_profile
from dfsession.diff import diff_reports

PROFILE = Path(__file__).resolve().parent / "layers" / "analytics.toml"


def main() -> None:
    """Build dev and prod from one profile; show the provenance of prod and the difference."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    make_data.main()
    reports = {}
    for env in ("dev", "prod"):
        profile = load_profile(PROFILE, env=env)  # or DFSESSION_ENV=prod, or --env prod
        with SessionContextBuilder(profile).build() as session:
            lima = session.execute_prepared("trips_in_city", "Lima").column("trips")[0]
            print(f"{env}: {lima} trips in Lima, {profile.execution.target_partitions} partitions")
            reports[env] = session.report()
            if env == "prod":
                print("where prod's values come from:")
                for key, origin in profile.provenance().items():
                    print(f"  {key:<45} {origin}")
    print("what differs between the dev and prod profiles, and where each side comes from:")
    for difference in diff_reports(reports["dev"], reports["prod"]).section("provenance"):
        print(difference.line("dev", "prod"))


if __name__ == "__main__":
    main()
