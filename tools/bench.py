"""Benchmark: render time of each stack next to the bare import time of the Pulumi SDKs.

Each figure is the median of several fresh processes (wall clock), so it includes interpreter
start-up on both sides; the ratio says how much the program and its render add on top of merely
importing pulumi, pulumi_kubernetes, pulumi_github and pulumi_docker. Peak memory is the largest
resident set of one render process. Run with ``make bench``; figures are printed, never asserted.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNS = 3
IMPORTS = "import pulumi, pulumi_kubernetes, pulumi_github, pulumi_docker"


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)
    return time.perf_counter() - start


def _median(command: list[str]) -> float:
    return statistics.median(_time(command) for _ in range(RUNS))


def main() -> None:
    baseline = _median([sys.executable, "-c", IMPORTS])
    print(f"bare import of pulumi + 3 provider SDKs: {baseline:6.2f} s (median of {RUNS})")
    with tempfile.TemporaryDirectory() as tmp:
        for stack in ("dev", "staging", "prod"):
            seconds = _median([sys.executable, "-m", "render", stack, "--out", f"{tmp}/{stack}"])
            print(
                f"render {stack:8s}: {seconds:6.2f} s   ratio to bare import {seconds / baseline:5.2f}x"
            )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak resident memory of one render process: {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
