"""What a user might use instead: the Ibis DataFusion backend registering the same tables.

Run: python benchmarks/bench_ibis.py        (needs the bench extra: pip install -e ".[bench]")

Compares, in one run, plain DataFusion calls (the floor), dfsession, and Ibis connecting to a
DataFusion context and reading the same Parquet files. When the installed Ibis cannot work with
the installed DataFusion, the result records why instead of a timing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import datafusion
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scaling import dataset_case
from harness import compare, print_result, quiet_logging, write_results

DATASETS = 100


def _ibis_case(path: Path, n: int) -> Any:
    import ibis  # noqa: PLC0415 - optional (bench extra)

    def ibis_build() -> Any:
        con = ibis.datafusion.connect()
        for i in range(n):
            con.read_parquet(str(path), table_name=f"t{i}")
        return con

    return ibis_build


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Time the three, or record why Ibis cannot take part."""
    quiet_logging()
    name = f"build with {DATASETS} datasets: plain, dfsession, Ibis"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.parquet"
        pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64())}), path)
        plain, ours = dataset_case(path, DATASETS)
        candidates: dict[str, Any] = {"plain datafusion": plain, "dfsession": ours}
        try:
            import ibis  # noqa: PLC0415 - optional (bench extra)

            ibis_build = _ibis_case(path, DATASETS)
            ibis_build()
            candidates["ibis (datafusion backend)"] = ibis_build
            ibis_note = f"ibis {ibis.__version__}"
        except ImportError:
            ibis_note = "ibis not installed (pip install -e '.[bench]')"
        except Exception as exc:  # the backend itself failed: record the engine pair and why
            version = getattr(sys.modules.get("ibis"), "__version__", "?")
            ibis_note = (
                f"ibis {version} cannot use datafusion {datafusion.__version__}: "
                f"{type(exc).__name__}: {exc}"
            )
        result = compare(name, candidates, baseline="plain datafusion", repeat=5 if quick else 11)
    result["ibis"] = ibis_note
    print_result(result)
    print(f"  ibis: {ibis_note}")
    return [result]


if __name__ == "__main__":
    write_results("ibis", main())
