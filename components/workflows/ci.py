"""ci.yml: validate, test, build and scan the application on the default branch and on PRs, and
publish on the default branch; release.yml: name a release on ``v*`` tags.

Job graph (``python -m render ci-cost`` prints it from the rendered file; docs/ci-cost.md)::

    validate ──────┐
    test (matrix) ─┤
    integration ───┼─> publish (push to the default branch) ─> notify (build route, best effort)
    build + Trivy ─┤
    snyk, sonarqube┘   (optional)
    ci-ok: needs every gating job, ``if: always()``; the one check branch protection requires
    security-alert: the security route when a scan fails (where it goes somewhere)

    release.yml (v* tags): release (resolve the built digest, scan it, name it) ─> notify

Decisions:

- The default branch is ``app.defaultBranch`` everywhere (trigger, publish, notify); nothing
  says ``develop`` where config decides.
- Two job levels to a pushed digest: ``build`` runs beside the tests (only ``publish`` needs
  them), and Trivy scans the image tarball inside ``build``, where it was built. The image then
  crosses between jobs once: ``build`` uploads the scanned tarball only on runs that publish, and
  ``publish`` downloads it (a separate scan job would download it a second time and add a level).
- ``build`` never pushes, on any event, so PRs from forks build and scan with a read-only token.
  ``publish`` runs only for pushes to the default branch, after every gate passed, and pushes
  exactly that scanned tarball; the pushed digest is signed with cosign (keyless, the job's OIDC
  token; ``id-token: write`` exists only there), gets a build provenance attestation
  (actions/attest-build-provenance, ``attestations: write``), and its SBOM (anchore/sbom-action)
  is attached as a cosign attestation. The digest is handed to dev-deploy.yml as the artifact
  ``image-digest`` and the output ``digest``.
- Image tags: ``<package.json version>-<run number>`` and ``sha-<commit>``. A ``v*`` tag (which
  must equal package.json's version) is a name, not a build: it runs release.yml, never ci.yml,
  so nothing is validated, tested, built or scanned from source again. Its job ``release`` finds the digest the default branch published for the
  tagged commit, or for a merge commit (the usual develop -> main merge, never built itself) for
  its second parent, the merged default-branch commit, when the merge changed no file, or for a
  squash or rebase merge (one parent, never built) the head of the merged pull request whose
  ``merge_commit_sha`` it is, when the head was published and the trees are identical
  (scripts/release_resolve.sh; ``pull-requests: read``); verifies it is signed by ci.yml on the default branch for that
  commit; scans that registry digest with Trivy (today's vulnerability database, the released
  bytes, not a rebuild); and adds the semver tag to it. No new digest, no new signature:
  stage-deploy and prod-deploy verify the default branch's identity, so a digest signed by the
  tag's own run would be refused, and the release is the digest dev and staging already ran.
- Nothing assumes an earlier image: the first push to an empty registry (a GHCR package that
  does not exist yet) publishes, and the layer cache may be empty (docs/supply-chain.md, "First
  run on GHCR").
- The per-package matrix takes npm names (``@acme/api``); each leg finds its workspace folder
  with ``npm query`` and uploads the coverage its runner wrote there, as
  ``coverage-<name made artifact-safe>``.
- Caches: the npm cache (setup-node) in validate, test and integration, which publish nothing;
  none in ``publish`` and release.yml, which install nothing (ci.yml, which no tag triggers, is
  no release workflow for zizmor's cache-poisoning audit). The Docker layer cache is GitHub's
  (``type=gha``): every build writes it, but a build that publishes reads it only when
  ``pipeline.layerCacheForPublish`` says so (default off: a cache a PR run could have written
  never feeds a published image; zizmor's cache-poisoning audit).
- Secrets: Dependabot's runs get no Actions secrets and forks get none. A job whose tool needs a
  secret (Snyk, SonarQube, Slack) checks for it first and, without it, leaves a notice saying
  why and skips its tool instead of failing. SARIF upload needs a write token, which neither
  gets, and code scanning, which private repositories without Advanced Security lack
  (``scanners.sarifUpload: false``; Trivy's exit code gates either way). Snyk is its CLI at an
  exact npm version (:data:`SNYK_CLI_VERSION`), never a mutable image.
- Notifications never decide the run's conclusion: dev-deploy starts on a successful CI run, so
  a channel's outage or a missing webhook is a warning, not a failed run (notify.py).
- Concurrency: a group per pull request, whose superseded runs are cancelled; every push run is
  its own group (``run-<run id>``), so nothing on the default branch or a tag is ever cancelled
  or replaced while pending: each push gets its ``sha-<commit>`` image. GitHub keeps one running
  and one pending run per group and cancels an older pending one when a newer one queues, even
  without ``cancel-in-progress`` (docs/ci-cost.md, "Concurrency").
"""

from __future__ import annotations

from typing import Final

from components.signing import (
    OIDC_ISSUER,
    SBOM_PREDICATE,
    new_bundle_format,
    sign_flags,
    signer_ref,
)
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
from components.workflows.contract import branch_ref, secret
from components.workflows.custody import install_cosign, signer_identity
from components.workflows.model import (
    NEEDS_RESULTS,
    Access,
    Concurrency,
    Cond,
    Grant,
    Job,
    JobRef,
    Matrix,
    PullRequest,
    Push,
    Scope,
    Step,
    StepRef,
    Workflow,
    all_of,
    always,
    any_of,
    eq,
    expr,
    ne,
    not_,
    template,
)
from components.workflows.notify import Event, Routes, notify_steps
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
"""Tags whose push names a release (release.yml; nothing is built)."""

RELEASE_WORKFLOW: Final = "release.yml"
RELEASE_WORKFLOW_NAME: Final = "Release"

SNYK_CLI_VERSION: Final = "1.1307.4"
"""The Snyk CLI (npm package ``snyk``) the snyk job runs with ``npx --yes snyk@<this>``: an exact
version, so a new release reaches CI through a change here, as an action pin does (the
``snyk/actions/node`` action it replaces ran the mutable image ``snyk/snyk:node``)."""

SNYK_SEVERITY: Final = "high"

PACKAGE_STEP: Final = StepRef("package", ("slug", "dir"))
"""scripts/locate_package.sh: the matrix package's workspace folder and artifact-safe name."""
VERSION_STEP: Final = StepRef("version", ("version",))
META_STEP: Final = StepRef("meta", ("tags", "labels"))
TRIVY_STEP: Final = StepRef("trivy")
PUSH_STEP: Final = StepRef("push", ("digest",))
SOURCE_STEP: Final = StepRef("source", ("digest", "commit"))
"""scripts/release_resolve.sh: the released digest and the commit it was built from."""
BUILD_JOB: Final = JobRef("build", ("tags", "scan"))
RELEASE_JOB: Final = JobRef("release", ("digest", "scan"))

READ_CODE: Final = Grant(Scope.CONTENTS, Access.READ, "check out the repository")

WRITE_TOKEN: Final = all_of(SAME_REPOSITORY, ne("github.actor", "dependabot[bot]"))
"""Runs whose GITHUB_TOKEN may write: not forks, not Dependabot (its PR runs get a read-only
token, like forks, even though the branch is in this repository)."""


def _publishing(branch: str) -> Cond:
    """Condition: this run publishes an image (a push to the default branch)."""
    return all_of(eq("github.event_name", "push"), eq("github.ref", branch_ref(branch)))


def _install(pipeline: PipelineSpec) -> tuple[Step, ...]:
    """Checkout, Node.js with the npm cache, ``npm ci``: for jobs that publish nothing."""
    return (
        checkout(),
        setup_node(pipeline.node_version, cache=True),
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
            run("Find the package's workspace", script("locate_package.sh"), id=PACKAGE_STEP.id),
            npm_command("Unit tests", pipeline.commands.unit_test),
            upload_artifact(
                "Upload coverage",
                template("coverage-", PACKAGE_STEP.output("slug")),
                template(PACKAGE_STEP.output("dir"), f"/{coverage}"),
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


def _layer_cache_from(branch: str, for_publish: bool) -> str:
    """``cache-from`` of the build: the GHA layer cache, except on a run that publishes unless
    ``pipeline.layerCacheForPublish`` (an empty value imports no cache)."""
    if for_publish:
        return "type=gha"
    return expr(f"{not_(_publishing(branch))} && 'type=gha' || ''")


def _trivy(severity: str, **target: str) -> dict[str, str | int | bool]:
    """trivy-action inputs that fail on ``severity`` findings with a fix; ``target``: ``input``
    (a tarball) or ``image-ref`` (a registry reference)."""
    return {
        "scan-type": "image",
        **target,
        "severity": severity,
        "ignore-unfixed": True,
        "exit-code": "1",
    }


def _build(pipeline: PipelineSpec, image: str, branch: str) -> Job:
    """Build the image into a tarball, scan it with Trivy right there, and hand the scanned
    tarball to ``publish`` (uploaded only on runs that publish)."""
    scanners = pipeline.scanners
    tarball = template(expr("runner.temp"), f"/{IMAGE_TARBALL}")
    trivy = _trivy(scanners.trivy_severity, input=tarball)
    permissions = [
        Grant(Scope.CONTENTS, Access.READ, "check out the repository; code scanning reads it")
    ]
    sarif = scanners.sarif_upload
    scan_steps: list[Step] = []
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
        scan_steps.append(_notice("SARIF upload", sarif))
    scan_steps.append(Step(name="Trivy image scan", id=TRIVY_STEP.id, uses=pins.TRIVY, with_=trivy))
    if sarif.on:
        scan_steps.append(
            Step(
                name="Upload the Trivy report to code scanning",
                if_=all_of(always(), ne(TRIVY_STEP.outcome, "skipped"), WRITE_TOKEN),
                uses=pins.UPLOAD_SARIF,
                with_={
                    "sarif_file": "trivy.sarif",
                    "category": "trivy",
                    "wait-for-processing": True,
                },
            )
        )
    return Job(
        name="build",
        timeout_minutes=30,
        permissions=tuple(permissions),
        outputs={"tags": META_STEP.output("tags"), "scan": expr(TRIVY_STEP.outcome)},
        steps=(
            checkout(),
            run("Read the application version", script("read_version.sh"), id=VERSION_STEP.id),
            Step(name="Set up Docker Buildx", uses=pins.SETUP_BUILDX),
            Step(
                name="Image tags and labels",
                id=META_STEP.id,
                uses=pins.DOCKER_METADATA,
                with_={
                    "context": "workflow",
                    "github-token": expr("github.token"),
                    "images": image,
                    "tags": template(
                        "type=raw,value=",
                        VERSION_STEP.output("version"),
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
                    "tags": META_STEP.output("tags"),
                    "labels": META_STEP.output("labels"),
                    "outputs": template("type=docker,dest=", tarball),
                    "cache-from": _layer_cache_from(branch, pipeline.layer_cache_for_publish),
                    "cache-to": "type=gha,mode=max",
                },
            ),
            *scan_steps,
            Step(
                name="Keep the scanned image for publish",
                if_=_publishing(branch),
                uses=pins.UPLOAD_ARTIFACT,
                with_={
                    "name": IMAGE_ARTIFACT,
                    "path": tarball,
                    "if-no-files-found": "error",
                    "retention-days": 1,
                },
            ),
        ),
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
            run(
                "Snyk dependency scan",
                script("snyk.sh"),
                env={
                    "SNYK_TOKEN": secret("SNYK_TOKEN"),
                    "SNYK_VERSION": SNYK_CLI_VERSION,
                    "SEVERITY": SNYK_SEVERITY,
                },
                if_=HAS_SECRET,
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
        script("notice.sh"),
        {"NOTICE": feature.notice},
        **kwargs,
    )


def _provenance(feature: PlanFeature) -> Step:
    """actions/attest-build-provenance where the plan has artifact attestations, else why not."""
    if not feature.on:
        return _notice("Build provenance attestation", feature)
    return Step(
        name="Build provenance attestation",
        uses=pins.ATTEST_BUILD_PROVENANCE,
        with_={
            "subject-name": expr("env.IMAGE"),
            "subject-digest": PUSH_STEP.output("digest"),
            "push-to-registry": True,
        },
    )


def _registry_login(server: str) -> Step:
    return Step(
        name="Log in to the registry",
        uses=pins.DOCKER_LOGIN,
        with_={
            "registry": server,
            "username": expr("github.actor"),
            "password": secret("GITHUB_TOKEN"),
        },
    )


def _hand_over_digest() -> Step:
    return upload_artifact(
        "Hand the digest to the deploy workflow",
        DIGEST_ARTIFACT,
        template(expr("runner.temp"), f"/{DIGEST_FILE}"),
        30,
    )


def _publish(server: str, branch: str, gates: tuple[str, ...], provenance: PlanFeature) -> Job:
    """Push, sign and attest the scanned tarball on the default branch.

    Signature and SBOM attestation are written in the one format of components/signing.py,
    which the deploy workflows verify and the ClusterImagePolicy admits."""
    digest = PUSH_STEP.output("digest")
    image_at_digest = template(expr("env.IMAGE"), "@", digest)
    signing = {"DIGEST": digest, "SIGN_FLAGS": sign_flags()}
    return Job(
        name="publish",
        needs=gates,
        if_=_publishing(branch),
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
            Step(
                name="Download the scanned image",
                uses=pins.DOWNLOAD_ARTIFACT,
                with_={"name": IMAGE_ARTIFACT, "path": expr("runner.temp")},
            ),
            _registry_login(server),
            install_cosign(),
            run(
                "Push the scanned image",
                script("push_image.sh"),
                env={"TAGS": BUILD_JOB.output("tags")},
                id=PUSH_STEP.id,
            ),
            run("Sign the pushed digest (keyless)", script("cosign_sign.sh"), env=signing),
            _provenance(provenance),
            Step(
                name="SBOM of the pushed image",
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
                script("cosign_attest_sbom.sh"),
                env={**signing, "PREDICATE_TYPE": SBOM_PREDICATE},
            ),
            _hand_over_digest(),
        ),
    )


def _release(server: str, branch: str, severity: str) -> Job:
    """On a ``v*`` tag: the digest the default branch built for the tagged commit (or a merge's
    merged parent), verified, scanned again as it sits in the registry, then named."""
    digest = SOURCE_STEP.output("digest")
    return Job(
        name="release",
        timeout_minutes=20,
        permissions=(
            READ_CODE,
            Grant(Scope.PACKAGES, Access.WRITE, "add the release tag to the published digest"),
            Grant(Scope.PULL_REQUESTS, Access.READ, "find the pull request a squash merge made"),
        ),
        outputs={"digest": digest, "scan": expr(TRIVY_STEP.outcome)},
        steps=(
            # The tagged commit and its parents: a merge commit's second parent is the build.
            checkout(fetch_depth=2),
            run("Read the application version", script("read_version.sh"), id=VERSION_STEP.id),
            _registry_login(server),
            install_cosign(),
            run(
                "Find the digest the default branch published",
                script("release_resolve.sh"),
                env={
                    "SIGNER_IDENTITY": signer_identity(branch),
                    "SIGNER_REF": signer_ref(branch),
                    "OIDC_ISSUER": OIDC_ISSUER,
                    "NEW_BUNDLE_FORMAT": new_bundle_format(),
                    "GH_TOKEN": expr("github.token"),
                },
                id=SOURCE_STEP.id,
            ),
            Step(
                name="Trivy scan of the released digest",
                id=TRIVY_STEP.id,
                uses=pins.TRIVY,
                with_={
                    **_trivy(severity, **{"image-ref": template(expr("env.IMAGE"), "@", digest)}),
                    "format": "table",
                },
            ),
            run(
                "Name the release",
                script("release_tag.sh"),
                env={"DIGEST": digest, "COMMIT": SOURCE_STEP.output("commit")},
            ),
            _hand_over_digest(),
        ),
    )


RUN_URL: Final = template(  # the run's page, for notifications and deployment records
    expr("github.server_url"),
    "/",
    expr("github.repository"),
    "/actions/runs/",
    expr("github.run_id"),
)


def _notify(routes: Routes, needs: tuple[str, ...], if_: Cond) -> Job | None:
    """The build result to the build event's channels; None where it goes nowhere."""
    result = expr(
        f"(contains({NEEDS_RESULTS}, 'failure') || "
        f"contains({NEEDS_RESULTS}, 'cancelled')) && 'failed' || 'passed'"
    )
    message = template(
        expr("github.workflow"),
        " ",
        result,
        " on ",
        expr("github.repository"),
        " ",
        expr("github.ref_name"),
        " (",
        expr("github.sha"),
        "): ",
        RUN_URL,
    )
    steps = notify_steps(routes, Event.BUILD, "Build status", message)
    if not steps:
        return None
    return Job(name="notify", needs=needs, if_=if_, timeout_minutes=5, steps=steps)


def _security_alert(
    routes: Routes, trivy_job: JobRef, scans: tuple[JobRef, ...] = ()
) -> Job | None:
    """The security event's channels when a scan found something: the Trivy step of
    ``trivy_job`` (its output ``scan``, so a failed compile is no security alert), Snyk or
    SonarQube failing; None where security findings go nowhere.

    A failed job still has its outputs: the runner evaluates them when it finalizes the job,
    whatever the job's result (actions/runner src/Runner.Worker/JobExtension.cs, FinalizeJob,
    "Evaluate and set job outputs"); act does the same (executed:
    tests/pipeline/test_ci.py::test_3_slack_answering_500_leaves_the_alert_job_green)."""
    failed = any_of(
        eq(trivy_job.output_ref("scan"), "failure"), *(eq(job.result, "failure") for job in scans)
    )
    message = template(
        "Security scan failed in ",
        expr("github.repository"),
        " (",
        expr("github.ref_name"),
        "): ",
        RUN_URL,
    )
    steps = notify_steps(routes, Event.SECURITY, "Security alert", message)
    if not steps:
        return None
    return Job(
        name="security-alert",
        needs=(trivy_job.id, *(job.id for job in scans)),
        if_=all_of(always(), failed),
        timeout_minutes=5,
        steps=steps,
    )


CONCURRENCY: Final = Concurrency(
    group=template(
        expr("github.workflow"),
        "-",
        expr(
            "github.event_name == 'pull_request' && "
            "format('pr-{0}', github.event.pull_request.number) || "
            "format('run-{0}', github.run_id)"
        ),
    ),
    cancel_in_progress=expr("github.event_name == 'pull_request'"),
)
"""One group per pull request (a new push cancels its superseded run); every other run is a
group of its own, so a pending push run is never replaced by a newer one (module docstring)."""


def ci_workflow(spec: WorkflowsSpec) -> Workflow:
    """ci.yml of the stack that owns the shared pipeline (dev)."""
    pipeline = spec.pipeline
    if pipeline is None:
        raise ValueError("ci.yml is generated only by the stack that owns the pipeline (dev)")
    scanners = pipeline.scanners
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
        BUILD_JOB.id: _build(pipeline, spec.image, branch),
    }
    scans: list[str] = []
    if scanners.snyk:
        jobs["snyk"] = _snyk()
        scans.append("snyk")
    if scanners.sonarqube is not None:
        jobs["sonarqube"] = _sonarqube(scanners.sonarqube)
        scans.append("sonarqube")
    gates = ("validate", "test", "integration", BUILD_JOB.id, *scans)
    jobs["publish"] = _publish(spec.registry_server, branch, gates, pipeline.build_provenance)
    jobs[REQUIRED_JOB] = Job(
        name=REQUIRED_JOB,
        needs=(*gates, "publish"),
        if_=always(),
        timeout_minutes=5,
        env={"RESULTS": expr(f"join({NEEDS_RESULTS}, ' ')")},
        steps=(run("Every required job passed", script("ci_ok.sh")),),
    )
    routes = spec.notifications
    if notify_job := _notify(routes, (*gates, "publish"), all_of(always(), _publishing(branch))):
        jobs["notify"] = notify_job
    if alert := _security_alert(routes, BUILD_JOB, tuple(JobRef(job) for job in scans)):
        jobs["security-alert"] = alert
    return Workflow(
        name=WORKFLOW_NAME,
        on=(Push(branches=(branch,)), PullRequest()),
        concurrency=CONCURRENCY,
        env={"IMAGE": spec.image},
        jobs=jobs,
    )


def release_workflow(spec: WorkflowsSpec) -> Workflow:
    """release.yml: a ``v*`` tag names the digest the default branch built (job ``release``).

    A workflow of its own, so that a tag run runs nothing of ci.yml (no validate, test, build or
    scan of code already built), and ci.yml, which no tag triggers, may use the npm cache: a
    workflow that tags run is one whose caches zizmor's cache-poisoning audit refuses, and this
    one installs nothing."""
    pipeline = spec.pipeline
    if pipeline is None:
        raise ValueError("release.yml is generated only by the stack that owns the pipeline (dev)")
    jobs: dict[str, Job] = {
        RELEASE_JOB.id: _release(
            spec.registry_server, spec.default_branch, pipeline.scanners.trivy_severity
        )
    }
    if notify_job := _notify(spec.notifications, (RELEASE_JOB.id,), always()):
        jobs["notify"] = notify_job
    if alert := _security_alert(spec.notifications, RELEASE_JOB):
        jobs["security-alert"] = alert
    return Workflow(
        name=RELEASE_WORKFLOW_NAME,
        on=(Push(branches=(), tags=(RELEASE_TAGS,)),),
        concurrency=CONCURRENCY,
        env={"IMAGE": spec.image},
        jobs=jobs,
    )
