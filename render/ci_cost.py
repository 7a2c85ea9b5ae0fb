"""``python -m render ci-cost [STACK...]``: what each rendered workflow costs, read from the file.

For every workflow file a stack commits it prints the job graph as levels (a job's level is one
more than the highest level of the jobs it ``needs``; jobs without ``needs`` are level 1), the
level of the workflow's key output (ci.yml: the pushed digest, job ``publish``; release.yml: the
named release; any other workflow: its deepest job), and per job what it installs (setup
actions, ``npm ci``, ``npx --yes``, cosign, artifact downloads) and whether its npm cache is on.

It reads only the rendered YAML, never the generator, so it shows what GitHub would run.
docs/ci-cost.md has the figures before and after issue 27; ``make bench`` prints them too.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

KEY_JOBS: Final = {"ci.yml": "publish", "release.yml": "release"}
"""The job whose output is the workflow's purpose, where it is not simply the deepest one."""

REPORTING_JOBS: Final = frozenset({"notify", "security-alert", "ci-ok"})
"""Jobs that only report or aggregate: never a workflow's key output."""

_INSTALL_ACTIONS: Final = {
    "actions/setup-node": "node",
    "actions/setup-python": "python",
    "docker/setup-buildx-action": "buildx",
    "azure/setup-kubectl": "kubectl",
    "sigstore/cosign-installer": "cosign",
    "grafana/setup-k6-action": "k6",
    "actions/download-artifact": "artifact download",
}
_INSTALL_COMMANDS: Final = (
    (re.compile(r"^\s*npm (ci|install)\b", re.M), "npm ci"),
    (re.compile(r"\bnpx --yes \"?([^\s\"]+)"), "npx"),
    (re.compile(r"\bpip install\b"), "pip install"),
    (re.compile(r"\bapt-get install\b"), "apt-get install"),
)


@dataclass(frozen=True)
class JobCost:
    job: str
    level: int
    installs: tuple[str, ...]
    npm_cache: bool


@dataclass(frozen=True)
class WorkflowCost:
    file: str
    key_job: str
    key_level: int
    levels: int
    jobs: tuple[JobCost, ...]


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def job_levels(jobs: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Job id -> level (1 for a job that needs nothing)."""
    levels: dict[str, int] = {}

    def level(job_id: str) -> int:
        if job_id not in levels:
            levels[job_id] = 1 + max((level(n) for n in _needs(jobs[job_id])), default=0)
        return levels[job_id]

    for job_id in jobs:
        level(job_id)
    return levels


def _installs(job: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    found: list[str] = []
    cache = False
    for step in job.get("steps", []):
        uses = str(step.get("uses", "")).split("@", 1)[0]
        if uses in _INSTALL_ACTIONS:
            found.append(_INSTALL_ACTIONS[uses])
            if uses == "actions/setup-node" and step.get("with", {}).get("cache") == "npm":
                cache = True
        script = str(step.get("run", ""))
        for name, value in step.get("env", {}).items():  # values the script reads from env
            script = script.replace(f"${{{name}}}", str(value))
        for pattern, what in _INSTALL_COMMANDS:
            for match in pattern.finditer(script):
                found.append(f"{what} {match[1]}" if what == "npx" else what)
    return tuple(found), cache


def workflow_cost(file: str, text: str) -> WorkflowCost:
    jobs: dict[str, Any] = yaml.safe_load(text)["jobs"]
    levels = job_levels(jobs)
    work = [j for j in levels if j not in REPORTING_JOBS] or list(levels)
    key = KEY_JOBS.get(file) or max(work, key=lambda j: levels[j])
    costs = []
    for job_id, job in jobs.items():
        installs, cache = _installs(job)
        costs.append(JobCost(job_id, levels[job_id], installs, cache))
    return WorkflowCost(file, key, levels[key], max(levels.values()), tuple(costs))


def report(stack: str, workflows: Mapping[str, str]) -> str:
    lines = [f"stack {stack}"]
    for file, text in workflows.items():
        cost = workflow_cost(file, text)
        lines.append(
            f"  {file}: {cost.key_level} job level(s) to {cost.key_job}; "
            f"{cost.levels} level(s) in all"
        )
        for job in sorted(cost.jobs, key=lambda j: (j.level, j.job)):
            installs = ", ".join(job.installs) or "nothing"
            cache = " (npm cache)" if job.npm_cache else ""
            lines.append(f"    L{job.level} {job.job}: installs {installs}{cache}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from components.config import stack_names
    from render.engine import PROJECT_DIR, render
    from render.tree import tree

    stacks = argv or stack_names(PROJECT_DIR)
    for stack in stacks:
        files = tree(render(stack))
        workflows = {
            path.rsplit("/", 1)[1]: text
            for path, text in files.items()
            if path.startswith("github/workflows/")
        }
        print(report(stack, workflows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
