"""Add a function bundle to a profile and query with it.

The profile (functions.toml) names a module attribute that is a list of function objects
(a bundle) and a plain callable with its signature. The ``udfs`` step installs them, checks
the engine lists them, and records each one's signature in the session report.

Run: python examples/function_bundle.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dfsession import SessionContextBuilder, load_profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so the profile's "example_functions:..." references import


def main() -> None:
    """Build the session, query with the bundle's functions and print the function snapshot."""
    profile = load_profile(HERE / "functions.toml")
    session = SessionContextBuilder(profile).build()
    session.ctx.from_pydict(
        {
            "city": ["  paris", "london ", " new york "],
            "lat": [48.8566, 51.5072, 40.7128],
            "lon": [2.3522, -0.1276, -74.0060],
            "population_m": [2.1, 8.9, 8.3],
        },
        name="cities",
    )
    query = """
        SELECT clean_name(city) AS city,
               round(haversine_km(lat, lon, 48.8566, 2.3522)) AS km_from_paris
        FROM cities ORDER BY km_from_paris
    """
    for row in session.ctx.sql(query).to_arrow_table().to_pylist():
        print(f"{row['city']:<10} {row['km_from_paris']:>8.0f} km")
    mean = session.ctx.sql("SELECT geometric_mean(population_m) AS g FROM cities")
    print(f"geometric mean population: {mean.to_arrow_table().column('g')[0].as_py():.2f} M")
    print("functions:")
    print(json.dumps(session.report()["functions"], indent=2))


if __name__ == "__main__":
    main()
