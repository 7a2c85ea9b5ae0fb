"""The deploy workflows: dev-deploy.yml, stage-deploy.yml and prod-deploy.yml.

Each stack commits only its own deploy workflow. Shared shape: the job in the stack's GitHub
environment (which holds the KUBECONFIG secret and the NAMESPACE, WORKLOAD_NAME, WORKLOAD_KIND,
APP_URL, IMAGE and DEPLOY_ENABLED variables) changes the cluster; jobs outside the environment
never see the kubeconfig. Only that job is serialized (:func:`environment_concurrency`: a group
per environment on the job, ``cancel-in-progress: false``, ``queue: max``), so runs queue for the
environment, not for their verification, and no pending run is cancelled by a newer one (GitHub's
default keeps one pending per group: docs/release-edges.md); a run a person cancels aborts the
canary it started. An abort of staging or prod queues in a group of its own, so it never waits
behind a release that is pending approval.

The deploy switch (one contract for all three): every job is guarded by the repository variable
``config.DEPLOY_SWITCH_VARIABLE[environment]`` (``DEV_DEPLOY_ENABLED``, ...), written by the stack
from ``cicd:deploy.enabled``; the environment job checks ``DEPLOY_ENABLED`` again first thing.
``deploy.enabled: false`` in any stack: its workflow changes nothing.

Timing comes from the release plan (components/release.py), the same object the Rollout's steps
come from: the wait is the plan's longest segment between manual pauses, the job timeout is
checked against it in config.

- dev: ``workflow_run`` of CI on develop, only for a successful push run; the digest is read from
  the run's ``image-digest`` artifact and validated; a candidate that is not newer (by commit
  order) than what dev runs is skipped, green, with a notice (scripts/newer_than_running.sh);
  then integration tests, the ``accept`` job's verdict and a Discord note.
- staging and prod: ``workflow_dispatch`` with ``release`` (digest or tag) and ``action``
  (deploy | promote | abort | retry). A ``verify`` job outside the environment resolves the
  release to one digest, verifies its cosign signature and SBOM attestation against CI's
  identity, checks that the previous environment (:data:`PREVIOUS_ENVIRONMENT`) accepted it, in
  GitHub's deployment records, and opens a GitHub deployment with a summary for the reviewer
  (components/workflows/custody.py); an abort skips the registry, cosign and the promotion order
  (custody.checks). A retry runs an aborted canary of the same digest again
  (docs/release-edges.md). Then the environment job: record the stable
  digest from the stable ReplicaSet, set the image (or promote / abort a paused canary), wait,
  and check health. A canary that fails before full promotion, or a cancelled run, is aborted;
  a health check that fails after full promotion rolls back to the recorded stable digest inside
  the same approved job (``rollbackWindow`` makes that a fast-track, no steps, no second
  approval). A manual pause is reported and the run ends; a person promotes it with a new run.
- prod also only deploys from main or v* tags (and the environment's branch policy says so).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Final

from components.vocabulary import DEFAULT_GITHUB_ENVIRONMENT
from components.vocabulary import Environment as Stage
from components.workflows import ci, custody, pins
from components.workflows.common import (
    ABORT_RELEASE,
    ABORT_ROLLOUT,
    DIGEST_PATTERN,
    HEALTH_CHECK,
    IMAGE_REF_PATTERN,
    PROMOTE,
    RECORD_STABLE,
    SET_IMAGE,
    WORKLOAD_ENV,
    checkout,
    cluster_grants,
    health_check,
    image_env,
    kube,
    npm_command,
    remove_kubeconfig,
    run,
    script,
    set_image,
    setup_kubectl,
    setup_node,
    upload_artifact,
    wait_healthy,
    write_kubeconfig,
)
from components.workflows.contract import (
    deploy_switch,
    secret,
    var,
    var_name,
)
from components.workflows.model import (
    Access,
    Concurrency,
    DispatchInput,
    Environment,
    Expr,
    Grant,
    Job,
    Scope,
    Step,
    Workflow,
    WorkflowDispatch,
    WorkflowRun,
    condition,
    expr,
    template,
)
from components.workflows.notify import Channel, notify
from components.workflows.spec import K6Thresholds, WorkflowsSpec

RELEASE_INPUT: Final = "release"
ACTION_INPUT: Final = "action"
ACTIONS: Final = ("deploy", "promote", "abort", "retry")
"""retry: run an aborted canary of the same release again (docs/release-edges.md)."""
READ_CODE: Final = Grant(Scope.CONTENTS, Access.READ, "check out the tests")


def dispatch_guard(refs: tuple[str, ...]) -> str:
    """``github.ref`` is one of ``refs`` (patterns whose only wildcard is ``*``).

    An early, loose filter only: a pattern becomes a prefix test up to its first ``*``, which
    also lets branch ``release/a/b`` through where GitHub's ``release/*`` would not. The
    environment's own branch and tag policy is what refuses; this spares a run from the wrong ref
    its verify job, a queued deployment record and a rejected approval.
    """
    tests = [
        f"startsWith(github.ref, '{ref.split('*', 1)[0]}')"
        if "*" in ref
        else f"github.ref == '{ref}'"
        for ref in refs
    ]
    return f"({' || '.join(tests)})" if tests else "false"


PREVIOUS_ENVIRONMENT: Final = {Stage.STAGING: Stage.DEV, Stage.PROD: Stage.STAGING}
"""Promotion order: the environment whose acceptance each dispatched one requires (one rule for
every pair, custody.checks; issue 26 makes the chain configurable, this table is its input)."""


def enabled(spec: WorkflowsSpec) -> str:
    """The job-level guard: the stack's repository variable (job if: cannot read env vars)."""
    return f"{var_name(deploy_switch(spec.stage))} == 'true'"


_REFUSE_DISABLED = """\
echo "::error::DEPLOY_ENABLED is not true for this environment: deployments are switched off"
exit 1
"""

_DEPLOY_OUTPUTS: Final = {
    "image": expr("steps.release.outputs.image"),
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


_NEWER: Final = "steps.order.outputs.newer == 'true'"
"""dev: the candidate is newer than what dev runs (scripts/newer_than_running.sh)."""


def _only_if_newer(*steps: Step) -> tuple[Step, ...]:
    """dev's steps that change or record anything run only for a candidate newer than dev's."""
    return tuple(dataclasses.replace(step, if_=condition(_NEWER)) for step in steps)


def _environment(spec: WorkflowsSpec) -> Environment:
    return Environment(spec.deploy.github_environment, url=var("APP_URL"))


def _tests_job(
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
        env={"APP_URL": expr("needs.deploy.outputs.app-url")},
        steps=(
            checkout(ref=ref),
            # No dependency cache in a deploy workflow: nothing restored here can poison a release.
            setup_node(spec.deploy.node_version, cache=False),
            npm_command("Install dependencies", spec.deploy.install_command),
            npm_command(name, command),
        ),
    )


# --------------------------------------------------------------------------------------------
# dev
# --------------------------------------------------------------------------------------------

_READ_DIGEST = f"""\
digest="$(tr -d '[:space:]' < "$RUNNER_TEMP/digest/{ci.DIGEST_FILE}")"
if [[ ! "$digest" =~ {DIGEST_PATTERN} ]]; then
  echo "::error::the CI artifact {ci.DIGEST_ARTIFACT} does not hold an image digest"
  exit 1
fi
echo "image=${{IMAGE}}@${{digest}}" >> "$GITHUB_OUTPUT"
echo "digest=$digest" >> "$GITHUB_OUTPUT"
"""

_SUMMARY = """\
{
  echo "### Deploy to $ENVIRONMENT"
  echo "- image: $IMAGE_REF"
  echo "- deploy: $DEPLOY_RESULT, tests: $TESTS_RESULT"
} >> "$GITHUB_STEP_SUMMARY"
"""


_dev_record: Final = {
    "GH_TOKEN": expr("github.token"),
    "ACTION": "deploy",
    "DIGEST": expr("steps.release.outputs.digest"),
    "IMAGE_REF": expr("steps.release.outputs.image"),
    "PRODUCTION": "false",
    # dev takes the digest from CI's own artifact of this run; staging and prod verify it.
    "SIGNER_IDENTITY": "not re-verified in dev: the digest of the triggering CI run",
    "RUN_URL": ci.RUN_URL,
}
_dev_status: Final = {
    "GH_TOKEN": expr("github.token"),
    "DEPLOYMENT_ID": expr("steps.record.outputs.deployment-id"),
    "RUN_URL": _dev_record["RUN_URL"],
}


def dev_workflow(spec: WorkflowsSpec) -> Workflow:
    """dev-deploy.yml: deploy the digest CI just pushed, after a green CI run on develop."""
    branch = spec.default_branch
    environment = spec.deploy.github_environment
    run_event = "github.event.workflow_run"
    integration = spec.deploy.tests.integration
    acceptance = ("integration-test",) if integration is not None else ()
    deploys = (
        f"{enabled(spec)} && "
        f"{run_event}.conclusion == 'success' && {run_event}.event == 'push' && "
        f"{run_event}.head_branch == '{branch}' && "
        f"{run_event}.head_repository.full_name == github.repository"
    )
    jobs: dict[str, Job] = {
        "deploy": Job(
            name="deploy",
            if_=condition(deploys),
            environment=_environment(spec),
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
                **_DEPLOY_OUTPUTS,
                "newer": expr("steps.order.outputs.newer"),
                "state": expr("steps.wait.outputs.state"),
                "deployment-id": expr("steps.record.outputs.deployment-id"),
            },
            steps=(
                _refuse_when_disabled(),
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
                run("Validate the digest", _READ_DIGEST, id="release"),
                setup_kubectl(),
                write_kubeconfig(spec.deploy.cluster_access),
                kube(
                    "Check it is newer than what dev runs",
                    script("newer_than_running.sh"),
                    {
                        "GH_TOKEN": expr("github.token"),
                        "ENVIRONMENT": environment,
                        "CANDIDATE_COMMIT": expr(f"{run_event}.head_sha"),
                        "CANDIDATE_DIGEST": expr("steps.release.outputs.digest"),
                    },
                    id="order",
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
                        id="record",
                    ),
                    run("Mark the deployment in progress", custody.MARK_IN_PROGRESS, _dev_status),
                    set_image(expr("steps.release.outputs.image")),
                    wait_healthy(spec.deploy.rollout_wait_seconds, id="wait"),
                    health_check(spec.deploy.health_check_retries, spec.deploy.health_path),
                ),
                run(
                    "Record the final deployment status",
                    custody.FINAL_STATUS,
                    {
                        **_dev_status,
                        "JOB_STATUS": expr("job.status"),
                        "ACTION": "deploy",
                        "WAIT_STATE": expr("steps.wait.outputs.state"),
                        "ROLLBACK": "",
                        "STABLE_IMAGE": "",
                        # dev's verdict waits for its integration tests (the accept job).
                        **({"ACCEPTANCE": ", ".join(acceptance)} if acceptance else {}),
                    },
                    if_=condition("always() && steps.record.outcome == 'success'"),
                ),
                remove_kubeconfig(),
            ),
        ),
    }
    notify_needs = ["deploy"]
    if integration is not None:
        # The commit CI built, not whatever develop points at by now; only a deployed one.
        jobs["integration-test"] = _tests_job(
            "integration-test",
            integration,
            spec,
            ref=expr("github.event.workflow_run.head_sha"),
            if_=condition("needs.deploy.outputs.state == 'healthy'"),
        )
        notify_needs.append("integration-test")
    # dev's verdict (what staging's promotion check reads) includes its integration tests.
    jobs["accept"] = _accept_job(
        environment, acceptance, expr("needs.deploy.outputs.deployment-id"), needs=("deploy",)
    )
    tests_result = (
        expr("needs.integration-test.result") if len(notify_needs) > 1 else "not configured"
    )
    notify_env = {
        "ENVIRONMENT": environment,
        "IMAGE_REF": expr("needs.deploy.outputs.image"),
        "DEPLOY_RESULT": expr(
            "needs.deploy.outputs.newer == 'false' && 'skipped (not newer than what runs)' || "
            "needs.deploy.result"
        ),
        "TESTS_RESULT": tests_result,
    }
    notify_steps = [run("Summary", _SUMMARY, notify_env)]
    discord = spec.pipeline is not None and spec.pipeline.notifications.discord
    if discord:
        notify_steps.append(
            notify(
                "Deploy status to Discord",
                Channel.DISCORD,
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
        )
    jobs["notify"] = Job(
        name="notify",
        needs=tuple(notify_needs),
        if_=condition("always() && needs.deploy.result != 'skipped'"),
        timeout_minutes=5,
        steps=tuple(notify_steps),
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


# --------------------------------------------------------------------------------------------
# staging
# --------------------------------------------------------------------------------------------

_SECURITY_HEADERS = """\
headers="$(curl --fail --silent --show-error --max-time 10 --head "$APP_URL")"
missing=0
for header in strict-transport-security x-content-type-options; do
  if ! grep --quiet --ignore-case "^$header:" <<<"$headers"; then
    echo "::error::$APP_URL does not send $header"
    missing=1
  fi
done
exit "$missing"
"""


def _dispatch() -> WorkflowDispatch:
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


def _refuse_when_disabled() -> Step:
    return run(
        "Refuse when deployments are switched off",
        _REFUSE_DISABLED,
        if_=condition(f"{var_name('DEPLOY_ENABLED')} != 'true'"),
    )


def _verify_job(spec: WorkflowsSpec) -> Job:
    """Outside the environment: one digest, verified, in order, recorded, shown to the reviewer."""
    stage = spec.stage
    previous = PREVIOUS_ENVIRONMENT[stage]
    branch = spec.default_branch
    refs = spec.deploy.dispatch_refs
    guard = enabled(spec) + (f" && {dispatch_guard(refs)}" if refs is not None else "")
    return Job(
        name="verify",
        if_=condition(guard),
        timeout_minutes=15,
        permissions=(
            # Only a first environment reads the commit's CI runs; the others read deployments.
            *(
                (Grant(Scope.ACTIONS, Access.READ, "read CI runs of the commit"),)
                if previous is None
                else ()
            ),
            Grant(Scope.DEPLOYMENTS, Access.WRITE, "read the promotion record, open a deployment"),
            Grant(Scope.PACKAGES, Access.READ, "resolve a tag and read signatures from ghcr.io"),
        ),
        outputs={
            "image": expr("steps.release.outputs.image"),
            "digest": expr("steps.release.outputs.digest"),
            "commit": expr("steps.signature.outputs.commit"),
            "deployment-id": expr("steps.record.outputs.deployment-id"),
        },
        steps=(
            custody.resolve(RELEASE_INPUT, ACTION_INPUT),
            *custody.checks(
                branch,
                None if previous is None else _github_environment_of(previous),
                ACTION_INPUT,
            ),
            run(
                "Open the GitHub deployment and summarise for the reviewer",
                custody.RECORD,
                {
                    "GH_TOKEN": expr("github.token"),
                    "ACTION": expr(f"inputs.{ACTION_INPUT}"),
                    "COMMIT": expr("steps.signature.outputs.commit"),
                    "DIGEST": expr("steps.release.outputs.digest"),
                    "IMAGE_REF": expr("steps.release.outputs.image"),
                    "ENVIRONMENT": spec.deploy.github_environment,
                    "PRODUCTION": "true" if stage is Stage.PROD else "false",
                    "SIGNER_IDENTITY": custody.signer_identity(branch),
                    "RUN_URL": ci.RUN_URL,
                },
                id="record",
            ),
        ),
    )


def _github_environment_of(stage: Stage) -> str:
    """GitHub environment of an earlier stage. Its stack is not readable from this one, so the
    promotion check assumes the default name (docs/security.md: keep environment.githubEnvironment
    unset in dev and staging, or the next stage's check looks in the wrong place)."""
    return DEFAULT_GITHUB_ENVIRONMENT[stage]


_CHECK_IMAGE = f"""\
if [[ ! "$NEW_IMAGE" =~ {IMAGE_REF_PATTERN} ]] || [[ "$NEW_IMAGE" != *@sha256:* ]]; then
  echo "::error::the verified release is not an image digest reference"
  exit 1
fi
"""

_ACTION = f"inputs.{ACTION_INPUT}"
_RELEASE_COMMIT: Final = expr("needs.deploy.outputs.commit")
"""The source commit CI signed for the released digest (verified in the verify job)."""
_RELEASED: Final = condition("needs.deploy.outputs.state == 'healthy'")
"""Tests run against a release that completed, not against a canary paused for a person."""
_STARTED = (
    "(steps.set-image.outcome == 'success' || steps.set-image.outcome == 'cancelled' || "
    "steps.promote.outcome == 'success' || steps.promote.outcome == 'cancelled' || "
    "steps.retry.outcome == 'success' || steps.retry.outcome == 'cancelled')"
)
"""This run may have moved the canary: its patch (set image, promote, retry) succeeded, or was
cancelled mid-way (the patch may have reached the API server before the runner stopped the step)."""

RETRY_WAIT_SECONDS: Final = 120
"""How long a retry waits for the controller to take the abort back before the canary wait."""

_NEW_RELEASE: Final = f"({_ACTION} == 'deploy' || {_ACTION} == 'retry')"
"""A deploy or a retry opens a GitHub deployment of its own (promote and abort continue one)."""


_ACTED = f"{_STARTED} || steps.abort.outcome == 'success' || steps.abort.outcome == 'cancelled'"
"""This run may have changed the cluster: its deploy, promote or abort got past its checks."""


def _deployment_status_env(
    deployment_id: str = expr("needs.verify.outputs.deployment-id"),
) -> dict[str, str]:
    """What a step that posts a status of the run's GitHub deployment reads."""
    return {"GH_TOKEN": expr("github.token"), "DEPLOYMENT_ID": deployment_id, "RUN_URL": ci.RUN_URL}


def _unwrap(expression: str) -> str:
    """The inside of ``${{ ... }}``, for a condition built from it."""
    return expression.removeprefix("${{ ").removesuffix(" }}")


def _release_job(spec: WorkflowsSpec, acceptance: tuple[str, ...]) -> Job:
    """In the environment: deploy, promote or abort; wait, check health, roll back or abort.

    ``acceptance``: jobs after this one that decide whether the release is accepted (staging);
    a healthy release is then recorded ``in_progress`` until they have run.
    """
    plan = spec.deploy.release_plan
    health_path = spec.deploy.health_path
    gh = _deployment_status_env()
    new_image: dict[str, str] = {"NEW_IMAGE": expr("needs.verify.outputs.image")}
    return Job(
        name="deploy",
        needs=("verify",),
        if_=condition(enabled(spec)),
        environment=_environment(spec),
        concurrency=environment_concurrency(spec.deploy.github_environment, dispatched=True),
        timeout_minutes=spec.deploy.job_timeout_minutes,
        permissions=(
            Grant(Scope.DEPLOYMENTS, Access.WRITE, "record the deployment's status"),
            *cluster_grants(spec.deploy.cluster_access),
        ),
        env=WORKLOAD_ENV,
        outputs={
            "image": expr("needs.verify.outputs.image"),
            "commit": expr("needs.verify.outputs.commit"),
            "app-url": var("APP_URL"),
            "state": expr("steps.wait.outputs.state"),
        },
        steps=(
            _refuse_when_disabled(),
            run("Check the verified release", _CHECK_IMAGE, new_image),
            # A promote or abort continues a deployment already in progress (a paused canary)
            # and may yet be refused: only a new release (deploy, retry) marks its deployment.
            run(
                "Mark the deployment in progress",
                custody.MARK_IN_PROGRESS,
                gh,
                if_=condition(_NEW_RELEASE),
            ),
            setup_kubectl(),
            write_kubeconfig(spec.deploy.cluster_access),
            kube("Record the stable image", RECORD_STABLE, id="stable"),
            kube(
                "Refuse to deploy an aborted canary again",
                script("refuse_aborted_redeploy.sh"),
                new_image,
                if_=condition(f"{_ACTION} == 'deploy'"),
            ),
            kube(
                "Set the new image",
                SET_IMAGE,
                new_image,
                id="set-image",
                if_=condition(f"{_ACTION} == 'deploy'"),
            ),
            kube(
                "Promote the paused canary",
                PROMOTE,
                new_image,
                id="promote",
                if_=condition(f"{_ACTION} == 'promote'"),
            ),
            kube(
                "Abort the paused canary",
                ABORT_RELEASE,
                new_image,
                id="abort",
                if_=condition(f"{_ACTION} == 'abort'"),
            ),
            kube(
                "Retry the aborted canary",
                script("retry_canary.sh"),
                {**new_image, "RETRY_WAIT_SECONDS": str(RETRY_WAIT_SECONDS)},
                id="retry",
                if_=condition(f"{_ACTION} == 'retry'"),
            ),
            wait_healthy(
                spec.deploy.rollout_wait_seconds,
                promoted_from=expr("steps.promote.outputs.step"),
                id="wait",
                if_=condition(f"{_ACTION} != 'abort'"),
            ),
            run(
                "Check the app's health endpoint",
                HEALTH_CHECK,
                {"RETRIES": str(spec.deploy.health_check_retries), "HEALTH_PATH": health_path},
                id="health",
                if_=condition("steps.wait.outputs.state == 'healthy'"),
            ),
            kube(
                "Abort the canary this run started",
                ABORT_ROLLOUT,
                if_=condition(
                    f"(failure() || cancelled()) && {_STARTED} && "
                    "steps.wait.outputs.state != 'healthy'"
                ),
            ),
            kube(
                "Roll back to the stable image",
                SET_IMAGE,
                {"NEW_IMAGE": expr("steps.stable.outputs.image")},
                id="rollback",
                if_=condition(
                    "(failure() || cancelled()) && steps.health.outcome == 'failure' && "
                    "steps.stable.outputs.image != ''"
                ),
            ),
            wait_healthy(
                plan.rollback_seconds,
                accept_pause=False,
                name="Wait for the rollback",
                id="rollback-wait",
                if_=condition("(failure() || cancelled()) && steps.rollback.outcome == 'success'"),
            ),
            run(
                "Record the final deployment status",
                custody.FINAL_STATUS,
                {
                    **gh,
                    "JOB_STATUS": expr("job.status"),
                    "ACTION": expr(f"{_ACTION}"),
                    "WAIT_STATE": expr("steps.wait.outputs.state"),
                    "ROLLBACK": expr("steps.rollback.outcome"),
                    "ROLLBACK_WAIT": expr("steps.rollback-wait.outcome"),
                    "STABLE_IMAGE": expr("steps.stable.outputs.image"),
                    "ACTED": expr(_ACTED),
                    # Only where acceptance jobs follow: the script reads an unset one as none.
                    **({"ACCEPTANCE": ", ".join(acceptance)} if acceptance else {}),
                },
                if_=condition("always()"),
            ),
            remove_kubeconfig(),
        ),
    )


def _close_unrun_deployment(spec: WorkflowsSpec) -> Job:
    """Close the GitHub deployment when the environment job never ran its steps.

    A rejected approval (or one that timed out) ends ``deploy`` as ``failure`` without running a
    step, so ``failure`` is included: the script only touches a deployment still ``queued``, and
    one the deploy job already finished is left as it is.
    """
    return Job(
        name="close-deployment",
        needs=("verify", "deploy"),
        if_=condition(
            f"always() && {enabled(spec)} && needs.verify.result == 'success' && "
            "needs.verify.outputs.deployment-id != '' && needs.deploy.result != 'success'"
        ),
        timeout_minutes=5,
        permissions=(Grant(Scope.DEPLOYMENTS, Access.WRITE, "close a deployment never run"),),
        steps=(
            run(
                "Close the deployment that never ran",
                custody.NOT_DEPLOYED,
                {**_deployment_status_env(), "DEPLOY_RESULT": expr("needs.deploy.result")},
            ),
        ),
    )


def _release_jobs(spec: WorkflowsSpec, acceptance: tuple[str, ...] = ()) -> dict[str, Job]:
    return {
        "verify": _verify_job(spec),
        "deploy": _release_job(spec, acceptance),
        "close-deployment": _close_unrun_deployment(spec),
    }


def _accept_job(
    environment: str,
    acceptance: tuple[str, ...],
    deployment_id: str = expr("needs.verify.outputs.deployment-id"),
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
        if_=condition(
            "always() && needs.deploy.result == 'success' && "
            f"needs.deploy.outputs.state == 'healthy' && {_unwrap(deployment_id)} != ''"
        ),
        timeout_minutes=5,
        permissions=(Grant(Scope.DEPLOYMENTS, Access.WRITE, "record the acceptance verdict"),),
        steps=(
            run(
                "Record the acceptance verdict",
                custody.ACCEPTED,
                {
                    **_deployment_status_env(deployment_id),
                    "APP_URL": expr("needs.deploy.outputs.app-url"),
                    "ENVIRONMENT": environment,
                    "ACCEPTED_VERDICT": custody.ACCEPTED_VERDICT,
                    "RESULTS": template(
                        *(
                            part
                            for index, job in enumerate(acceptance)
                            for part in (
                                (" " if index else "") + f"{job}=",
                                expr(f"needs.{job}.result"),
                            )
                        )
                    ),
                },
            ),
        ),
    )


K6_SUMMARY: Final = """\
# The thresholds the stack set against what k6 measured, in the job summary: a crossed one made
# k6 exit 99, failing this job and so the staging acceptance. --summary-export writes k6's
# legacy JSON (internal/js/summary-wrapper.js, oldJSONSummary): a trend's stats by name
# ("p(95)", milliseconds), a rate's share as "value".
summary="$RUNNER_TEMP/k6-summary.json"
if [ ! -s "$summary" ]; then
  echo "### k6 thresholds: no results (the test did not finish)" >> "$GITHUB_STEP_SUMMARY"
  exit 0
fi
latency="$(jq --raw-output --arg stat "$LATENCY_STAT" \\
  '.metrics.http_req_duration[$stat] // "n/a"' "$summary")"
errors="$(jq --raw-output '.metrics.http_req_failed.value // "n/a"' "$summary")"
verdict() {
  if awk -v value="$1" -v limit="$2" 'BEGIN { exit !(value != "n/a" && value + 0 < limit + 0) }'
  then echo "pass"; else echo "**FAIL**"; fi
}
{
  echo "### k6 thresholds (the staging acceptance needs both)"
  echo "| metric | threshold | measured | result |"
  echo "|---|---|---|---|"
  echo "| http_req_duration $LATENCY_STAT | < $LATENCY_MS ms | $latency ms | $(verdict "$latency" "$LATENCY_MS") |"
  echo "| http_req_failed | < $ERROR_RATE | $errors | $(verdict "$errors" "$ERROR_RATE") |"
} >> "$GITHUB_STEP_SUMMARY"
"""

_K6_RAN = "always() && (steps.k6.outcome == 'success' || steps.k6.outcome == 'failure')"


def _performance_steps(script_path: str, thresholds: K6Thresholds) -> tuple[Step, ...]:
    """k6 with the stack's thresholds (``deploy.tests.performanceThresholds``) as its options
    file, the verdict per threshold in the job summary, the results kept as an artifact."""
    latency_stat = f"p({thresholds.latency_percentile})"
    options = template(expr("runner.temp"), "/k6-options.json")
    summary = template(expr("runner.temp"), "/k6-summary.json")
    return (
        checkout(ref=_RELEASE_COMMIT),
        run(
            "k6 thresholds from the stack",
            'printf "%s\\n" "$K6_OPTIONS" > "$RUNNER_TEMP/k6-options.json"',
            {"K6_OPTIONS": json.dumps(thresholds.options(), sort_keys=True)},
        ),
        Step(name="Set up k6", uses=pins.SETUP_K6),
        Step(
            name="k6 performance tests",
            id="k6",
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
            env={"APP_URL": expr("needs.deploy.outputs.app-url")},
        ),
        run(
            "k6 thresholds in the job summary",
            K6_SUMMARY,
            {
                "LATENCY_STAT": latency_stat,
                "LATENCY_MS": str(thresholds.latency_ms),
                "ERROR_RATE": str(thresholds.error_rate),
            },
            if_=condition(_K6_RAN),
        ),
        dataclasses.replace(
            upload_artifact("Keep the k6 results", "k6-summary", summary, 30),
            if_=condition(_K6_RAN),
        ),
    )


_REGISTRY_LOGIN: Final = """\
docker login "${IMAGE%%/*}" --username "$GITHUB_ACTOR" --password-stdin <<<"$GH_TOKEN"
"""


def staging_workflow(spec: WorkflowsSpec) -> Workflow:
    """stage-deploy.yml: verified, approved, released as a canary, then tested hard."""
    environment = spec.deploy.github_environment
    tests = spec.deploy.tests
    acceptance = (
        *(("e2e",) if tests.e2e is not None else ()),
        *(("performance",) if tests.performance_script is not None else ()),
        "security-scan",
    )
    jobs: dict[str, Job] = _release_jobs(spec, acceptance)
    if tests.e2e is not None:
        # The tests of the release's own source commit (from its signature), not of the branch
        # head the run was dispatched from: a redeploy of an older digest tests that digest.
        jobs["e2e"] = _tests_job("e2e", tests.e2e, spec, ref=_RELEASE_COMMIT, if_=_RELEASED)
    if tests.performance_script is not None:
        jobs["performance"] = Job(
            name="performance",
            needs=("deploy",),
            if_=_RELEASED,
            timeout_minutes=30,
            permissions=(READ_CODE,),
            steps=_performance_steps(tests.performance_script, tests.performance_thresholds),
        )
    jobs["security-scan"] = Job(
        name="security-scan",
        needs=("deploy",),
        if_=_RELEASED,
        timeout_minutes=20,
        permissions=(Grant(Scope.PACKAGES, Access.READ, "pull the deployed image to scan it"),),
        env={"APP_URL": expr("needs.deploy.outputs.app-url")},
        steps=(
            # The registry credential goes to the image's registry only (docker's config, which
            # Trivy reads), never as TRIVY_USERNAME/TRIVY_PASSWORD, which Trivy also sends to the
            # registries it downloads its databases from.
            run(
                "Log in to the image's registry",
                _REGISTRY_LOGIN,
                {"GH_TOKEN": secret("GITHUB_TOKEN")},
            ),
            Step(
                name="Trivy scan of the deployed image",
                uses=pins.TRIVY,
                with_={
                    "scan-type": "image",
                    "image-ref": expr("needs.deploy.outputs.image"),
                    "severity": spec.deploy.trivy_severity,
                    "ignore-unfixed": True,
                    "exit-code": "1",
                },
            ),
            run("Security headers of the running app", _SECURITY_HEADERS),
        ),
    )
    jobs["security-alert"] = Job(
        name="security-alert",
        needs=("security-scan",),
        if_=condition("always() && needs.security-scan.result == 'failure'"),
        timeout_minutes=5,
        steps=(
            notify(
                "Security findings to Slack",
                Channel.SLACK,
                template(f"Security findings in {environment}: ", ci.RUN_URL),
            ),
        ),
    )
    jobs["accept"] = _accept_job(environment, acceptance)
    return Workflow(
        name=f"Deploy to {environment}",
        on=(_dispatch(),),
        concurrency=RUN_CONCURRENCY,
        env=image_env(spec),
        jobs=jobs,
    )


# --------------------------------------------------------------------------------------------
# prod
# --------------------------------------------------------------------------------------------


def prod_workflow(spec: WorkflowsSpec) -> Workflow:
    """prod-deploy.yml: inert until the switch is on; verified, approved, canary, health, rollback."""
    environment = spec.deploy.github_environment
    switch = var_name(deploy_switch(spec.stage))
    return Workflow(
        name=f"Deploy to {environment}",
        header=f"Prepared, not activated: every job is guarded by {switch} == 'true'\n"
        "(cicd:deploy.enabled of the prod stack), and the job in the environment checks it again.",
        on=(_dispatch(),),
        concurrency=RUN_CONCURRENCY,
        env=image_env(spec),
        jobs=_release_jobs(spec),
    )


WORKFLOWS: Final = {
    Stage.DEV: dev_workflow,
    Stage.STAGING: staging_workflow,
    Stage.PROD: prod_workflow,
}
"""Deploy workflow builder of each stack; file names are config.DEPLOY_WORKFLOW_FILE."""
