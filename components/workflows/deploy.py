"""The deploy workflows: dev-deploy.yml, stage-deploy.yml and prod-deploy.yml.

Each stack commits only its own deploy workflow. All three share one shape: a ``deploy`` job in
the stack's GitHub environment (which holds the KUBECONFIG secret and the NAMESPACE,
WORKLOAD_NAME, WORKLOAD_KIND, APP_URL, IMAGE and DEPLOY_ENABLED variables) sets the image on the
Rollout or Deployment and waits until it is healthy; test jobs follow without the environment, so
no other job can read the kubeconfig. Deploys are never cancelled half-way (concurrency group
per environment, ``cancel-in-progress: false``).

- dev: ``workflow_run`` of CI on develop, only for a successful push run. The digest CI pushed is
  read from the run's ``image-digest`` artifact and must match ``^sha256:[0-9a-f]{64}$`` before it
  names an image; then integration tests and a Discord note (when Discord is configured).
- staging: ``workflow_dispatch`` with the digest or tag as input (validated, passed via ``env:``);
  reviewers approve through the environment; then E2E, k6 performance tests and a security scan
  of the running image, with a Slack alert on findings.
- prod: prepared, not activated. A job-level ``if:`` is evaluated before the job enters its
  environment, so it cannot see environment variables: every job is guarded by the repository
  variable ``PROD_DEPLOY_ENABLED`` (owned by the prod stack, from ``cicd:deploy.enabled``), and
  the environment jobs check the environment's own ``DEPLOY_ENABLED`` again in their first step. Only main or v* tags deploy (the environment's branch policy enforces it too). The
  previous image is recorded first (job output), the canary is watched and manual pauses are
  promoted only after health checks, a failed watch aborts the rollout at once, and a rollback
  job restores the previous image when any later check fails.
"""

from __future__ import annotations

from typing import Final

from components.config import Environment as Stage
from components.config import StackSettings
from components.workflows import ci, pins
from components.workflows.common import (
    ABORT_ROLLOUT,
    DIGEST_PATTERN,
    IMAGE_REF_PATTERN,
    WORKLOAD_ENV,
    checkout,
    cluster_grants,
    health_check,
    kube,
    npm_command,
    remove_kubeconfig,
    run,
    set_image,
    setup_kubectl,
    setup_node,
    validate_release,
    wait_healthy,
    write_kubeconfig,
)
from components.workflows.model import (
    Access,
    Concurrency,
    DispatchInput,
    Environment,
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

RELEASE_INPUT: Final = "release"
READ_CODE: Final = Grant(Scope.CONTENTS, Access.READ, "check out the tests")
# Repository-level variable: visible to job-level if:, unlike environment variables.
ENABLED: Final = "vars.PROD_DEPLOY_ENABLED == 'true'"
PROD_REFS: Final = "(github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v'))"

_REFUSE_DISABLED = """\
echo "::error::DEPLOY_ENABLED is not true for this environment: deployments are switched off"
exit 1
"""

_DEPLOY_OUTPUTS: Final = {
    "image": expr("steps.release.outputs.image"),
    "app-url": expr("vars.APP_URL"),
}


def _concurrency(environment: str) -> Concurrency:
    return Concurrency(group=f"deploy-{environment}", cancel_in_progress=False)


def _health_path(settings: StackSettings) -> str:
    return settings.app.health_path or "/"


def _rollout_steps(settings: StackSettings) -> tuple[Step, ...]:
    """Install kubectl, write the kubeconfig, set the validated image, wait for healthy."""
    return (
        setup_kubectl(),
        write_kubeconfig(settings.cluster.access),
        set_image(expr("steps.release.outputs.image")),
        wait_healthy(settings.deploy.rollout_timeout, _health_path(settings)),
    )


def _environment(settings: StackSettings) -> Environment:
    return Environment(settings.environment.github_environment_name, url=expr("vars.APP_URL"))


def _tests_job(name: str, command: str, settings: StackSettings, ref: str | None = None) -> Job:
    """Tests against the deployed app, from the repository, without the environment's secrets.

    ``ref`` is the commit to test from; by default the one the workflow runs for.
    """
    return Job(
        name=name,
        needs=("deploy",),
        timeout_minutes=30,
        permissions=(READ_CODE,),
        env={"APP_URL": expr("needs.deploy.outputs.app-url")},
        steps=(
            checkout(ref=ref),
            # No dependency cache in a deploy workflow: nothing restored here can poison a release.
            setup_node(settings.deploy.node_version, cache=False),
            npm_command("Install dependencies", "npm ci"),
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
"""

_DISCORD = """\
payload="$(jq --null-input \\
  --arg content "Deploy to $ENVIRONMENT: deploy $DEPLOY_RESULT, tests $TESTS_RESULT ($IMAGE_REF)" \\
  '{content: $content}')"
curl --fail --silent --show-error --header 'Content-Type: application/json' \\
  --data "$payload" "$DISCORD_WEBHOOK_URL"
"""

_SUMMARY = """\
{
  echo "### Deploy to $ENVIRONMENT"
  echo "- image: $IMAGE_REF"
  echo "- deploy: $DEPLOY_RESULT, tests: $TESTS_RESULT"
} >> "$GITHUB_STEP_SUMMARY"
"""


def dev_workflow(settings: StackSettings) -> Workflow:
    """dev-deploy.yml: deploy the digest CI just pushed, after a green CI run on develop."""
    branch = settings.app.default_branch
    environment = settings.environment.github_environment_name
    run_event = "github.event.workflow_run"
    deploys = (
        f"{run_event}.conclusion == 'success' && {run_event}.event == 'push' && "
        f"{run_event}.head_branch == '{branch}' && "
        f"{run_event}.head_repository.full_name == github.repository"
    )
    jobs: dict[str, Job] = {
        "deploy": Job(
            name="deploy",
            if_=condition(deploys),
            environment=_environment(settings),
            timeout_minutes=30,
            permissions=(
                Grant(Scope.ACTIONS, Access.READ, "download the CI run's artifact"),
                *cluster_grants(settings.cluster.access),
            ),
            env=WORKLOAD_ENV,
            outputs=_DEPLOY_OUTPUTS,
            steps=(
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
                *_rollout_steps(settings),
                health_check(settings.deploy.health_check_retries, _health_path(settings)),
                remove_kubeconfig(),
            ),
        ),
    }
    notify_needs = ["deploy"]
    if settings.deploy.tests.integration is not None:
        # The commit CI built, not whatever develop points at by now.
        jobs["integration-test"] = _tests_job(
            "integration-test",
            settings.deploy.tests.integration,
            settings,
            ref=expr("github.event.workflow_run.head_sha"),
        )
        notify_needs.append("integration-test")
    tests_result = (
        expr("needs.integration-test.result") if len(notify_needs) > 1 else "not configured"
    )
    notify_env = {
        "ENVIRONMENT": environment,
        "IMAGE_REF": expr("needs.deploy.outputs.image"),
        "DEPLOY_RESULT": expr("needs.deploy.result"),
        "TESTS_RESULT": tests_result,
    }
    notify_steps = [run("Summary", _SUMMARY, notify_env)]
    discord = settings.pipeline is not None and settings.pipeline.notifications.discord
    if discord:
        notify_steps.append(
            run(
                "Deploy status to Discord",
                _DISCORD,
                {**notify_env, "DISCORD_WEBHOOK_URL": expr("secrets.DISCORD_WEBHOOK_URL")},
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
        # A run that will skip (a PR's CI run, whose branch may well be the default one) gets a
        # group of its own: GitHub keeps one pending run per group, and a skipping run queued
        # behind a deploy would otherwise cancel the real deploy pending before it.
        concurrency=Concurrency(
            group=expr(
                f"({deploys}) && 'deploy-{environment}' || "
                f"format('deploy-{environment}-skipped-{{0}}', github.run_id)"
            ),
            cancel_in_progress=False,
        ),
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

_SLACK = """\
if [ -z "$SLACK_WEBHOOK_URL" ]; then
  echo "::warning::SLACK_WEBHOOK_URL is not set: no Slack alert sent"
  exit 0
fi
payload="$(jq --null-input --arg text "Security findings in $ENVIRONMENT: $RUN_URL" \\
  '{text: $text}')"
curl --fail --silent --show-error --header 'Content-Type: application/json' \\
  --data "$payload" "$SLACK_WEBHOOK_URL"
"""

_RUN_URL: Final = template(
    expr("github.server_url"),
    "/",
    expr("github.repository"),
    "/actions/runs/",
    expr("github.run_id"),
)


def _dispatch() -> WorkflowDispatch:
    return WorkflowDispatch(
        inputs=(
            DispatchInput(
                RELEASE_INPUT, "Image digest (sha256:...) or tag to deploy, as CI published it"
            ),
        )
    )


def staging_workflow(settings: StackSettings) -> Workflow:
    """stage-deploy.yml: dispatched by hand, approved in the environment, then tested hard."""
    environment = settings.environment.github_environment_name
    tests = settings.deploy.tests
    jobs: dict[str, Job] = {
        "deploy": Job(
            name="deploy",
            environment=_environment(settings),
            timeout_minutes=30,
            permissions=cluster_grants(settings.cluster.access),
            env=WORKLOAD_ENV,
            outputs=_DEPLOY_OUTPUTS,
            steps=(
                validate_release(RELEASE_INPUT),
                *_rollout_steps(settings),
                health_check(settings.deploy.health_check_retries, _health_path(settings)),
                remove_kubeconfig(),
            ),
        ),
    }
    if tests.e2e is not None:
        jobs["e2e"] = _tests_job("e2e", tests.e2e, settings)
    if tests.performance_script is not None:
        jobs["performance"] = Job(
            name="performance",
            needs=("deploy",),
            timeout_minutes=30,
            permissions=(READ_CODE,),
            steps=(
                checkout(),
                Step(name="Set up k6", uses=pins.SETUP_K6),
                Step(
                    name="k6 performance tests",
                    uses=pins.RUN_K6,
                    with_={
                        "path": tests.performance_script,
                        "github-token": expr("github.token"),
                        "cloud-comment-on-pr": False,
                        "disable-analytics": True,
                    },
                    env={"APP_URL": expr("needs.deploy.outputs.app-url")},
                ),
            ),
        )
    jobs["security-scan"] = Job(
        name="security-scan",
        needs=("deploy",),
        timeout_minutes=20,
        permissions=(Grant(Scope.PACKAGES, Access.READ, "pull the deployed image to scan it"),),
        env={"APP_URL": expr("needs.deploy.outputs.app-url")},
        steps=(
            Step(
                name="Trivy scan of the deployed image",
                uses=pins.TRIVY,
                with_={
                    "scan-type": "image",
                    "image-ref": expr("needs.deploy.outputs.image"),
                    "severity": "CRITICAL,HIGH",
                    "ignore-unfixed": True,
                    "exit-code": "1",
                },
                env={
                    "TRIVY_USERNAME": expr("github.actor"),
                    "TRIVY_PASSWORD": expr("secrets.GITHUB_TOKEN"),
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
            run(
                "Security findings to Slack",
                _SLACK,
                {
                    "SLACK_WEBHOOK_URL": expr("secrets.SLACK_WEBHOOK_URL"),
                    "ENVIRONMENT": environment,
                    "RUN_URL": _RUN_URL,
                },
            ),
        ),
    )
    return Workflow(
        name=f"Deploy to {environment}",
        on=(_dispatch(),),
        concurrency=_concurrency(environment),
        jobs=jobs,
    )


# --------------------------------------------------------------------------------------------
# prod
# --------------------------------------------------------------------------------------------

_RECORD_PREVIOUS = f"""\
kind="$(tr '[:upper:]' '[:lower:]' <<<"$WORKLOAD_KIND")"
previous="$(kubectl --namespace "$NAMESPACE" get "$kind" "$WORKLOAD_NAME" --output json \\
  | jq --raw-output --arg name "$WORKLOAD_NAME" \\
    '.spec.template.spec.containers[] | select(.name == $name) | .image')"
if [[ ! "$previous" =~ {IMAGE_REF_PATTERN} ]]; then
  echo "::error::cannot read the running image of $WORKLOAD_KIND $WORKLOAD_NAME"
  exit 1
fi
echo "image=$previous" >> "$GITHUB_OUTPUT"
"""

_CHECK_PREVIOUS = f"""\
if [[ ! "$PREVIOUS_IMAGE" =~ {IMAGE_REF_PATTERN} ]]; then
  echo "::error::the recorded previous image is not an image reference"
  exit 1
fi
"""


def _refuse_when_disabled() -> Step:
    return run(
        "Refuse when deployments are switched off",
        _REFUSE_DISABLED,
        if_=condition("vars.DEPLOY_ENABLED != 'true'"),
    )


def prod_workflow(settings: StackSettings) -> Workflow:
    """prod-deploy.yml: inert until DEPLOY_ENABLED is true; canary with health-gated promotion."""
    environment = settings.environment.github_environment_name
    health_path = _health_path(settings)
    deploy = Job(
        name="deploy",
        if_=condition(f"{ENABLED} && {PROD_REFS}"),
        environment=_environment(settings),
        timeout_minutes=60,
        permissions=cluster_grants(settings.cluster.access),
        env=WORKLOAD_ENV,
        outputs={**_DEPLOY_OUTPUTS, "previous-image": expr("steps.previous.outputs.image")},
        steps=(
            _refuse_when_disabled(),
            validate_release(RELEASE_INPUT),
            setup_kubectl(),
            write_kubeconfig(settings.cluster.access),
            kube("Record the running image", _RECORD_PREVIOUS, id="previous"),
            set_image(expr("steps.release.outputs.image")),
            wait_healthy(settings.deploy.rollout_timeout, health_path),
            kube(
                "Abort the canary",
                ABORT_ROLLOUT,
                if_=condition("failure() && steps.set-image.outcome != 'skipped'"),
            ),
            remove_kubeconfig(),
        ),
    )
    health = Job(
        name="health-check",
        needs=("deploy",),
        if_=condition(ENABLED),
        timeout_minutes=15,
        env={"APP_URL": expr("needs.deploy.outputs.app-url")},
        steps=(health_check(settings.deploy.health_check_retries, health_path),),
    )
    rollback = Job(
        name="rollback",
        needs=("deploy", "health-check"),
        if_=condition(f"failure() && {ENABLED} && needs.deploy.outputs.previous-image != ''"),
        environment=Environment(environment),
        timeout_minutes=30,
        permissions=cluster_grants(settings.cluster.access),
        env=WORKLOAD_ENV,
        steps=(
            _refuse_when_disabled(),
            run(
                "Check the recorded image",
                _CHECK_PREVIOUS,
                {"PREVIOUS_IMAGE": expr("needs.deploy.outputs.previous-image")},
            ),
            setup_kubectl(),
            write_kubeconfig(settings.cluster.access),
            kube("Abort the rollout", ABORT_ROLLOUT),
            set_image(expr("needs.deploy.outputs.previous-image")),
            wait_healthy(settings.deploy.rollout_timeout, health_path),
            remove_kubeconfig(),
        ),
    )
    return Workflow(
        name=f"Deploy to {environment}",
        header="Prepared, not activated: every job is guarded by vars.PROD_DEPLOY_ENABLED == 'true'\n"
        "(cicd:deploy.enabled of the prod stack), and the jobs in the environment check it again.",
        on=(_dispatch(),),
        concurrency=_concurrency(environment),
        jobs={"deploy": deploy, "health-check": health, "rollback": rollback},
    )


WORKFLOWS: Final = {
    Stage.DEV: dev_workflow,
    Stage.STAGING: staging_workflow,
    Stage.PROD: prod_workflow,
}
"""Deploy workflow builder of each stack; file names are config.DEPLOY_WORKFLOW_FILE."""
