"""stage-deploy.yml: verified, approved, released as a canary, then tested hard."""

from __future__ import annotations

from components.workflows import ci, pins
from components.workflows.common import (
    image_env,
    run,
)
from components.workflows.contract import (
    secret,
)
from components.workflows.deploy.accept import (
    REGISTRY_LOGIN,
    RELEASE_COMMIT,
    RELEASED,
    SECURITY_HEADERS,
    accept_job,
    performance_steps,
)
from components.workflows.deploy.deploy import release_jobs
from components.workflows.deploy.shared import (
    DEPLOY_JOB,
    READ_CODE,
    RUN_CONCURRENCY,
    SECURITY_SCAN_JOB,
    dispatch,
    tests_job,
)
from components.workflows.model import (
    Access,
    Grant,
    Job,
    Scope,
    Step,
    Workflow,
    all_of,
    always,
    eq,
    template,
)
from components.workflows.notify import Event, notify_steps
from components.workflows.spec import WorkflowsSpec


def staging_workflow(spec: WorkflowsSpec) -> Workflow:
    """stage-deploy.yml: verified, approved, released as a canary, then tested hard."""
    environment = spec.deploy.github_environment
    tests = spec.deploy.tests
    acceptance = (
        *(("e2e",) if tests.e2e is not None else ()),
        *(("performance",) if tests.performance_script is not None else ()),
        "security-scan",
    )
    jobs: dict[str, Job] = release_jobs(spec, acceptance)
    if tests.e2e is not None:
        # The tests of the release's own source commit (from its signature), not of the branch
        # head the run was dispatched from: a redeploy of an older digest tests that digest.
        jobs["e2e"] = tests_job("e2e", tests.e2e, spec, ref=RELEASE_COMMIT, if_=RELEASED)
    if tests.performance_script is not None:
        jobs["performance"] = Job(
            name="performance",
            needs=("deploy",),
            if_=RELEASED,
            timeout_minutes=30,
            permissions=(READ_CODE,),
            steps=performance_steps(tests.performance_script, tests.performance_thresholds),
        )
    jobs["security-scan"] = Job(
        name="security-scan",
        needs=("deploy",),
        if_=RELEASED,
        timeout_minutes=20,
        permissions=(Grant(Scope.PACKAGES, Access.READ, "pull the deployed image to scan it"),),
        env={"APP_URL": DEPLOY_JOB.output("app-url")},
        steps=(
            # The registry credential goes to the image's registry only (docker's config, which
            # Trivy reads), never as TRIVY_USERNAME/TRIVY_PASSWORD, which Trivy also sends to the
            # registries it downloads its databases from.
            run(
                "Log in to the image's registry",
                REGISTRY_LOGIN,
                {"GH_TOKEN": secret("GITHUB_TOKEN")},
            ),
            Step(
                name="Trivy scan of the deployed image",
                uses=pins.TRIVY,
                with_={
                    "scan-type": "image",
                    "image-ref": DEPLOY_JOB.output("image"),
                    "severity": spec.deploy.trivy_severity,
                    "ignore-unfixed": True,
                    "exit-code": "1",
                },
            ),
            run("Security headers of the running app", SECURITY_HEADERS),
        ),
    )
    findings = notify_steps(
        spec.notifications,
        Event.SECURITY,
        "Security findings",
        template(f"Security findings in {environment}: ", ci.RUN_URL),
        first_stage=False,
    )
    if findings:
        jobs["security-alert"] = Job(
            name="security-alert",
            needs=("security-scan",),
            if_=all_of(always(), eq(SECURITY_SCAN_JOB.result, "failure")),
            timeout_minutes=5,
            steps=findings,
        )
    jobs["accept"] = accept_job(environment, acceptance)
    return Workflow(
        name=f"Deploy to {environment}",
        on=(dispatch(),),
        concurrency=RUN_CONCURRENCY,
        env=image_env(spec),
        jobs=jobs,
    )
