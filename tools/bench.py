"""Benchmark: CPU time of rendering each stack next to the CPU time of importing the Pulumi SDK
modules that render needs.

The baseline imports exactly the modules of pulumi, pulumi_kubernetes, pulumi_github and
pulumi_docker that a render of prod loads (asked of the render itself: ``sys.modules`` at exit),
not just the four top-level packages, which load their resource modules lazily. Figures are the
median CPU time (user + system, from ``getrusage`` of the finished child) of several fresh
processes, so a machine busy with other work changes them little; both sides include interpreter
start-up. The ratio for prod says what the program and the render add on top of the SDK
(issue 14 item 8: at most 1.3x). ``python -X importtime -m render prod`` shows where it goes.

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
SDKS = ("pulumi", "pulumi_kubernetes", "pulumi_github", "pulumi_docker")

_LOADED = """\
import runpy, sys
sys.argv = ["render", *sys.argv[1:]]
try:
    runpy.run_module("render", run_name="__main__", alter_sys=True)
finally:
    sdk = sorted(m for m in sys.modules if m.split(".")[0] in {sdks!r})
    sys.stderr.write("\\nSDK-MODULES " + " ".join(sdk) + "\\n")
"""


def _cpu(command: list[str]) -> float:
    """CPU seconds (user + system) of one fresh process running ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _median(command: list[str]) -> float:
    return statistics.median(_cpu(command) for _ in range(RUNS))


def sdk_modules(stack: str, out: str) -> list[str]:
    """The SDK modules a render of ``stack`` has loaded when it ends."""
    script = _LOADED.format(sdks=set(SDKS))
    done = subprocess.run(
        [sys.executable, "-c", script, stack, "--out", out],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        text=True,
    )
    line = done.stderr.rsplit("SDK-MODULES ", 1)[1].splitlines()[0]
    return line.split()


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
        "steps": [{"weight": w, "pause": "10s"} for w in range(1, 101)],
    }
    config["cicd:app"] = {**config["cicd:app"], "replicas": 50}
    # The longest job config allows: 100 canary steps take a long rollout wait.
    config["cicd:deploy"] = {**config.get("cicd:deploy", {}), "jobTimeoutMinutes": 360}
    return config


def _pathological() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(PROJECT_DIR / name, root / name)
        for folder in ("components", "delivery_metrics", "platform", "render"):
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
    with tempfile.TemporaryDirectory() as tmp:
        modules = sdk_modules("prod", f"{tmp}/probe")
        imports = "import " + ", ".join(modules)
        baseline = _median([sys.executable, "-c", imports])
        print(
            f"import of the {len(modules)} SDK modules a prod render loads: "
            f"{baseline:6.2f} s CPU (median of {RUNS})"
        )
        for stack in ("dev", "staging", "prod"):
            seconds = _median([sys.executable, "-m", "render", stack, "--out", f"{tmp}/{stack}"])
            print(
                f"render {stack:8s}: {seconds:6.2f} s CPU   ratio to the SDK import "
                f"{seconds / baseline:5.2f}x"
            )
    _pathological()
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak resident memory of one render process: {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
