"""metrics.yml and the files it runs: the delivery-metrics job of the application repository.

The dev stack commits, when ``cicd:metrics.enabled`` is true:

- ``.github/workflows/metrics.yml``: on a cron schedule and on demand (``workflow_dispatch``),
  one job with a read-only token (``actions``, ``deployments``, ``contents``: runs and their
  artifacts, deployments and statuses, compare) that installs the pinned requirements and runs
  ``python -m delivery_metrics``; the summary goes to the job summary, the exposition is kept as
  an artifact and pushed to the Pushgateway when config names one;
- ``.github/delivery-metrics/``: the ``delivery_metrics`` package of this project as one wheel,
  ``delivery_metrics-<__version__>-py3-none-any.whl``, built here byte for byte reproducibly
  (:func:`build_wheel`) and committed as base64 text (a repository file is text), and its
  ``requirements.txt``: every package it imports, pinned with the sha256 of its wheel. The job
  decodes the wheel, checks its sha256 against the one written into metrics.yml, installs the
  requirements with ``--require-hashes --no-deps``, the wheel with ``--no-deps --no-index``,
  and ``pip check``s, so nothing unpinned or altered is ever installed. The workflow runs on
  the default branch (schedules only run there), so what runs is what the stack committed and a
  reviewer saw in the render: a change of the package shows as a new checksum.

Between runs the job keeps its per-deployment results in the Actions cache (the
``actions/cache`` step: key ``delivery-metrics-v<STATE_VERSION>-<run id>``, restored by its
prefix, saved by the action's post step), so a run reads only what is new; see
delivery_metrics/state.py. A new STATE_VERSION changes the prefix, so the old cache is not used.

Every value from config reaches the script through ``env:`` (the model forbids ``${{`` in
``run:``); the Pushgateway URL is not a secret, so it is a literal; its credentials, where
``cicd:metrics.pushgatewayAuth`` asks for them, are the repository secret
PUSHGATEWAY_CREDENTIALS, read by this one step only.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Final

from components.workflows import pins
from components.workflows.common import checkout, run, script, upload_artifact
from components.workflows.contract import secret
from components.workflows.model import (
    Access,
    Concurrency,
    Grant,
    Job,
    Schedule,
    Scope,
    Step,
    Workflow,
    WorkflowDispatch,
    expr,
    template,
)
from components.workflows.spec import MetricsSpec, WorkflowsSpec
from delivery_metrics.state import STATE_VERSION

METRICS_WORKFLOW: Final = "metrics.yml"
PACKAGE_DIR: Final = ".github/delivery-metrics"
"""Where the package is committed in the application repository (on PYTHONPATH in the job)."""
PACKAGE_SOURCE: Final = Path(__file__).resolve().parents[2] / "delivery_metrics"
PYTHON_VERSION: Final = "3.12"
CI_WORKFLOW: Final = "ci.yml"
EXPOSITION: Final = template(expr("runner.temp"), "/delivery-metrics.prom")

STATE: Final = template(expr("runner.temp"), "/delivery-metrics-state.json")
STATE_KEY_PREFIX: Final = f"delivery-metrics-v{STATE_VERSION}-"
"""The cache key's prefix: a new delivery_metrics.state.STATE_VERSION starts a new cache."""

COMPUTE: Final = script("metrics_compute.sh")
"""Runs ``python -m delivery_metrics`` with the job's settings, every value from ``env:``."""


def wheel_name() -> str:
    return f"delivery_metrics-{_version()}-py3-none-any.whl"


def _version() -> str:
    """``__version__`` of the package, read from its source (no import: no side effects)."""
    text = (PACKAGE_SOURCE / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__: Final = "([0-9]+\.[0-9]+\.[0-9]+)"$', text, re.M)
    if match is None:
        raise ValueError('delivery_metrics/__init__.py must set __version__: Final = "X.Y.Z"')
    return match[1]


def _requires() -> list[str]:
    """``Requires-Dist`` of the wheel: the direct pins of requirements.in (``pip check`` then
    proves the hash-pinned lock satisfies them)."""
    lines = (PACKAGE_SOURCE / "requirements.in").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def build_wheel() -> bytes:
    """The ``delivery_metrics`` wheel, byte for byte the same on every machine.

    A pure-Python wheel (PEP 427: the modules, ``METADATA``, ``WHEEL``, ``RECORD`` with the
    sha256 of each file), written with fixed timestamps and permissions, entries sorted and
    stored uncompressed (a zlib of another version could compress differently), so its sha256
    only changes when the package does, and the render shows that as a diff of the checksum.
    """
    version = _version()
    info = f"delivery_metrics-{version}.dist-info"
    members: dict[str, bytes] = {
        f"delivery_metrics/{source.name}": source.read_bytes()
        for source in sorted(PACKAGE_SOURCE.glob("*.py"))
    }
    metadata = [
        "Metadata-Version: 2.1",
        "Name: delivery-metrics",
        f"Version: {version}",
        "Summary: Delivery metrics of one repository from GitHub's records",
        "Requires-Python: >=3.11",
        *(f"Requires-Dist: {pin}" for pin in _requires()),
    ]
    members[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: cicd components/workflows/metrics.py\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [
        f"{name},sha256={_digest(data)},{len(data)}" for name, data in sorted(members.items())
    ]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as wheel:
        for name, data in members.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            wheel.writestr(entry, data)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def wheel_sha256() -> str:
    return hashlib.sha256(build_wheel()).hexdigest()


def package_files(header: str) -> dict[str, str]:
    """Repository path -> content: the wheel (base64 text, as a repository file must be text)
    and the hash-pinned requirements, each with the header line."""
    encoded = base64.encodebytes(build_wheel()).decode()
    requirements = (PACKAGE_SOURCE / "requirements.txt").read_text(encoding="utf-8")
    return {
        f"{PACKAGE_DIR}/{wheel_name()}.b64": f"# {header}\n" + encoded,
        f"{PACKAGE_DIR}/requirements.txt": f"# {header}\n" + requirements,
    }


INSTALL: Final = script("metrics_install.sh")
"""Checks the committed wheel's sha256, then installs it and its hash-pinned requirements."""


def _job(spec: WorkflowsSpec, metrics: MetricsSpec) -> Job:
    credentials = (
        {"PUSHGATEWAY_CREDENTIALS": secret("PUSHGATEWAY_CREDENTIALS")}
        if metrics.pushgateway_auth != "none"
        else {}
    )
    return Job(
        name="metrics",
        timeout_minutes=15,
        permissions=(
            Grant(Scope.ACTIONS, Access.READ, "read CI runs and their coverage artifacts"),
            Grant(Scope.CONTENTS, Access.READ, "check out the package; compare commits"),
            Grant(Scope.DEPLOYMENTS, Access.READ, "read deployments and their statuses"),
        ),
        steps=(
            checkout(fetch_depth=1),
            Step(
                name="Set up Python",
                uses=pins.SETUP_PYTHON,
                with_={"python-version": PYTHON_VERSION},
            ),
            run(
                "Install the verified package and its pinned requirements",
                INSTALL,
                {"PACKAGE_DIR": PACKAGE_DIR, "WHEEL": wheel_name(), "WHEEL_SHA256": wheel_sha256()},
            ),
            Step(
                name="Restore the results of earlier runs",
                uses=pins.CACHE,
                with_={
                    "path": STATE,
                    "key": template(STATE_KEY_PREFIX, expr("github.run_id")),
                    "restore-keys": STATE_KEY_PREFIX,
                },
            ),
            run(
                "Compute delivery metrics",
                COMPUTE,
                {
                    "GITHUB_TOKEN": expr("github.token"),
                    "CI_WORKFLOW": CI_WORKFLOW,
                    "DEFAULT_BRANCH": spec.default_branch,
                    "ENVIRONMENTS": " ".join(metrics.environments),
                    "WINDOWS": " ".join(str(days) for days in metrics.windows),
                    "PUSHGATEWAY_URL": metrics.pushgateway_url or "",
                    "PUSHGATEWAY_AUTH": metrics.pushgateway_auth,
                    **credentials,
                    "EXPOSITION": EXPOSITION,
                    "STATE": STATE,
                    "RATE_LIMIT_RESERVE": str(metrics.rate_limit_reserve),
                },
            ),
            upload_artifact("Keep the exposition", "delivery-metrics", EXPOSITION, 30),
        ),
    )


def metrics_workflow(spec: WorkflowsSpec) -> Workflow:
    """The scheduled delivery-metrics workflow; only where ``cicd:metrics.enabled``."""
    metrics = spec.metrics
    if metrics is None:
        raise ValueError("metrics.yml is generated only where cicd:metrics.enabled is true")
    return Workflow(
        name="Delivery metrics",
        on=(Schedule(metrics.schedule), WorkflowDispatch()),
        jobs={"metrics": _job(spec, metrics)},
        concurrency=Concurrency(group="delivery-metrics", cancel_in_progress=False),
        header="Delivery metrics (components/workflows/metrics.py): build success rate, coverage,\n"
        "deployment frequency, lead time, change failure rate and time to restore.",
    )
