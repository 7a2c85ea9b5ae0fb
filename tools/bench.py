"""Benchmark: CPU time of rendering each stack next to the CPU time of importing the Pulumi SDK
modules that render needs (issue 14 item 8: a prod render at most 1.3x that import).

What is compared, and why:

- The baseline imports exactly the modules of pulumi, pulumi_kubernetes, pulumi_github and
  pulumi_docker that a render of prod loads (asked of the render itself: ``sys.modules`` at
  exit, in load order), not just the four top-level packages, which load their resource modules
  lazily. Both sides include interpreter start-up.
- Both sides load bytecode. pip byte-compiled the SDK at install; the program's modules are
  byte-compiled by the first render, as Python does on any machine, except where
  ``PYTHONDONTWRITEBYTECODE`` is set (as in some sandboxes): then every render compiles the
  program from source. The bench lets the renders it starts write ``__pycache__`` (git ignores
  it) and prints what compiling from source would add, on its own line.
- The ratio counts one render process. An environment stack's StackReference is answered by a
  render of its platform stack in a child process (render/stackref.py); that is a different
  stack's render, with its own SDK import, and it is cached by a hash of everything it reads, so
  only the first render after a change pays it. The renders measured use a warm cache (in a
  temporary folder, ``RENDER_CACHE_DIR``); the cost of a miss is printed on its own line.
- Figures are medians of CPU time (user + system, from ``getrusage`` of the finished children)
  of fresh processes, the baseline and the renders interleaved, so that a machine busy with other
  work (two cores shared with others here) slows both sides alike.

``make bench`` also prints the parts of a prod render, timed inside one process (median of the
runs): the SDK imports, the program's own imports (pydantic, components, render, YAML libraries),
and the render proper (config validation, the program under the mock runtime, writing files),
and their ratio. That stricter ratio leaves out interpreter start-up and exit; exit frees every
SDK object (about a fifth of the baseline's CPU here), which both whole-process figures include
and which dilutes what the program adds, so both ratios are printed.
``python -X importtime -m render prod`` and ``python -m cProfile -s cumtime -m render prod`` show
where each goes.

It also renders a pathological but valid dev stack (a copy of the project in a temporary folder):
every list as long as the limits allow (256 matrix packages, 94 environment variables, 100
canary steps, hundreds of branch patterns, secrets and access groups, 10 KB commands), to show
that validation and render stay linear. Figures are printed, never asserted.

Last, the delivery-metrics job's GitHub API requests over a busy year (tests/github_year.py: 20
deployments a day for a year, one run a day keeping its state): per run, the requests sent, the
ones answered 304 (free) and the ones that cost rate limit. These are bounded (the bench exits
non-zero beyond them): no run may spend more than GITHUB_TOKEN's hourly 1,000 less the job's
reserve, and once the kept state has caught up a run costs at most 80.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNS = 5
SDKS = ("pulumi", "pulumi_kubernetes", "pulumi_github", "pulumi_docker")

_LOADED = """\
import runpy, sys
sys.argv = ["render", *sys.argv[1:]]
try:
    runpy.run_module("render", run_name="__main__", alter_sys=True)
finally:
    sys.stderr.write("\\nLOADED-MODULES " + " ".join(sys.modules) + "\\n")
"""

# One process: import the SDK modules, then the program's, then render; CPU of each part.
_PARTS = """\
import importlib, json, sys, time
sdk, program, argv = json.loads(sys.argv[1])
def load(names):
    for name in names:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # a module only its importer can load (runpy's __main__, ...)
                pass
def unshadow(names):
    # Importing pkg.Name by its full name binds pkg.Name to the module, where the package's
    # own ``from .Name import *`` had bound the class Name (pulumi_kubernetes): rebind it.
    for name in names:
        parent, _, child = name.rpartition(".")
        module = sys.modules.get(name)
        if parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
            inner = getattr(module, child, None)
            if inner is not None and not isinstance(inner, type(sys)):
                setattr(sys.modules[parent], child, inner)
t0 = time.process_time()
load(sdk)
unshadow(sdk)
t1 = time.process_time()
load(program)
t2 = time.process_time()
from render.__main__ import main
code = main(argv)
t3 = time.process_time()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
sys.exit(code)
"""


def _env(cache: Path) -> dict[str, str]:
    """The renders' environment: a cache folder of the bench's own; bytecode written as usual."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["RENDER_CACHE_DIR"] = str(cache)
    return env


def _cpu(command: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + system) of one fresh process running ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=PROJECT_DIR, env=env, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _interleaved(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, float]:
    """Median CPU of each command over RUNS rounds, one run of each per round."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, command in commands.items():
            samples[name].append(_cpu(command, env))
    return {name: statistics.median(values) for name, values in samples.items()}


def loaded_modules(stack: str, out: str, env: dict[str, str]) -> list[str]:
    """Every module a render of ``stack`` has loaded when it ends, in load order."""
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, stack, "--out", out],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stderr.rsplit("LOADED-MODULES ", 1)[1].splitlines()[0].split()


def sdk_modules(loaded: list[str]) -> list[str]:
    return [m for m in loaded if m.split(".")[0] in SDKS]


def _program_files(loaded: list[str]) -> list[Path]:
    """Source files of the program's own modules (those in the project folder)."""
    files = []
    for name in loaded:
        parts = name.split(".")
        base = PROJECT_DIR.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                files.append(candidate)
                break
    return [*files, PROJECT_DIR / "__main__.py"]


def _compile_seconds(files: list[Path]) -> float:
    """CPU to compile ``files`` from source, as a render does without bytecode."""
    start = time.process_time()
    for path in files:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    return time.process_time() - start


def _parts(sdk: list[str], loaded: list[str], out: str, env: dict[str, str]) -> list[float]:
    """Median CPU of the prod render's parts: SDK imports, program imports, the render proper."""
    sdk_set = set(sdk)
    program = [m for m in loaded if m not in sdk_set and m != "__main__"]
    argument = json.dumps([sdk, program, ["prod", "--out", out]])
    rounds = []
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-c", _PARTS, argument],
            cwd=PROJECT_DIR,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        rounds.append(json.loads(done.stdout.splitlines()[-1]))
    return [statistics.median(r[i] for r in rounds) for i in range(3)]


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


METRICS_STEADY_BOUND = 80
"""Requests that cost rate limit in a daily run once the kept state has caught up."""


def _metrics_requests() -> None:
    """GitHub API requests of the delivery-metrics job on a busy year, first run to steady."""
    sys.path.insert(0, str(PROJECT_DIR))
    from tests.github_year import HOURLY_LIMIT, PER_DAY, daily_runs

    reserve = 300
    with tempfile.TemporaryDirectory() as tmp:
        runs = daily_runs(Path(tmp) / "state.json", days=6, reserve=reserve)
        size = (Path(tmp) / "state.json").stat().st_size
    print(
        f"delivery metrics, a year of deployments at {PER_DAY} a day, windows 7 and 30 days, "
        f"one run a day keeping its state ({size // 1024} KiB), reserve {reserve}:"
    )
    for r in runs:
        kind = "partial (stopped at the reserve)" if r.partial else "complete"
        print(
            f"  run {r.day + 1}: {r.requests:5d} requests, {r.not_modified:3d} answered 304 "
            f"(free), {r.charged:5d} charged: {kind}"
        )
    worst = max(r.charged for r in runs)
    if worst > HOURLY_LIMIT - reserve:
        raise SystemExit(f"a metrics run charged {worst} requests, over {HOURLY_LIMIT - reserve}")
    if runs[-1].partial or runs[-1].charged > METRICS_STEADY_BOUND:
        raise SystemExit(
            f"the steady metrics run charged {runs[-1].charged}, over {METRICS_STEADY_BOUND}"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp) / "cache")
        # Warms the platform cache and writes the program's bytecode; reports what prod loads.
        loaded = loaded_modules("prod", f"{tmp}/probe", env)
        for stack in ("dev", "staging"):
            _cpu([sys.executable, "-m", "render", stack, "--out", f"{tmp}/{stack}"], env)
        sdk = sdk_modules(loaded)
        commands = {"sdk": [sys.executable, "-c", "import " + ", ".join(sdk)]}
        for stack in ("dev", "staging", "prod"):
            commands[stack] = [sys.executable, "-m", "render", stack, "--out", f"{tmp}/{stack}"]
        commands["platform"] = [
            *(sys.executable, "-m", "render", "--project", "platform", "prod"),
            *("--out", f"{tmp}/platform"),
        ]
        figures = _interleaved(commands, env)
        baseline = figures["sdk"]
        print(
            f"import of the {len(sdk)} SDK modules a prod render loads: "
            f"{baseline:6.2f} s CPU (median of {RUNS}, interleaved with the renders)"
        )
        for stack in ("dev", "staging", "prod"):
            print(
                f"render {stack:8s}: {figures[stack]:6.2f} s CPU   ratio to the SDK import "
                f"{figures[stack] / baseline:5.2f}x"
            )
        sdk_part, program_part, render_part = _parts(sdk, loaded, f"{tmp}/parts", env)
        print(
            f"parts of a prod render (one process, median of {RUNS}): SDK imports "
            f"{sdk_part:5.2f} s, program imports (pydantic, components, render, YAML) "
            f"{program_part:5.2f} s, config + program under the mock runtime + files "
            f"{render_part:5.2f} s; ratio of these parts to the SDK imports "
            f"{(sdk_part + program_part + render_part) / sdk_part:5.2f}x (no start-up or exit: "
            "freeing the SDK's objects at exit is a large share of both whole-process figures)"
        )
        print(
            f"a platform-cache miss (first render after a change) adds the platform stack's "
            f"render in a child process: {figures['platform']:5.2f} s CPU (not in the ratio)"
        )
        compile_cpu = _compile_seconds(_program_files(loaded))
        print(
            f"without bytecode (PYTHONDONTWRITEBYTECODE), each render also compiles the "
            f"program from source: {compile_cpu:5.2f} s CPU (not in the ratio)"
        )
    _pathological()
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak resident memory of one render process: {peak_kib / 1024:.0f} MiB")
    _metrics_requests()


if __name__ == "__main__":
    main()
