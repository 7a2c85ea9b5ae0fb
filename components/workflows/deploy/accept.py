"""Acceptance after a healthy release: the tests jobs' inputs (the release commit), staging's
k6 and security-scan steps, and the ``accept`` job that records the verdict the next
environment's promotion check reads."""

from __future__ import annotations

import dataclasses
import json
from typing import Final

from components.workflows import custody, pins
from components.workflows.common import (
    checkout,
    run,
    script,
    upload_artifact,
)
from components.workflows.deploy.shared import DEPLOY_JOB, VERIFY_JOB, deployment_status_env, unwrap
from components.workflows.model import (
    Access,
    Grant,
    Job,
    JobRef,
    Scope,
    Step,
    StepRef,
    all_of,
    always,
    eq,
    expr,
    ne,
    template,
)
from components.workflows.spec import K6Thresholds

RELEASE_COMMIT: Final = DEPLOY_JOB.output("commit")
"""The source commit CI signed for the released digest (verified in the verify job)."""
RELEASED: Final = eq(DEPLOY_JOB.output_ref("state"), "healthy")
"""Tests run against a release that completed, not against a canary paused for a person."""


SECURITY_HEADERS = script("security_headers.sh")


def accept_job(
    environment: str,
    acceptance: tuple[str, ...],
    deployment_id: str = VERIFY_JOB.output("deployment-id"),
    needs: tuple[str, ...] = ("verify", "deploy"),
) -> Job:
    """The deployment's final verdict after the acceptance jobs (dev: integration tests;
    staging: e2e, performance, security scan): ``custody.ACCEPTED_VERDICT``, the one status the
    next environment's promotion check counts."""
    return Job(
        name="accept",
        needs=(*needs, *acceptance),
        # Only a release that completed was tested; a paused, aborted or failed one already has
        # its final status from the deploy job.
        if_=all_of(
            always(),
            eq(DEPLOY_JOB.result, "success"),
            RELEASED,
            ne(unwrap(deployment_id), ""),
        ),
        timeout_minutes=5,
        permissions=(Grant(Scope.DEPLOYMENTS, Access.WRITE, "record the acceptance verdict"),),
        steps=(
            run(
                "Record the acceptance verdict",
                custody.ACCEPTED,
                {
                    **deployment_status_env(deployment_id),
                    "APP_URL": DEPLOY_JOB.output("app-url"),
                    "ENVIRONMENT": environment,
                    "ACCEPTED_VERDICT": custody.ACCEPTED_VERDICT,
                    "RESULTS": template(
                        *(
                            part
                            for index, job in enumerate(acceptance)
                            for part in (
                                (" " if index else "") + f"{job}=",
                                expr(JobRef(job).result),
                            )
                        )
                    ),
                },
            ),
        ),
    )


K6_SUMMARY: Final = script("k6_summary.sh")

K6_STEP: Final = StepRef("k6")
_K6_RAN = all_of(always(), K6_STEP.outcome_in("success", "failure"))


def performance_steps(script_path: str, thresholds: K6Thresholds) -> tuple[Step, ...]:
    """k6 with the stack's thresholds (``deploy.tests.performanceThresholds``) as its options
    file, the verdict per threshold in the job summary, the results kept as an artifact."""
    latency_stat = f"p({thresholds.latency_percentile})"
    options = template(expr("runner.temp"), "/k6-options.json")
    summary = template(expr("runner.temp"), "/k6-summary.json")
    return (
        checkout(ref=RELEASE_COMMIT),
        run(
            "k6 thresholds from the stack",
            'printf "%s\\n" "$K6_OPTIONS" > "$RUNNER_TEMP/k6-options.json"',
            {"K6_OPTIONS": json.dumps(thresholds.options(), sort_keys=True)},
        ),
        Step(name="Set up k6", uses=pins.SETUP_K6),
        Step(
            name="k6 performance tests",
            id=K6_STEP.id,
            uses=pins.RUN_K6,
            with_={
                "path": script_path,
                "github-token": expr("github.token"),
                "cloud-comment-on-pr": False,
                "disable-analytics": True,
                "flags": template(
                    "--config ",
                    options,
                    " --summary-export ",
                    summary,
                    f" --summary-trend-stats avg,med,p(90),{latency_stat},max",
                ),
            },
            env={"APP_URL": DEPLOY_JOB.output("app-url")},
        ),
        run(
            "k6 thresholds in the job summary",
            K6_SUMMARY,
            {
                "LATENCY_STAT": latency_stat,
                "LATENCY_MS": str(thresholds.latency_ms),
                "ERROR_RATE": str(thresholds.error_rate),
            },
            if_=_K6_RAN,
        ),
        dataclasses.replace(
            upload_artifact("Keep the k6 results", "k6-summary", summary, 30),
            if_=_K6_RAN,
        ),
    )


REGISTRY_LOGIN: Final = script("registry_login.sh")
