"""Loading a profile in layers: 3 files and 1,000 datasets against the same profile as one file.

The layered profile is ``analytics.toml``, which extends ``base.toml`` and ``lake.toml``: the
datasets are spread over the three files, and ``analytics.toml`` changes the options and schema
of some of the base's datasets and the engine's limits (tables merge key by key). The one file
holds what the three merge to. Both are read from disk by ``load_profile``, with the same
``${LAKE_ROOT:-...}`` locations and relative paths, and must give equal profiles.

Run: python benchmarks/bench_layers.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import load_profile

DATASETS = 1000
#: Datasets declared by base.toml, lake.toml and analytics.toml.
SPLIT = (500, 300, 200)
#: Every this many base datasets, analytics.toml changes their options and adds a schema.
CHANGED_EVERY = 5
ENVIRON = {"LAKE_ROOT": "data"}
#: Within this ratio, loading in layers costs what the issue allows.
TARGET_RATIO = 1.5


def dataset(index: int) -> dict[str, Any]:
    """One Parquet dataset, partitioned, under ``${LAKE_ROOT}``."""
    return {
        "format": "parquet",
        "location": f"${{LAKE_ROOT:-lake}}/table_{index:04d}/",
        "partition_cols": {"year": "int32", "month": "int8"},
        "options": {"file_extension": ".parquet"},
    }


def change() -> dict[str, Any]:
    """What analytics.toml lays over some of the base's datasets."""
    return {
        "options": {"skip_metadata": False},
        "schema": {"id": "int64", "name": "string", "amount": "decimal(12, 2)"},
    }


def layers() -> dict[str, dict[str, Any]]:
    """The three files' contents, by file name."""
    first, second, _third = SPLIT
    base: dict[str, Any] = {
        "execution": {"target_partitions": 4, "batch_size": 8192},
        "catalog": {"default_catalog": "analytics", "information_schema": True},
        "settings": {"datafusion.optimizer.max_passes": "3"},
        "datasets": {f"t{i:04d}": dataset(i) for i in range(first)},
    }
    lake = {"datasets": {f"t{i:04d}": dataset(i) for i in range(first, first + second)}}
    top: dict[str, Any] = {
        "extends": ["base.toml", "lake.toml"],
        "execution": {"target_partitions": 16, "memory_limit": "4GiB"},
        "datasets": {
            **{f"t{i:04d}": change() for i in range(0, first, CHANGED_EVERY)},
            **{f"t{i:04d}": dataset(i) for i in range(first + second, DATASETS)},
        },
    }
    return {"base.toml": base, "lake.toml": lake, "analytics.toml": top}


def merged(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """The tables laid over each other in order, as ``extends`` does."""
    out: dict[str, Any] = {}
    for table in tables:
        for name, value in table.items():
            if isinstance(value, dict) and isinstance(out.get(name), dict):
                out[name] = merged([out[name], value])
            else:
                out[name] = value
    return out


def write_profiles(folder: Path) -> tuple[Path, Path]:
    """The layered profile and the one-file profile, written into ``folder``."""
    files = layers()
    for name, table in files.items():
        (folder / name).write_text(tomli_w.dumps(table), encoding="utf-8")
    top = {k: v for k, v in files["analytics.toml"].items() if k != "extends"}
    single = merged([files["base.toml"], files["lake.toml"], top])
    (folder / "single.toml").write_text(tomli_w.dumps(single), encoding="utf-8")
    return folder / "analytics.toml", folder / "single.toml"


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Run and print the layers benchmark; return the results."""
    quiet_logging()
    with tempfile.TemporaryDirectory() as folder:
        layered, single = write_profiles(Path(folder))
        profile = load_profile(layered, environ=ENVIRON)
        assert profile == load_profile(single, environ=ENVIRON), "the two must be one profile"
        assert len(profile.datasets) == DATASETS
        result = compare(
            f"load: 3 layers against one file, {DATASETS} datasets",
            {
                "one file": lambda: load_profile(single, environ=ENVIRON),
                "3 layers": lambda: load_profile(layered, environ=ENVIRON),
            },
            baseline="one file",
            repeat=5 if quick else 21,
        )
    result["target_ratio"] = TARGET_RATIO
    print_result(result)
    return [result]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    write_results("layers", main(parser.parse_args().quick))
