"""dev-deploy.yml: deploy the digest CI just pushed, if newer than what dev runs, then test it."""

from __future__ import annotations

import dataclasses
from typing import Final

from components.workflows import ci, custody, pins
from components.workflows.common import (
    DIGEST_PATTERN,
    WORKLOAD_ENV,
    cluster_grants,
    health_check,
    image_env,
    kube,
    remove_kubeconfig,
    run,
    script,
    set_image,
    setup_kubectl,
    wait_healthy,
    write_kubeconfig,
)
from components.workflows.custody import RECORD_STEP, RELEASE_STEP
from components.workflows.deploy.accept import accept_job
from components.workflows.deploy.shared import (
    DEPLOY_JOB,
    DEPLOY_OUTPUTS,
    INTEGRATION_TEST_JOB,
    ORDER_STEP,
    RUN_CONCURRENCY,
    WAIT_STEP,
    enabled,
    environment_concurrency,
    github_environment,
    refuse_when_disabled,
    tests_job,
)
from components.workflows.model import (
    Access,
    Grant,
    Job,
    Scope,
    Step,
    Workflow,
    WorkflowRun,
    all_of,
    always,
    eq,
    expr,
    ne,
    same,
    template,
)
from components.workflows.notify import Event, notify_steps
from components.workflows.runner_tools import with_tools_check
from components.workflows.spec import WorkflowsSpec

_NEWER: Final = eq(ORDER_STEP.output_ref("newer"), "true")
"""dev: the candidate is newer than what dev runs (scripts/newer_than_running.sh)."""


def _only_if_newer(*steps: Step) -> tuple[Step, ...]:
    """dev's steps that change or record anything run only for a candidate newer than dev's."""
    return tuple(dataclasses.replace(step, if_=_NEWER) for step in steps)


_READ_DIGEST = script("dev_read_digest.sh")

_SUMMARY = script("dev_summary.sh")


_dev_record: Final = {
    "GH_TOKEN": expr("github.token"),
    "ACTION": "deploy",
    "DIGEST": RELEASE_STEP.output("digest"),
    "IMAGE_REF": RELEASE_STEP.output("image"),
    "PRODUCTION": "false",
    # dev takes the digest from CI's own artifact of this run; staging and prod verify it.
    "SIGNER_IDENTITY": "not re-verified in dev: the digest of the triggering CI run",
    "RUN_URL": ci.RUN_URL,
}
_dev_status: Final = {
    "GH_TOKEN": expr("github.token"),
    "DEPLOYMENT_ID": RECORD_STEP.output("deployment-id"),
    "RUN_URL": _dev_record["RUN_URL"],
}


def dev_workflow(spec: WorkflowsSpec) -> Workflow:
    """dev-deploy.yml: deploy the digest CI just pushed, after a green CI run on develop."""
    branch = spec.default_branch
    environment = spec.deploy.github_environment
    run_event = "github.event.workflow_run"
    integration = spec.deploy.tests.integration
    acceptance = ("integration-test",) if integration is not None else ()
    deploys = all_of(
        enabled(spec),
        eq(f"{run_event}.conclusion", "success"),
        eq(f"{run_event}.event", "push"),
        eq(f"{run_event}.head_branch", branch),
        same(f"{run_event}.head_repository.full_name", "github.repository"),
    )
    jobs: dict[str, Job] = {
        "deploy": Job(
            name="deploy",
            if_=deploys,
            environment=github_environment(spec),
            runs_on=spec.deploy.runner,
            concurrency=environment_concurrency(environment, dispatched=False),
            timeout_minutes=spec.deploy.job_timeout_minutes,
            permissions=(
                Grant(Scope.ACTIONS, Access.READ, "download the CI run's artifact"),
                Grant(Scope.CONTENTS, Access.READ, "compare the commit with the one dev runs"),
                Grant(Scope.DEPLOYMENTS, Access.WRITE, "record the deployment and its status"),
                *cluster_grants(spec.deploy.cluster_access),
            ),
            env=WORKLOAD_ENV,
            outputs={
                **DEPLOY_OUTPUTS,
                "newer": ORDER_STEP.output("newer"),
                "state": WAIT_STEP.output("state"),
                "deployment-id": RECORD_STEP.output("deployment-id"),
            },
            steps=with_tools_check(
                spec.deploy.runner.self_hosted,
                (
                    refuse_when_disabled(),
                    Step(
                        name="Download the digest CI pushed",
                        uses=pins.DOWNLOAD_ARTIFACT,
                        with_={
                            "name": ci.DIGEST_ARTIFACT,
                            "run-id": expr("github.event.workflow_run.id"),
                            "github-token": expr("github.token"),
                            "path": template(expr("runner.temp"), "/digest"),
                        },
                    ),
                    run(
                        "Validate the digest",
                        _READ_DIGEST,
                        {
                            "DIGEST_FILE": ci.DIGEST_FILE,
                            "DIGEST_ARTIFACT": ci.DIGEST_ARTIFACT,
                            "DIGEST_PATTERN": DIGEST_PATTERN,
                        },
                        id=RELEASE_STEP.id,
                    ),
                    setup_kubectl(),
                    write_kubeconfig(spec.deploy.cluster_access),
                    kube(
                        "Check it is newer than what dev runs",
                        script("newer_than_running.sh"),
                        {
                            "GH_TOKEN": expr("github.token"),
                            "ENVIRONMENT": environment,
                            "CANDIDATE_COMMIT": expr(f"{run_event}.head_sha"),
                            "CANDIDATE_DIGEST": RELEASE_STEP.output("digest"),
                        },
                        id=ORDER_STEP.id,
                    ),
                    *_only_if_newer(
                        run(
                            "Open the GitHub deployment",
                            custody.RECORD,
                            {
                                **_dev_record,
                                "COMMIT": expr(f"{run_event}.head_sha"),
                                "ENVIRONMENT": environment,
                            },
                            id=RECORD_STEP.id,
                        ),
                        run(
                            "Mark the deployment in progress", custody.MARK_IN_PROGRESS, _dev_status
                        ),
                        set_image(RELEASE_STEP.output("image")),
                        wait_healthy(spec.deploy.rollout_wait_seconds, id=WAIT_STEP.id),
                        health_check(spec.deploy.health_check_retries, spec.deploy.health_path),
                    ),
                    run(
                        "Record the final deployment status",
                        custody.FINAL_STATUS,
                        {
                            **_dev_status,
                            "JOB_STATUS": expr("job.status"),
                            "ACTION": "deploy",
                            "WAIT_STATE": WAIT_STEP.output("state"),
                            "ROLLBACK": "",
                            "STABLE_IMAGE": "",
                            # dev's verdict waits for its integration tests (the accept job).
                            **({"ACCEPTANCE": ", ".join(acceptance)} if acceptance else {}),
                        },
                        if_=all_of(always(), eq(RECORD_STEP.outcome, "success")),
                    ),
                    remove_kubeconfig(),
                ),
            ),
        ),
    }
    notify_needs = ["deploy"]
    if integration is not None:
        # The commit CI built, not whatever develop points at by now; only a deployed one.
        jobs["integration-test"] = tests_job(
            "integration-test",
            integration,
            spec,
            ref=expr("github.event.workflow_run.head_sha"),
            if_=eq(DEPLOY_JOB.output_ref("state"), "healthy"),
        )
        notify_needs.append("integration-test")
    # dev's verdict (what staging's promotion check reads) includes its integration tests.
    jobs["accept"] = accept_job(
        environment, acceptance, DEPLOY_JOB.output("deployment-id"), needs=("deploy",)
    )
    tests_result = expr(INTEGRATION_TEST_JOB.result) if len(notify_needs) > 1 else "not configured"
    notify_env = {
        "ENVIRONMENT": environment,
        "IMAGE_REF": DEPLOY_JOB.output("image"),
        "DEPLOY_RESULT": expr(
            f"{DEPLOY_JOB.output_ref('newer')} == 'false' && 'skipped (not newer than what runs)' || "
            f"{DEPLOY_JOB.result}"
        ),
        "TESTS_RESULT": tests_result,
    }
    deploy_notes = notify_steps(
        spec.notifications,
        Event.DEPLOY,
        "Deploy status",
        template(
            f"Deploy to {environment}: deploy ",
            notify_env["DEPLOY_RESULT"],
            ", tests ",
            tests_result,
            " (",
            notify_env["IMAGE_REF"],
            ")",
        ),
    )
    jobs["notify"] = Job(
        name="notify",
        needs=tuple(notify_needs),
        if_=all_of(always(), ne(DEPLOY_JOB.result, "skipped")),
        timeout_minutes=5,
        steps=(run("Summary", _SUMMARY, notify_env), *deploy_notes),
    )
    return Workflow(
        name=f"Deploy to {environment}",
        on=(
            WorkflowRun(
                workflows=(ci.WORKFLOW_NAME,),
                branches=(branch,),
                why_safe="only successful push runs on the default branch deploy; the "
                "artifact is validated as a digest",
            ),
        ),
        # The deploy job queues for the environment (a skipping run, a PR's CI run, never
        # enters its group); the run's own group holds nobody back.
        concurrency=RUN_CONCURRENCY,
        env=image_env(spec),
        jobs=jobs,
    )
