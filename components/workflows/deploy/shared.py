"""What every deploy workflow shares: dispatch inputs, the deploy switch, concurrency, the
environment, the tests job and the deployment-status env."""

from __future__ import annotations

from typing import Final

from components.workflows import ci
from components.workflows.common import (
    checkout,
    npm_command,
    run,
    script,
    setup_node,
)
from components.workflows.contract import (
    deploy_switch,
    var,
    var_name,
)
from components.workflows.custody import RELEASE_STEP
from components.workflows.model import (
    Access,
    Concurrency,
    Cond,
    DispatchInput,
    Environment,
    Expr,
    Grant,
    Job,
    JobRef,
    Scope,
    Step,
    StepRef,
    WorkflowDispatch,
    any_of,
    eq,
    expr,
    ne,
    never,
    starts_with,
    template,
)
from components.workflows.spec import WorkflowsSpec

# Steps and jobs whose outputs or outcome others read: each id and output name spelled once.
WAIT_STEP: Final = StepRef("wait", ("state", "step"))
STABLE_STEP: Final = StepRef("stable", ("image",))
SET_IMAGE_STEP: Final = StepRef("set-image")
PROMOTE_STEP: Final = StepRef("promote", ("step",))
ABORT_STEP: Final = StepRef("abort")
RETRY_STEP: Final = StepRef("retry")
HEALTH_STEP: Final = StepRef("health")
ROLLBACK_STEP: Final = StepRef("rollback")
ROLLBACK_WAIT_STEP: Final = StepRef("rollback-wait")
ORDER_STEP: Final = StepRef("order", ("newer",))
VERIFY_JOB: Final = JobRef("verify", ("image", "digest", "commit", "deployment-id"))
DEPLOY_JOB: Final = JobRef(
    "deploy", ("image", "commit", "app-url", "state", "newer", "deployment-id")
)
"""The environment job; ``newer`` and ``deployment-id`` are dev's (its deploy job has no verify)."""
INTEGRATION_TEST_JOB: Final = JobRef("integration-test")
SECURITY_SCAN_JOB: Final = JobRef("security-scan")

RELEASE_INPUT: Final = "release"
ACTION_INPUT: Final = "action"
ACTIONS: Final = ("deploy", "promote", "abort", "retry")
"""retry: run an aborted canary of the same release again (docs/release-edges.md)."""
READ_CODE: Final = Grant(Scope.CONTENTS, Access.READ, "check out the tests")


def dispatch_guard(refs: tuple[str, ...]) -> Cond:
    """``github.ref`` is one of ``refs`` (patterns whose only wildcard is ``*``).

    An early, loose filter only: a pattern becomes a prefix test up to its first ``*``, which
    also lets branch ``release/a/b`` through where GitHub's ``release/*`` would not. The
    environment's own branch and tag policy is what refuses; this spares a run from the wrong ref
    its verify job, a queued deployment record and a rejected approval.
    """
    tests = [
        starts_with("github.ref", ref.split("*", 1)[0]) if "*" in ref else eq("github.ref", ref)
        for ref in refs
    ]
    return any_of(*tests) if tests else never()


def enabled(spec: WorkflowsSpec) -> Cond:
    """The job-level guard: the stack's repository variable (job if: cannot read env vars)."""
    return eq(var_name(deploy_switch(spec.stage.name)), "true")


_REFUSE_DISABLED = script("refuse_disabled.sh")

DEPLOY_OUTPUTS: Final = {
    "image": RELEASE_STEP.output("image"),
    "app-url": var("APP_URL"),
}


RUN_CONCURRENCY: Final = Concurrency(
    group=template(expr("github.workflow"), "-", expr("github.run_id")),
    cancel_in_progress=False,
)
"""The deploy workflows' run-level group: each run its own, so no run waits for or displaces
another at this level (a re-run reuses its run id, after the attempt before it ended). zizmor's
concurrency-limits audit asks every workflow for a group; the one that serializes the
environment is the deploy job's (:func:`environment_concurrency`)."""


def environment_concurrency(environment: str, dispatched: bool) -> Concurrency:
    """The concurrency of the job that changes ``environment`` (never the workflow's).

    On the job, so what waits is the change of the environment, not a run's verification; with
    ``queue: max`` every waiting job keeps its place (FIFO, up to 100), where GitHub's default
    keeps one pending job per group and cancels it, silently, when a newer one queues: the third
    dispatch of a day would cancel the second, waiting for its approval.

    ``dispatched`` (staging, prod): releases (deploy, promote, retry) queue behind each other; an
    abort has a group of its own, so an emergency stop starts at once instead of queueing behind a
    run that waits for its approval or runs its canary.
    """
    if not dispatched:
        return Concurrency(f"deploy-{environment}", cancel_in_progress=False, queue_all=True)
    return Concurrency(
        group=template(
            f"deploy-{environment}-",
            expr(f"inputs.{ACTION_INPUT} == 'abort' && 'abort' || 'release'"),
        ),
        cancel_in_progress=False,
        queue_all=True,
    )


def github_environment(spec: WorkflowsSpec) -> Environment:
    return Environment(spec.deploy.github_environment, url=var("APP_URL"))


def tests_job(
    name: str,
    command: str,
    spec: WorkflowsSpec,
    ref: str | None = None,
    if_: Expr | None = None,
) -> Job:
    """Tests against the deployed app, from the repository, without the environment's secrets.

    ``ref`` is the commit to test from; by default the one the workflow runs for.
    """
    return Job(
        name=name,
        needs=("deploy",),
        if_=if_,
        timeout_minutes=30,
        permissions=(READ_CODE,),
        env={"APP_URL": DEPLOY_JOB.output("app-url")},
        steps=(
            checkout(ref=ref),
            # No dependency cache in a deploy workflow: nothing restored here can poison a release.
            setup_node(spec.deploy.node_version, cache=False),
            npm_command("Install dependencies", spec.deploy.install_command),
            npm_command(name, command),
        ),
    )


def dispatch() -> WorkflowDispatch:
    return WorkflowDispatch(
        inputs=(
            DispatchInput(
                RELEASE_INPUT, "Image digest (sha256:...) or tag to deploy, as CI published it"
            ),
            DispatchInput(
                ACTION_INPUT,
                "deploy a release; promote or abort the canary of that release paused for a "
                "person; retry the canary of that release after an abort",
                options=ACTIONS,
            ),
        )
    )


def refuse_when_disabled() -> Step:
    return run(
        "Refuse when deployments are switched off",
        _REFUSE_DISABLED,
        if_=ne(var_name("DEPLOY_ENABLED"), "true"),
    )


ACTION = f"inputs.{ACTION_INPUT}"


def deployment_status_env(
    deployment_id: str = VERIFY_JOB.output("deployment-id"),
) -> dict[str, str]:
    """What a step that posts a status of the run's GitHub deployment reads."""
    return {"GH_TOKEN": expr("github.token"), "DEPLOYMENT_ID": deployment_id, "RUN_URL": ci.RUN_URL}


def unwrap(expression: str) -> str:
    """The inside of ``${{ ... }}``, for a condition built from it."""
    return expression.removeprefix("${{ ").removesuffix(" }}")
