"""metrics.yml and the files it runs: the delivery-metrics job of the application repository.

The dev stack commits, when ``cicd:metrics.enabled`` is true:

- ``.github/workflows/metrics.yml``: on a cron schedule and on demand (``workflow_dispatch``),
  one job with a read-only token (``actions``, ``deployments``, ``contents``: runs and their
  artifacts, deployments and statuses, compare) that installs the pinned requirements and runs
  ``python -m delivery_metrics``; the summary goes to the job summary, the exposition is kept as
  an artifact and pushed to the Pushgateway when config names one;
- ``.github/delivery-metrics/``: the ``delivery_metrics`` package of this project, copied file
  by file, and its ``requirements.txt``: every package it imports, pinned with the sha256 of
  its wheel, installed with ``--require-hashes --no-deps`` and then ``pip check``ed, so nothing
  unpinned or altered is ever installed. The workflow runs the copy on the default branch
  (schedules only run there), so what runs is what the stack committed and a reviewer saw in
  the render.

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

from pathlib import Path
from typing import Final

from components.workflows import pins
from components.workflows.common import checkout, run, upload_artifact
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

COMPUTE: Final = """\
args=(--repository "$GITHUB_REPOSITORY" --workflow "$CI_WORKFLOW" --branch "$DEFAULT_BRANCH"
      --summary "$GITHUB_STEP_SUMMARY" --metrics-out "$EXPOSITION"
      --state "$STATE" --rate-limit-reserve "$RATE_LIMIT_RESERVE")
for environment in $ENVIRONMENTS; do args+=(--environment "$environment"); done
for days in $WINDOWS; do args+=(--window "$days"); done
if [ -n "$PUSHGATEWAY_URL" ]; then
  args+=(--pushgateway "$PUSHGATEWAY_URL" --pushgateway-auth "$PUSHGATEWAY_AUTH")
fi
python -m delivery_metrics "${args[@]}"
"""


def package_files(header: str) -> dict[str, str]:
    """Repository path -> content of the package and its requirements, each with the header."""
    out: dict[str, str] = {}
    for source in sorted(PACKAGE_SOURCE.glob("*.py")):
        out[f"{PACKAGE_DIR}/delivery_metrics/{source.name}"] = f"# {header}\n" + source.read_text(
            encoding="utf-8"
        )
    requirements = (PACKAGE_SOURCE / "requirements.txt").read_text(encoding="utf-8")
    out[f"{PACKAGE_DIR}/requirements.txt"] = f"# {header}\n" + requirements
    return out


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
                "Install the pinned requirements",
                'python -m pip install --disable-pip-version-check --require-hashes --no-deps -r "$PACKAGE_DIR/requirements.txt"\n'
                "python -m pip check\n",
                {"PACKAGE_DIR": PACKAGE_DIR},
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
                    "PYTHONPATH": PACKAGE_DIR,
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
