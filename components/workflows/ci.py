"""ci.yml: validate, test, build, scan and publish the application on the default branch, on
``v*`` release tags and on PRs.

Job graph::

    validate ─┐
    test ─────┼─> build ─> scan ─┐
    integration┘                  ├─> publish (push to the default branch or a v* tag)
    snyk, sonarqube (optional) ───┘        └─> notify (Discord, best effort)
    ci-ok: needs every gating job, ``if: always()``; the one check branch protection requires
    security-alert: Slack when a scan job fails (optional)

Decisions:

- The default branch is ``app.defaultBranch`` everywhere (trigger, publish, notify); nothing
  says ``develop`` where config decides.
- ``build`` never pushes, on any event: it exports the image as a tarball artifact, so PRs from
  forks build and scan with a read-only token. ``publish`` runs only for pushes to the default
  branch and ``v*`` tags, after every gate passed, and pushes exactly that scanned tarball; the
  pushed digest is signed with cosign (keyless, the job's OIDC token; ``id-token: write`` exists
  only there), gets a build provenance attestation (actions/attest-build-provenance,
  ``attestations: write``), and its SBOM (anchore/sbom-action) is attached as a cosign
  attestation. The digest is handed to dev-deploy.yml as the artifact ``image-digest`` and the
  output ``digest``.
- Image tags: ``<package.json version>-<run number>`` and ``sha-<commit>`` on the default
  branch. A ``v*`` tag (which must equal package.json's version) is a name, not a build: after
  the gates pass on the tagged commit, publish looks up the digest the default branch published
  for that commit (``sha-<commit>``), verifies it is signed by ci.yml on the default branch, and
  adds the semver tag to that digest (``docker buildx imagetools create``). No new digest, no new
  signature: stage-deploy and prod-deploy verify the default branch's identity, so a digest
  signed by the tag's own run would be refused, and the release is the digest dev and staging
  already ran. A tag on a commit the default branch never published fails with that reason. A
  package.json without a version fails the build with that reason (never a ``null-…`` tag).
- The per-package matrix takes npm names (``@acme/api``); each leg finds its workspace folder
  with ``npm query`` and uploads the coverage its runner wrote there, as
  ``coverage-<name made artifact-safe>``.
- The Docker build cache is GitHub's (``type=gha``). No npm cache: ci.yml also builds releases
  (``v*`` tags), and a cache any PR run can write must not feed a release (zizmor's
  cache-poisoning audit).
- Secrets: Dependabot's runs get no Actions secrets and forks get none. A job whose tool needs a
  secret (Snyk, SonarQube, Slack) checks for it first and, without it, leaves a notice saying
  why and skips its tool instead of failing. SARIF upload needs a write token, which neither
  gets, and code scanning, which private repositories without Advanced Security lack
  (``scanners.sarifUpload: false``; Trivy's exit code gates either way).
- Notifications never decide the run's conclusion: dev-deploy starts on a successful CI run, so
  a Discord outage or a missing webhook is a warning, not a failed run.
- Superseded PR runs are cancelled; runs on the default branch never are (each push publishes).
"""

from __future__ import annotations

from typing import Final

from components.signing import new_bundle_format, sign_flags
from components.workflows import pins
from components.workflows.common import (
    HAS_SECRET,
    SAME_REPOSITORY,
    checkout,
    npm_command,
    run,
    script,
    secret_gate,
    setup_node,
    upload_artifact,
)
from components.workflows.contract import TAG_REF_PREFIX, branch_ref, secret
from components.workflows.custody import OIDC_ISSUER, install_cosign, signer_identity
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
from components.workflows.notify import Channel, notify
from components.workflows.spec import PipelineSpec, PlanFeature, SonarQube, WorkflowsSpec

WORKFLOW_NAME: Final = "CI"
"""The workflow's name; dev-deploy.yml's workflow_run trigger refers to it."""

REQUIRED_JOB: Final = "ci-ok"
CI_REQUIRED_CHECKS: Final[tuple[str, ...]] = (REQUIRED_JOB,)
"""Check names branch protection requires: the aggregating job, so matrix names never matter."""

DIGEST_ARTIFACT: Final = "image-digest"
DIGEST_FILE: Final = "digest.txt"
IMAGE_ARTIFACT: Final = "image"
IMAGE_TARBALL: Final = "image.tar"
"""File names shared with scripts/push_image.sh (a test checks the script uses these)."""

RELEASE_TAGS: Final = "v*"
"""Tags whose push builds and publishes a release."""

READ_CODE: Final = Grant(Scope.CONTENTS, Access.READ, "check out the repository")

WRITE_TOKEN: Final = f"({SAME_REPOSITORY} && github.actor != 'dependabot[bot]')"
"""Runs whose GITHUB_TOKEN may write: not forks, not Dependabot (its PR runs get a read-only
token, like forks, even though the branch is in this repository)."""


def _publishing(branch: str) -> str:
    """Expression: this run publishes (a push to the default branch or a release tag)."""
    return (
        f"github.event_name == 'push' && (github.ref == '{branch_ref(branch)}' || "
        f"startsWith(github.ref, '{TAG_REF_PREFIX}'))"
    )


def _install(pipeline: PipelineSpec) -> tuple[Step, ...]:
    return (
        checkout(),
        setup_node(pipeline.node_version, cache=False),
        npm_command("Install dependencies", pipeline.commands.install),
    )


def _validate(pipeline: PipelineSpec) -> Job:
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


COVERAGE_RETENTION_DAYS = 14
"""Coverage artifacts' retention without the metrics job (which sets its own: twice its longest
window, MetricsSpec.artifact_retention_days)."""


def _test(pipeline: PipelineSpec, retention_days: int) -> Job:
    coverage = pipeline.coverage_path.strip("/")
    return Job(
        name=template("test (", expr("matrix.package"), ")"),
        timeout_minutes=20,
        permissions=(READ_CODE,),
        matrix=Matrix("package", pipeline.packages),
        env={"PACKAGE": expr("matrix.package")},
        steps=(
            *_install(pipeline),
            run("Find the package's workspace", script("locate_package.sh"), id="package"),
            npm_command("Unit tests", pipeline.commands.unit_test),
            upload_artifact(
                "Upload coverage",
                template("coverage-", expr("steps.package.outputs.slug")),
                template(expr("steps.package.outputs.dir"), f"/{coverage}"),
                retention_days,
            ),
        ),
    )


def _integration(pipeline: PipelineSpec) -> Job:
    return Job(
        name="integration",
        timeout_minutes=20,
        permissions=(READ_CODE,),
        steps=(
            *_install(pipeline),
            npm_command("Integration tests", pipeline.commands.integration_test),
        ),
    )


def _build(pipeline: PipelineSpec, image: str) -> Job:
    return Job(
        name="build",
        needs=("validate", "test", "integration"),
        timeout_minutes=30,
        permissions=(READ_CODE,),
        outputs={"tags": expr("steps.meta.outputs.tags")},
        steps=(
            checkout(),
            run("Read the application version", script("read_version.sh"), id="version"),
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
                        ",enable=",
                        expr("github.ref_type != 'tag'"),
                        "\ntype=semver,pattern={{version}}\ntype=sha,format=long\n",
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


def _scan(pipeline: PipelineSpec) -> Job:
    scanners = pipeline.scanners
    trivy: dict[str, str | int | bool] = {
        "scan-type": "image",
        "input": template(expr("runner.temp"), f"/{IMAGE_TARBALL}"),
        "severity": scanners.trivy_severity,
        "ignore-unfixed": True,
        "exit-code": "1",
    }
    steps: list[Step] = [_download_image()]
    permissions = [
        Grant(Scope.CONTENTS, Access.READ, "code scanning and Trivy read the repository")
    ]
    sarif = scanners.sarif_upload
    if sarif.on:
        trivy.update(
            {"format": "sarif", "output": "trivy.sarif", "limit-severities-for-sarif": True}
        )
        permissions += [
            Grant(Scope.ACTIONS, Access.READ, "upload-sarif reads the workflow run"),
            Grant(Scope.SECURITY_EVENTS, Access.WRITE, "upload the Trivy SARIF report"),
        ]
    else:
        trivy["format"] = "table"
        steps.append(_notice("SARIF upload", sarif))
    steps.append(Step(name="Trivy image scan", uses=pins.TRIVY, with_=trivy))
    if sarif.on:
        steps.append(
            Step(
                name="Upload the Trivy report to code scanning",
                if_=condition(f"always() && {WRITE_TOKEN}"),
                uses=pins.UPLOAD_SARIF,
                with_={
                    "sarif_file": "trivy.sarif",
                    "category": "trivy",
                    "wait-for-processing": True,
                },
            )
        )
    return Job(
        name="scan",
        needs=("build",),
        timeout_minutes=20,
        permissions=tuple(permissions),
        steps=tuple(steps),
    )


def _snyk() -> Job:
    return Job(
        name="snyk",
        timeout_minutes=15,
        permissions=(READ_CODE,),
        steps=(
            secret_gate("SNYK_TOKEN"),
            Step(
                name="Check out the repository",
                uses=pins.CHECKOUT,
                if_=HAS_SECRET,
                with_={"persist-credentials": False},
            ),
            Step(
                name="Snyk dependency scan",
                if_=HAS_SECRET,
                uses=pins.SNYK_NODE,
                with_={"command": "test", "args": "--all-projects --severity-threshold=high"},
                env={"SNYK_TOKEN": secret("SNYK_TOKEN")},
            ),
        ),
    )


def _sonarqube(sonarqube: SonarQube) -> Job:
    """SonarQube analysis that waits for the project's quality gate (the scanner's
    ``sonar.qualitygate.wait``): a failed gate, or none within the timeout, fails this job, a
    gate of ``publish``, so a release that fails its gate is never published and never reaches
    staging (its verify refuses a digest without green CI)."""
    return Job(
        name="sonarqube",
        timeout_minutes=20,
        permissions=(READ_CODE,),
        steps=(
            secret_gate("SONAR_TOKEN"),
            Step(
                name="Check out the repository",
                uses=pins.CHECKOUT,
                if_=HAS_SECRET,
                with_={"persist-credentials": False, "fetch-depth": 0},
            ),
            Step(
                name="SonarQube analysis",
                if_=HAS_SECRET,
                uses=pins.SONARQUBE_SCAN,
                with_={
                    "args": "-Dsonar.qualitygate.wait=true "
                    f"-Dsonar.qualitygate.timeout={sonarqube.gate_timeout_seconds}"
                },
                env={"SONAR_TOKEN": secret("SONAR_TOKEN"), "SONAR_HOST_URL": sonarqube.host_url},
            ),
        ),
    )


def _notice(what: str, feature: PlanFeature, **kwargs: str) -> Step:
    """A step that says in the run why a plan feature is off (``::notice::``)."""
    return run(
        f"{what}: off for this repository's plan",
        'echo "::notice::$NOTICE"',
        {"NOTICE": feature.notice},
        **kwargs,
    )


ON_TAG: Final = "github.ref_type == 'tag'"
ON_BRANCH: Final = "github.ref_type != 'tag'"


def _provenance(feature: PlanFeature, on_branch: str) -> Step:
    """actions/attest-build-provenance where the plan has artifact attestations, else why not."""
    if not feature.on:
        return _notice("Build provenance attestation", feature, if_=on_branch)
    return Step(
        name="Build provenance attestation",
        if_=on_branch,
        uses=pins.ATTEST_BUILD_PROVENANCE,
        with_={
            "subject-name": expr("env.IMAGE"),
            "subject-digest": expr("steps.push.outputs.digest"),
            "push-to-registry": True,
        },
    )


def _publish(server: str, branch: str, gates: tuple[str, ...], provenance: PlanFeature) -> Job:
    """Push, sign and attest on the default branch; on a ``v*`` tag, name the digest the default
    branch already published (scripts/release_tag.sh), so a release is never a rebuild.

    Signature and SBOM attestation are written in the one format of components/signing.py,
    which the deploy workflows verify and the ClusterImagePolicy admits."""
    digest = expr("steps.push.outputs.digest || steps.release.outputs.digest")
    image_at_digest = template(expr("env.IMAGE"), "@", expr("steps.push.outputs.digest"))
    on_branch = condition(ON_BRANCH)
    return Job(
        name="publish",
        needs=gates,
        if_=condition(_publishing(branch)),
        timeout_minutes=30,
        permissions=(
            Grant(Scope.PACKAGES, Access.WRITE, "push the image to ghcr.io"),
            Grant(Scope.ID_TOKEN, Access.WRITE, "keyless cosign signature and attestations"),
            *(
                (Grant(Scope.ATTESTATIONS, Access.WRITE, "build provenance attestation"),)
                if provenance.on
                else ()
            ),
        ),
        outputs={"digest": digest},
        steps=(
            _download_image(),
            Step(
                name="Log in to the registry",
                uses=pins.DOCKER_LOGIN,
                with_={
                    "registry": server,
                    "username": expr("github.actor"),
                    "password": secret("GITHUB_TOKEN"),
                },
            ),
            install_cosign(),
            run(
                "Push the scanned image",
                script("push_image.sh"),
                env={"TAGS": expr("needs.build.outputs.tags")},
                id="push",
                if_=on_branch,
            ),
            run(
                "Release the digest the default branch published",
                script("release_tag.sh"),
                env={
                    "SIGNER_IDENTITY": signer_identity(branch),
                    "SIGNER_REF": branch_ref(branch),
                    "OIDC_ISSUER": OIDC_ISSUER,
                    "NEW_BUNDLE_FORMAT": new_bundle_format(),
                },
                id="release",
                if_=condition(ON_TAG),
            ),
            run(
                "Sign the pushed digest (keyless)",
                f'cosign sign --yes {sign_flags()} "${{IMAGE}}@${{DIGEST}}"',
                env={"DIGEST": expr("steps.push.outputs.digest")},
                if_=on_branch,
            ),
            _provenance(provenance, on_branch),
            Step(
                name="SBOM of the pushed image",
                if_=on_branch,
                uses=pins.SBOM,
                with_={
                    "image": image_at_digest,
                    "registry-username": expr("github.actor"),
                    "registry-password": secret("GITHUB_TOKEN"),
                    "format": "spdx-json",
                    "output-file": template(expr("runner.temp"), "/sbom.spdx.json"),
                    "artifact-name": "sbom.spdx.json",
                },
            ),
            run(
                "Attest the SBOM to the pushed digest (keyless)",
                f"cosign attest --yes {sign_flags()} --type spdxjson "
                '--predicate "$RUNNER_TEMP/sbom.spdx.json" "${IMAGE}@${DIGEST}"',
                env={"DIGEST": expr("steps.push.outputs.digest")},
                if_=on_branch,
            ),
            upload_artifact(
                "Hand the digest to the deploy workflow",
                DIGEST_ARTIFACT,
                template(expr("runner.temp"), f"/{DIGEST_FILE}"),
                30,
            ),
        ),
    )


RUN_URL: Final = template(  # the run's page, for notifications and deployment records
    expr("github.server_url"),
    "/",
    expr("github.repository"),
    "/actions/runs/",
    expr("github.run_id"),
)


def _notify(branch: str, needs: tuple[str, ...]) -> Job:
    result = expr(
        "(contains(needs.*.result, 'failure') || "
        "contains(needs.*.result, 'cancelled')) && 'failed' || 'passed'"
    )
    return Job(
        name="notify",
        needs=needs,
        if_=condition(f"always() && {_publishing(branch)}"),
        timeout_minutes=5,
        steps=(
            notify(
                "Build status to Discord",
                Channel.DISCORD,
                template(
                    "CI ",
                    result,
                    " on ",
                    expr("github.repository"),
                    " ",
                    expr("github.ref_name"),
                    " (",
                    expr("github.sha"),
                    "): ",
                    RUN_URL,
                ),
            ),
        ),
    )


def _security_alert(scans: tuple[str, ...]) -> Job:
    return Job(
        name="security-alert",
        needs=scans,
        if_=condition("always() && contains(needs.*.result, 'failure')"),
        timeout_minutes=5,
        steps=(
            notify(
                "Security alert to Slack",
                Channel.SLACK,
                template(
                    "Security scan failed in ",
                    expr("github.repository"),
                    " (",
                    expr("github.ref_name"),
                    "): ",
                    RUN_URL,
                ),
            ),
        ),
    )


def ci_workflow(spec: WorkflowsSpec) -> Workflow:
    """ci.yml of the stack that owns the shared pipeline (dev)."""
    pipeline = spec.pipeline
    if pipeline is None:
        raise ValueError("ci.yml is generated only by the stack that owns the pipeline (dev)")
    scanners, notifications = pipeline.scanners, pipeline.notifications
    branch = spec.default_branch
    jobs: dict[str, Job] = {
        "validate": _validate(pipeline),
        "test": _test(
            pipeline,
            spec.metrics.artifact_retention_days
            if spec.metrics is not None
            else COVERAGE_RETENTION_DAYS,
        ),
        "integration": _integration(pipeline),
        "build": _build(pipeline, spec.image),
        "scan": _scan(pipeline),
    }
    scans = ["scan"]
    if scanners.snyk:
        jobs["snyk"] = _snyk()
        scans.append("snyk")
    if scanners.sonarqube is not None:
        jobs["sonarqube"] = _sonarqube(scanners.sonarqube)
        scans.append("sonarqube")
    gates = ("validate", "test", "integration", "build", *scans)
    jobs["publish"] = _publish(spec.registry_server, branch, gates, pipeline.build_provenance)
    jobs[REQUIRED_JOB] = Job(
        name=REQUIRED_JOB,
        needs=(*gates, "publish"),
        if_=condition("always()"),
        timeout_minutes=5,
        env={"RESULTS": expr("join(needs.*.result, ' ')")},
        steps=(run("Every required job passed", script("ci_ok.sh")),),
    )
    if notifications.discord:
        jobs["notify"] = _notify(branch, (*gates, "publish"))
    if notifications.slack:
        jobs["security-alert"] = _security_alert(tuple(scans))
    return Workflow(
        name=WORKFLOW_NAME,
        on=(Push(branches=(branch,), tags=(RELEASE_TAGS,)), PullRequest()),
        concurrency=Concurrency(
            group=template(
                expr("github.workflow"),
                "-",
                expr("github.event.pull_request.number || github.ref"),
            ),
            cancel_in_progress=expr("github.event_name == 'pull_request'"),
        ),
        env={"IMAGE": spec.image},
        jobs=jobs,
    )
