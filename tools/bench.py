"""Benchmark: render time of each stack next to the bare import time of the Pulumi SDKs.

Each figure is the median of several fresh processes (wall clock), so it includes interpreter
start-up on both sides; the ratio says how much the program and its render add on top of merely
importing pulumi, pulumi_kubernetes, pulumi_github and pulumi_docker. Peak memory is the largest
resident set of one render process.

It also renders a pathological but valid dev stack (a copy of the project in a temporary folder):
every list as long as the limits allow (256 matrix packages, 94 environment variables, 100
canary steps, hundreds of branch patterns, secrets and access groups, 10 KB commands), to show
that validation and render stay linear. Run with ``make bench``; figures are printed, never
asserted.
"""

from __future__ import annotations

import json
import resource
import shutil
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


def _pathological_config() -> dict[str, object]:
    """Pulumi.dev.yaml's config with every list at (or near) the limit config allows."""
    sys.path.insert(0, str(PROJECT_DIR))
    from render.stackfile import config_mapping

    config = config_mapping(PROJECT_DIR / "Pulumi.dev.yaml")
    long_command = "npm run lint " + " ".join(f"--flag-{i}" for i in range(1000))
    config["cicd:pipeline"] = {
        **config["cicd:pipeline"],
        "packages": [f"package-{i}" for i in range(256)],
        "commands": {"lint": long_command, "typecheck": long_command},
    }
    config["cicd:environment"] = {
        **config["cicd:environment"],
        "variables": {f"SETTING_{i}": "x" * 1000 for i in range(94)},
        "secrets": [{"name": f"EXTRA_{i}", "configKey": f"extra{i}"} for i in range(200)],
    }
    for i in range(200):
        config[f"cicd:extra{i}"] = {"secure": "v1:YmVuY2g="}
    config["cicd:approval"] = {
        "branches": ["develop", *(f"feature/team-{i}/*" for i in range(300))]
    }
    config["cicd:access"] = {
        "viewerGroups": [f"viewers-{i}" for i in range(300)],
        "operatorGroups": [f"operators-{i}" for i in range(300)],
    }
    config["cicd:canary"] = {
        "enabled": True,
        "steps": [{"weight": w, "pause": "1m"} for w in range(1, 101)],
    }
    config["cicd:app"] = {**config["cicd:app"], "replicas": 50}
    return config


def _pathological() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(PROJECT_DIR / name, root / name)
        for folder in ("components", "render"):
            shutil.copytree(
                PROJECT_DIR / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        config = _pathological_config()
        # JSON is YAML: the stack file is written without a YAML library's help.
        (root / "Pulumi.dev.yaml").write_text(json.dumps({"config": config}, indent=1))
        size = (root / "Pulumi.dev.yaml").stat().st_size
        command = [sys.executable, "-m", "render", "dev", "--out", f"{tmp}/out"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"pathological stack did not render:\n{done.stderr}")
        resources = done.stdout.splitlines()[0]
        print(
            f"render of a pathological dev stack ({size // 1024} KiB stack file; {resources}): "
            f"{seconds:6.2f} s wall, {cpu:6.2f} s CPU (wall includes waiting for a busy machine)"
        )


def main() -> None:
    baseline = _median([sys.executable, "-c", IMPORTS])
    print(f"bare import of pulumi + 3 provider SDKs: {baseline:6.2f} s (median of {RUNS})")
    with tempfile.TemporaryDirectory() as tmp:
        for stack in ("dev", "staging", "prod"):
            seconds = _median([sys.executable, "-m", "render", stack, "--out", f"{tmp}/{stack}"])
            print(
                f"render {stack:8s}: {seconds:6.2f} s   ratio to bare import {seconds / baseline:5.2f}x"
            )
    _pathological()
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak resident memory of one render process: {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
