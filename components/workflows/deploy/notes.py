"""Notifications of a dispatched stage (staging, prod, any stage after the first): the deploy
result, a deployment waiting for its reviewers, a rollback. Each exists only where the routes
send its event somewhere (components/workflows/notify.py); in the earlier form of
``pipeline.notifications`` none does, so those files render as before.

- ``approval``: a job beside the environment job, after ``verify``. GitHub holds the
  environment job until a required reviewer approves; this job runs at once, so the channels
  hear that the release waits (GitHub itself notifies only the required reviewers:
  docs/notifications.md). Only where the environment has required reviewers.
- ``notify``: after ``verify`` and the environment job, whatever their result: the release,
  the action and both results (``deploy: skipped`` after a refused verification).
- rollback: steps at the end of the environment job itself (``rollback_steps``), because only
  there the outcome of its abort and rollback steps is known. They run when the job failed and
  either rolled back after a failed health check or aborted a canary it had started.

The message names the verified image reference (``verify``'s output, checked against a pattern),
never the dispatch input as typed.
"""

from __future__ import annotations

from dataclasses import replace

from components.workflows import ci
from components.workflows.deploy.shared import ACTION, DEPLOY_JOB, VERIFY_JOB, enabled
from components.workflows.model import Cond, Job, Step, all_of, always, any_of, eq, expr, template
from components.workflows.notify import Event, notify_steps
from components.workflows.spec import WorkflowsSpec


def release_notifications(spec: WorkflowsSpec) -> dict[str, Job]:
    """The ``approval`` and ``notify`` jobs of a dispatched workflow, where routed."""
    routes, environment = spec.notifications, spec.deploy.github_environment
    image = VERIFY_JOB.output("image")
    jobs: dict[str, Job] = {}
    waiting = notify_steps(
        routes,
        Event.APPROVAL,
        "Approval request",
        template(
            f"Waiting for approval in {environment}: ",
            expr(ACTION),
            " of ",
            image,
            " by a required reviewer of ",
            environment,
            ": ",
            ci.RUN_URL,
        ),
        first_stage=False,
    )
    if waiting and spec.approval_required:
        jobs["approval"] = Job(
            name="approval",
            needs=(VERIFY_JOB.id,),
            if_=all_of(enabled(spec), eq(VERIFY_JOB.result, "success")),
            timeout_minutes=5,
            steps=waiting,
        )
    result = notify_steps(
        routes,
        Event.DEPLOY,
        "Deploy status",
        template(
            f"Deploy to {environment} (",
            expr(ACTION),
            "): verify ",
            expr(VERIFY_JOB.result),
            ", deploy ",
            expr(DEPLOY_JOB.result),
            " (",
            image,
            "): ",
            ci.RUN_URL,
        ),
        first_stage=False,
    )
    if result:
        jobs["notify"] = Job(
            name="notify",
            needs=(VERIFY_JOB.id, DEPLOY_JOB.id),
            if_=all_of(always(), enabled(spec)),
            timeout_minutes=5,
            steps=result,
        )
    return jobs


def rollback_steps(
    spec: WorkflowsSpec, aborted: Cond, rolled_back: Cond, rollback_outcome: str, image: str
) -> tuple[Step, ...]:
    """Steps at the end of the environment job: the rollback event, when this run aborted the
    canary it started (``aborted``) or rolled back after a failed health check
    (``rolled_back``)."""
    environment = spec.deploy.github_environment
    steps = notify_steps(
        spec.notifications,
        Event.ROLLBACK,
        "Rollback",
        template(
            f"Rollback in {environment}: ",
            image,
            expr(
                f"{rollback_outcome} == 'success' && ' failed its health check after promotion; "
                "rolled back to the stable image' || ' was aborted; traffic is back on the "
                "stable image'"
            ),
            ": ",
            ci.RUN_URL,
        ),
        first_stage=False,
    )
    when = all_of(always(), any_of(aborted, rolled_back))
    return tuple(replace(step, if_=when) for step in steps)
