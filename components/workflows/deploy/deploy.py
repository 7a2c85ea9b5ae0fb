"""The ``deploy`` job, the one in the environment: deploy, promote, abort or retry; wait,
check health, roll back or abort; record the final status. And the release jobs around it."""

from __future__ import annotations

from typing import Final

from components.workflows import custody
from components.workflows.common import (
    ABORT_RELEASE,
    ABORT_ROLLOUT,
    HEALTH_CHECK,
    IMAGE_REF_PATTERN,
    PROMOTE,
    RECORD_STABLE,
    SET_IMAGE,
    WORKLOAD_ENV,
    cluster_grants,
    kube,
    remove_kubeconfig,
    run,
    script,
    setup_kubectl,
    wait_healthy,
    write_kubeconfig,
)
from components.workflows.contract import (
    var,
)
from components.workflows.deploy.close import close_unrun_deployment
from components.workflows.deploy.notes import release_notifications, rollback_steps
from components.workflows.deploy.shared import (
    ABORT_STEP,
    ACTION,
    HEALTH_STEP,
    PROMOTE_STEP,
    RETRY_STEP,
    ROLLBACK_STEP,
    ROLLBACK_WAIT_STEP,
    SET_IMAGE_STEP,
    STABLE_STEP,
    VERIFY_JOB,
    WAIT_STEP,
    deployment_status_env,
    enabled,
    environment_concurrency,
    github_environment,
    refuse_when_disabled,
)
from components.workflows.deploy.verify import verify_job
from components.workflows.model import (
    Access,
    Grant,
    Job,
    Scope,
    all_of,
    always,
    any_of,
    cancelled,
    eq,
    expr,
    failure,
    ne,
)
from components.workflows.runner_tools import with_tools_check
from components.workflows.spec import WorkflowsSpec

_CHECK_IMAGE = script("check_image.sh")


_STARTED: Final = any_of(
    *(
        step.outcome_in("success", "cancelled")
        for step in (SET_IMAGE_STEP, PROMOTE_STEP, RETRY_STEP)
    )
)
"""This run may have moved the canary: its patch (set image, promote, retry) succeeded, or was
cancelled mid-way (the patch may have reached the API server before the runner stopped the step)."""

RETRY_WAIT_SECONDS: Final = 120
"""How long a retry waits for the controller to take the abort back before the canary wait."""

_NEW_RELEASE: Final = any_of(eq(ACTION, "deploy"), eq(ACTION, "retry"))
"""A deploy or a retry opens a GitHub deployment of its own (promote and abort continue one)."""


_FAILED: Final = any_of(failure(), cancelled())
"""A step failed or the run was cancelled: what the clean-up steps react to."""

_ACTED: Final = any_of(_STARTED, ABORT_STEP.outcome_in("success", "cancelled"))
"""This run may have changed the cluster: its deploy, promote or abort got past its checks."""


_ABORTS: Final = all_of(_FAILED, _STARTED, ne(WAIT_STEP.output_ref("state"), "healthy"))
"""The run failed after it may have moved the canary, which never became healthy: abort it."""

_ROLLS_BACK: Final = all_of(
    _FAILED, eq(HEALTH_STEP.outcome, "failure"), ne(STABLE_STEP.output_ref("image"), "")
)
"""Healthy, then the health check failed (after full promotion): back to the stable image."""


def _release_job(spec: WorkflowsSpec, acceptance: tuple[str, ...]) -> Job:
    """In the environment: deploy, promote or abort; wait, check health, roll back or abort.

    ``acceptance``: jobs after this one that decide whether the release is accepted (staging);
    a healthy release is then recorded ``in_progress`` until they have run.
    """
    plan = spec.deploy.release_plan
    health_path = spec.deploy.health_path
    gh = deployment_status_env()
    new_image: dict[str, str] = {"NEW_IMAGE": VERIFY_JOB.output("image")}
    return Job(
        name="deploy",
        needs=("verify",),
        if_=enabled(spec),
        environment=github_environment(spec),
        runs_on=spec.deploy.runner,
        concurrency=environment_concurrency(spec.deploy.github_environment, dispatched=True),
        timeout_minutes=spec.deploy.job_timeout_minutes,
        permissions=(
            Grant(Scope.DEPLOYMENTS, Access.WRITE, "record the deployment's status"),
            *cluster_grants(spec.deploy.cluster_access),
        ),
        env=WORKLOAD_ENV,
        outputs={
            "image": VERIFY_JOB.output("image"),
            "commit": VERIFY_JOB.output("commit"),
            "app-url": var("APP_URL"),
            "state": WAIT_STEP.output("state"),
        },
        steps=with_tools_check(
            spec.deploy.runner.self_hosted,
            (
                refuse_when_disabled(),
                run(
                    "Check the verified release",
                    _CHECK_IMAGE,
                    {**new_image, "IMAGE_REF_PATTERN": IMAGE_REF_PATTERN},
                ),
                # A promote or abort continues a deployment already in progress (a paused canary)
                # and may yet be refused: only a new release (deploy, retry) marks its deployment.
                run(
                    "Mark the deployment in progress",
                    custody.MARK_IN_PROGRESS,
                    gh,
                    if_=_NEW_RELEASE,
                ),
                setup_kubectl(),
                write_kubeconfig(spec.deploy.cluster_access),
                kube(
                    "Record the stable image",
                    RECORD_STABLE,
                    {"IMAGE_REF_PATTERN": IMAGE_REF_PATTERN},
                    id=STABLE_STEP.id,
                ),
                kube(
                    "Refuse to deploy an aborted canary again",
                    script("refuse_aborted_redeploy.sh"),
                    new_image,
                    if_=eq(ACTION, "deploy"),
                ),
                kube(
                    "Set the new image",
                    SET_IMAGE,
                    new_image,
                    id=SET_IMAGE_STEP.id,
                    if_=eq(ACTION, "deploy"),
                ),
                kube(
                    "Promote the paused canary",
                    PROMOTE,
                    new_image,
                    id=PROMOTE_STEP.id,
                    if_=eq(ACTION, "promote"),
                ),
                kube(
                    "Abort the paused canary",
                    ABORT_RELEASE,
                    new_image,
                    id=ABORT_STEP.id,
                    if_=eq(ACTION, "abort"),
                ),
                kube(
                    "Retry the aborted canary",
                    script("retry_canary.sh"),
                    {**new_image, "RETRY_WAIT_SECONDS": str(RETRY_WAIT_SECONDS)},
                    id=RETRY_STEP.id,
                    if_=eq(ACTION, "retry"),
                ),
                wait_healthy(
                    spec.deploy.rollout_wait_seconds,
                    promoted_from=PROMOTE_STEP.output("step"),
                    id=WAIT_STEP.id,
                    if_=ne(ACTION, "abort"),
                ),
                run(
                    "Check the app's health endpoint",
                    HEALTH_CHECK,
                    {"RETRIES": str(spec.deploy.health_check_retries), "HEALTH_PATH": health_path},
                    id=HEALTH_STEP.id,
                    if_=eq(WAIT_STEP.output_ref("state"), "healthy"),
                ),
                kube(
                    "Abort the canary this run started",
                    ABORT_ROLLOUT,
                    if_=_ABORTS,
                ),
                kube(
                    "Roll back to the stable image",
                    SET_IMAGE,
                    {"NEW_IMAGE": STABLE_STEP.output("image")},
                    id=ROLLBACK_STEP.id,
                    if_=_ROLLS_BACK,
                ),
                wait_healthy(
                    plan.rollback_seconds,
                    accept_pause=False,
                    name="Wait for the rollback",
                    id=ROLLBACK_WAIT_STEP.id,
                    if_=all_of(_FAILED, eq(ROLLBACK_STEP.outcome, "success")),
                ),
                run(
                    "Record the final deployment status",
                    custody.FINAL_STATUS,
                    {
                        **gh,
                        "JOB_STATUS": expr("job.status"),
                        "ACTION": expr(f"{ACTION}"),
                        "WAIT_STATE": WAIT_STEP.output("state"),
                        "ROLLBACK": expr(ROLLBACK_STEP.outcome),
                        "ROLLBACK_WAIT": expr(ROLLBACK_WAIT_STEP.outcome),
                        "STABLE_IMAGE": STABLE_STEP.output("image"),
                        "ACTED": expr(_ACTED),
                        # Only where acceptance jobs follow: the script reads an unset one as none.
                        **({"ACCEPTANCE": ", ".join(acceptance)} if acceptance else {}),
                    },
                    if_=always(),
                ),
                remove_kubeconfig(),
                *rollback_steps(
                    spec, _ABORTS, _ROLLS_BACK, ROLLBACK_STEP.outcome, new_image["NEW_IMAGE"]
                ),
            ),
        ),
    )


def release_jobs(spec: WorkflowsSpec, acceptance: tuple[str, ...] = ()) -> dict[str, Job]:
    return {
        "verify": verify_job(spec),
        "deploy": _release_job(spec, acceptance),
        "close-deployment": close_unrun_deployment(spec),
        **release_notifications(spec),
    }
