"""Whole-process start-up: the ``dfsession`` command line against the plain Python one-liner.

Each candidate is a fresh ``python`` process, timed from start to exit, with its peak memory (its
``ru_maxrss`` from ``os.wait4``, spawned by a small launcher process: see ``LAUNCHER_CODE``).
Bytecode is cached first (warm-up runs), candidates alternate, and medians of many runs are
compared:

- ``dfsession sql PROFILE 'SELECT 1'`` (as ``python -m dfsession`` and as the console script)
  against ``python -c`` code that builds the same context (the profile's settings through
  ``SessionConfig``, the same Parquet dataset) and runs the same query;
- ``import dfsession``, ``python -m dfsession --version`` and ``--help`` against
  ``import datafusion``, with bare ``python -c pass`` as the floor.

The processes import dfsession from this checkout's ``src`` (``PYTHONPATH``). A single run of each
dfsession command with ``-X importtime`` also reports which heavy packages it imported.

Run: python benchmarks/bench_startup.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import alternate, print_result, summarize, write_results

SRC = Path(__file__).resolve().parent.parent / "src"
#: Top-level packages ``-X importtime`` reports for each command: the costliest, at least this.
IMPORT_REPORT_MS = 2.0
QUERY = "SELECT 1"
PLAIN_CODE = """\
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext
config = (
    SessionConfig()
    .with_target_partitions(4)
    .with_batch_size(8192)
    .with_default_catalog_and_schema("datafusion", "public")
    .with_information_schema(False)
    .set("datafusion.execution.parquet.pushdown_filters", "true")
)
runtime = RuntimeEnvBuilder().with_unbounded_memory_pool().with_disk_manager_os()
ctx = SessionContext(config, runtime)
ctx.register_parquet("trips", {path!r})
ctx.sql({query!r}).show()
"""
PROFILE_TOML = """\
[execution]
target_partitions = 4
batch_size = 8192

[settings]
"datafusion.execution.parquet.pushdown_filters" = "true"

[datasets.trips]
format = "parquet"
location = {path!r}
"""


def child_env() -> dict[str, str]:
    """This environment, importing dfsession from this checkout, bytecode written and read."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SRC), env.get("PYTHONPATH"))))
    return env


#: The launcher: a small Python process that spawns each command and reports its peak memory.
#: A child's ``ru_maxrss`` starts from the image of the process that spawned it, so a child of
#: the benchmark itself (pyarrow and datafusion loaded) would show ~80 MiB even for ``pass``.
LAUNCHER_CODE = """\
import json, os, sys
for line in sys.stdin:
    job = json.loads(line)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, job["stdout"], flags, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, job["stderr"], flags, 0o600),
    ]
    pid = os.posix_spawn(job["command"][0], job["command"], job["env"], file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    reply = {
        "exit": os.waitstatus_to_exitcode(status),
        "maxrss_kib": usage.ru_maxrss,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }
    print(json.dumps(reply), flush=True)
"""


class Launcher:
    """The launcher process: ``run(command, ...)`` returns the exit status and peak memory."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(
        self, command: list[str], env: dict[str, str], stdout: Path, stderr: Path
    ) -> tuple[int, int, float]:
        """Run ``command`` to its end: exit status, peak resident bytes, CPU seconds (user+sys)."""
        assert self._process.stdin is not None and self._process.stdout is not None
        job = {"command": command, "env": env, "stdout": str(stdout), "stderr": str(stderr)}
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        reply = json.loads(self._process.stdout.readline())
        # ru_maxrss is in kibibytes on Linux.
        return int(reply["exit"]), int(reply["maxrss_kib"]) * 1024, float(reply["cpu_s"])

    def close(self) -> None:
        """End the launcher (it stops when its standard input ends)."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


class Process:
    """One command, run to completion as a fresh process: its peak memory and its output."""

    def __init__(
        self, launcher: Launcher, command: list[str], expect: str, folder: Path, env: dict[str, str]
    ) -> None:
        self.launcher = launcher
        self.command = command
        self.expect = expect
        self.env = env
        self.stdout = folder / f"{id(self)}.out"
        self.stderr = folder / f"{id(self)}.err"
        self.peak_rss: list[int] = []
        self.cpu: list[float] = []
        self.returncode = 0

    def run(self) -> None:
        """Run the process through the launcher; keep its peak memory (bytes) and CPU time."""
        self.returncode, peak, cpu = self.launcher.run(
            self.command, self.env, self.stdout, self.stderr
        )
        self.peak_rss.append(peak)
        self.cpu.append(cpu)

    def check(self) -> None:
        """The run succeeded and printed what it should."""
        text = self.stdout.read_text(encoding="utf-8", errors="replace")
        if self.returncode != 0 or self.expect not in text:
            problem = self.stderr.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(
                f"{' '.join(self.command)} exited {self.returncode}; stdout {text[-500:]!r}; "
                f"stderr {problem!r}"
            )


def import_costs(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Import milliseconds of one run (``-X importtime``): in all, and by top-level package.

    A package's figure sums its own modules' self times, so a package imported by another
    (``rich`` by ``structlog``) is counted on its own. ``-X importtime`` itself slows imports.
    """
    traced = {**env, "PYTHONPROFILEIMPORTTIME": "1"}  # -X importtime, console scripts too
    done = subprocess.run(command, capture_output=True, text=True, env=traced, check=True)
    by_package: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or not fields[0].strip().isdigit():
            continue  # not a timing line, or the header
        by_package[fields[2].strip().split(".")[0]] += int(fields[0])
    costly = {
        name: round(us / 1000, 1)
        for name, us in by_package.most_common()
        if us / 1000 >= IMPORT_REPORT_MS
    }
    return {"total": round(sum(by_package.values()) / 1000, 1), "by_package": costly}


def case(
    name: str,
    processes: dict[str, Process],
    *,
    baseline: str,
    repeat: int,
) -> dict[str, Any]:
    """Alternate the processes, check every run, report medians, ratios and peak memory."""
    samples = alternate(
        {label: p.run for label, p in processes.items()},
        repeat=repeat,
        warmup=2,
        after=lambda label: processes[label].check(),
    )
    result = summarize(name, samples, baseline=baseline)
    # Other work on the machine stretches wall times; the fastest run and the CPU time the
    # process used are steadier figures beside the medians.
    fastest = {label: min(values) for label, values in samples.items()}
    result["min_ms"] = {label: round(value * 1000, 2) for label, value in fastest.items()}
    result["ratio_of_minima"] = {
        label: round(value / fastest[baseline], 3) for label, value in fastest.items()
    }
    cpu = {label: statistics.median(p.cpu[-repeat:]) for label, p in processes.items()}
    result["cpu_ms"] = {label: round(value * 1000, 1) for label, value in cpu.items()}
    result["cpu_ratio"] = {label: round(value / cpu[baseline], 3) for label, value in cpu.items()}
    memory = {
        label: statistics.median(p.peak_rss[-repeat:]) / 2**20 for label, p in processes.items()
    }
    result["peak_rss_mib"] = {label: round(mib, 1) for label, mib in memory.items()}
    result["peak_rss_ratio"] = {
        label: round(mib / memory[baseline], 3) for label, mib in memory.items()
    }
    return result


def print_steadier(result: dict[str, Any]) -> None:
    """Fastest run, CPU time and peak memory of each candidate's process, with ratios."""
    width = max(28, *map(len, result["peak_rss_mib"]))
    for label, mib in result["peak_rss_mib"].items():
        print(
            f"  {label:<{width}} fastest {result['min_ms'][label]:>8.1f} ms "
            f"({result['ratio_of_minima'][label]:.3f})  CPU {result['cpu_ms'][label]:>7.1f} ms "
            f"({result['cpu_ratio'][label]:.3f})  peak RSS {mib:>6.1f} MiB "
            f"({result['peak_rss_ratio'][label]:.3f})"
        )


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Write the profile and its data, then time both groups of processes."""
    repeat = 15 if quick else 21
    python = sys.executable
    script = str(Path(python).parent / "dfsession")
    env = child_env()
    folder = Path(tempfile.mkdtemp(prefix="dfsession-bench-startup-"))
    launcher = Launcher()
    try:
        data = folder / "trips.parquet"
        pq.write_table(pa.table({"id": [1, 2, 3], "fare": [9.5, 12.0, 7.25]}), data)
        profile = folder / "profile.toml"
        profile.write_text(PROFILE_TOML.format(path=str(data)), encoding="utf-8")

        def process(command: list[str], expect: str) -> Process:
            return Process(launcher, command, expect, folder, env)

        origin = subprocess.run(
            [python, "-c", "import dfsession; print(dfsession.__file__)"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout.strip()
        print(f"dfsession imported from {origin}")
        sql = {
            "plain python -c": process(
                [python, "-c", PLAIN_CODE.format(path=str(data), query=QUERY)], "1"
            ),
            "python -m dfsession sql": process(
                [python, "-m", "dfsession", "sql", str(profile), QUERY], "1"
            ),
        }
        if Path(script).is_file():
            sql["dfsession sql (console script)"] = process(
                [script, "sql", str(profile), QUERY], "1"
            )
        light = {
            "python -c import datafusion": process([python, "-c", "import datafusion"], ""),
            "python -c pass": process([python, "-c", "pass"], ""),
            "python -c import dfsession": process([python, "-c", "import dfsession"], ""),
            "python -m dfsession --version": process(
                [python, "-m", "dfsession", "--version"], "dfsession"
            ),
            "python -m dfsession --help": process([python, "-m", "dfsession", "--help"], "usage"),
        }
        results = []
        for name, processes, baseline in (
            (f"startup: {QUERY!r} through a profile, whole process", sql, "plain python -c"),
            ("startup: imports, --version, --help", light, "python -c import datafusion"),
        ):
            result = case(name, processes, baseline=baseline, repeat=repeat)
            result["imports_ms"] = {
                label: import_costs(p.command, env)
                for label, p in processes.items()
                if "dfsession" in label or label == baseline
            }
            result["dfsession_from"] = origin
            print_result(result)
            print_steadier(result)
            for label, costs in result["imports_ms"].items():
                print(f"  imports of {label}: {costs['total']} ms: {costs['by_package']}")
            results.append(result)
        return results
    finally:
        launcher.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 runs of each, not 21")
    write_results("startup", main(quick=parser.parse_args().quick))
