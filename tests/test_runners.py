"""Runners per environment (``cicd:deploy.runner``), Actions Runner Controller in the platform
stack (``cicd-platform:runners``), ``cluster.access: inCluster``, and the Kubernetes provider's
settings (``kubernetes:kubeconfig``, ``kubernetes:context``): docs/runners.md.

Given a stack file with a runner setting, when it renders, then only the job in the environment
moves to that runner, in the ``runs-on`` form GitHub documents, and actionlint accepts it; bad
forms are one line each. The inCluster renders use a project copy whose platform stack runs ARC.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.config.runner import RUNNER_BASE_IMAGE
from components.runners import CONTROLLER_CHART, SCALE_SET_CHART
from render.engine import SECRET, Rendered, render, secret_placeholder
from render.tree import github_settings, kubernetes_objects, tree
from tests import validators
from tests.arc_project import ARC_PROD, IN_CLUSTER, arc_project, in_cluster_render
from tests.conftest import (
    config_problems,
    copy_project,
    project_path,
    render_variant,
    rendered,
    variant,
)
from tests.validators import VENV_BIN

HOSTED: Final = "ubuntu-24.04"
DEPLOY_FILE: Final = {
    "dev": "dev-deploy.yml",
    "staging": "stage-deploy.yml",
    "prod": "prod-deploy.yml",
}
CHART_FACTS: Final = project_path(
    "tests", "fixtures", "actions-runner-controller", "values-read-0.14.2.json"
)
RELEASE: Final = "kubernetes:helm.sh/v3:Release"
K8S_PROVIDER: Final = "pulumi:providers:kubernetes"


def workflow(result: Rendered, stack: str) -> dict[str, Any]:
    text = tree(result)[f"github/workflows/{DEPLOY_FILE[stack]}"]
    parsed: dict[str, Any] = yaml.safe_load(text)
    return parsed


def runs_on_by_job(result: Rendered, stack: str) -> dict[str, Any]:
    return {name: job["runs-on"] for name, job in workflow(result, stack)["jobs"].items()}


# --------------------------------------------------------------------------------------------
# deploy.runner: the forms of runs-on, on the one job that reaches the cluster
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_by_default_every_job_stays_on_the_fixed_github_hosted_image(stack: str) -> None:
    assert set(runs_on_by_job(rendered(stack), stack).values()) == {HOSTED}


@pytest.mark.parametrize(
    ("runner", "runs_on"),
    [
        ({"labels": ["self-hosted", "linux", "x64"]}, ["self-hosted", "linux", "x64"]),
        ({"labels": ["ubuntu-24.04-arm"]}, "ubuntu-24.04-arm"),
        ({"group": "prod-deployers"}, {"group": "prod-deployers"}),
        (
            {"group": "prod-deployers", "labels": ["linux"]},
            {"group": "prod-deployers", "labels": ["linux"]},
        ),
        ({"scaleSet": "webshop-prod"}, "webshop-prod"),
    ],
)
def test_the_runner_moves_only_the_job_in_the_environment(
    runner: dict[str, Any], runs_on: Any
) -> None:
    # Given prod's deploy.runner, when it renders, then the deploy job (the one with the
    # environment, which reaches the cluster) runs there, and verify and close-deployment stay
    # on GitHub's runners: they run no kubectl, and nothing of the repository's code runs next
    # to the cluster identity.
    result = render_variant("prod", {"cicd:deploy.runner": runner})
    jobs = workflow(result, "prod")["jobs"]
    assert jobs["deploy"]["runs-on"] == runs_on
    assert "environment" in jobs["deploy"]
    assert {name: job["runs-on"] for name, job in jobs.items() if name != "deploy"} == {
        "verify": HOSTED,
        "close-deployment": HOSTED,
    }


def test_dev_moves_its_deploy_job_and_keeps_its_tests_on_github_hosted_runners() -> None:
    # The integration tests install and run the repository's npm dependencies: they stay on a
    # fresh GitHub-hosted VM, never on a runner next to the cluster identity.
    result = render_variant("dev", {"cicd:deploy.runner": {"labels": ["self-hosted", "linux"]}})
    by_job = runs_on_by_job(result, "dev")
    assert by_job.pop("deploy") == ["self-hosted", "linux"]
    assert set(by_job) >= {"integration-test", "accept", "notify"}
    assert set(by_job.values()) == {HOSTED}
    ci = yaml.safe_load(tree(result)["github/workflows/ci.yml"])
    assert {job["runs-on"] for job in ci["jobs"].values()} == {HOSTED}


def _actionlint(files: Mapping[str, str], root: Path, labels: tuple[str, ...]) -> list[str]:
    """actionlint (shellcheck on PATH, as tests/validators.py runs it) on the rendered
    workflows, with the application repository's ``.github/actionlint.yaml`` declaring
    ``labels`` as self-hosted runner labels."""
    workflows = root / ".github" / "workflows"
    workflows.mkdir(parents=True)
    paths = []
    for name, text in files.items():
        if name.startswith("github/workflows/"):
            path = workflows / name.removeprefix("github/workflows/")
            path.write_text(text)
            paths.append(str(path))
    config = root / ".github" / "actionlint.yaml"
    config.write_text(yaml.safe_dump({"self-hosted-runner": {"labels": list(labels)}}))
    done = subprocess.run(
        [str(VENV_BIN / "actionlint"), "-format", "{{json .}}", "-config-file", str(config),
         *paths],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    if done.returncode not in (0, 1):
        return [f"actionlint failed ({done.returncode}): {done.stderr.strip()}"]
    return [f"{e['filepath']}:{e['line']}: {e['message']}" for e in json.loads(done.stdout or "[]")]


@pytest.mark.parametrize(
    ("runner", "custom"),
    [
        ({"labels": ["self-hosted", "linux", "x64", "prod-deploy"]}, ("prod-deploy",)),
        ({"group": "prod-deployers", "labels": ["linux"]}, ()),
        ({"scaleSet": "webshop-prod"}, ("webshop-prod",)),
    ],
)
def test_actionlint_accepts_each_form(
    runner: dict[str, Any], custom: tuple[str, ...], tmp_path: Path
) -> None:
    # actionlint checks runs-on's shape and its labels; a custom self-hosted label is declared
    # in the application repository's .github/actionlint.yaml, as actionlint asks.
    files = tree(render_variant("prod", {"cicd:deploy.runner": runner}))
    assert _actionlint(files, tmp_path / "declared", custom) == []
    workflows = {
        f".github/workflows/{name.removeprefix('github/workflows/')}": text
        for name, text in files.items()
        if name.startswith("github/workflows/")
    }
    # zizmor (pedantic) and GitHub's workflow JSON schema take every form as well.
    assert validators.zizmor(workflows) == []
    assert validators.workflow_schema(workflows) == []
    if custom:
        # Undeclared, actionlint reports the label: the check above is a real one.
        (finding,) = _actionlint(files, tmp_path / "undeclared", ())
        assert f'label "{custom[-1]}" is unknown' in finding


@pytest.mark.parametrize(
    ("runner", "line"),
    [
        (
            {"labels": []},
            "cicd:deploy.runner.labels must list at least one label (leave labels out for the "
            "default) (got [])",
        ),
        (
            {"labels": ["self-hosted", "linux x64"]},
            "cicd:deploy.runner.labels[1] must be a runner label: letters, digits, '.', '_' or "
            "'-', at most 100 (got linux x64)",
        ),
        (
            # Refused by the rule every value of a stack file meets, before the label pattern.
            {"labels": ["self-hosted", "${{ github.actor }}"]},
            "cicd:deploy.runner.labels must not contain '${{': GitHub expressions are written by "
            'the generator only; config values are data (got ["self-hosted", "${{ github.actor '
            '}}"])',
        ),
        (
            {"group": ""},
            "cicd:deploy.runner.group must be a runner group name: letters, digits, spaces, "
            "'.', '_' or '-' (got )",
        ),
        (
            {"scaleSet": "webshop-prod", "group": "deployers"},
            "cicd:deploy.runner.scaleSet is the runner's only label (a scale set is chosen by "
            "its name, its runner group is set in the platform stack): remove labels and group "
            "(got webshop-prod)",
        ),
        (
            {"labels": ["self-hosted", "linux", "Linux"]},
            "cicd:deploy.runner.labels[2] repeats an earlier label (got Linux)",
        ),
        (
            {"labels": ["self-hosted", "ubuntu-24.04"]},
            "cicd:deploy.runner.labels mixes the GitHub-hosted image ubuntu-24.04 with other "
            "labels or a group: a GitHub-hosted runner is chosen by its one image label; a "
            "self-hosted one by self-hosted and its own labels (got self-hosted, ubuntu-24.04)",
        ),
        (
            {"labels": ["windows-2025"]},
            "cicd:deploy.runner.labels[0] must name a Linux runner: the deploy job's steps are "
            "bash scripts and a Linux kubectl (got windows-2025)",
        ),
    ],
)
def test_bad_runner_forms_are_one_line_each(runner: dict[str, Any], line: str) -> None:
    assert config_problems("prod", {"cicd:deploy.runner": runner}) == [f"Pulumi.prod.yaml: {line}"]


def test_in_cluster_access_needs_the_scale_set() -> None:
    assert config_problems("prod", {"cicd:cluster.access": "inCluster"}) == [
        "Pulumi.prod.yaml: cicd:cluster.access inCluster needs deploy.runner.scaleSet: the "
        "deploy job must run on the environment's runner scale set, whose pods carry the "
        "in-cluster identity (got inCluster)"
    ]


@pytest.mark.parametrize(
    "runner",
    [{"labels": ["self-hosted", "linux"]}, {"group": "deployers"}, {"scaleSet": "webshop-dev"}],
)
def test_a_public_repository_keeps_its_deploy_job_on_github_hosted_runners(
    runner: dict[str, Any],
) -> None:
    # The first stage knows the visibility (pipeline.github): a fork's pull request can run a
    # workflow of its own on any self-hosted label, so a public repository may not use one.
    changes = {"cicd:pipeline.github.visibility": "public", "cicd:deploy.runner": runner}
    (line,) = config_problems("dev", changes)
    assert line.startswith(
        "Pulumi.dev.yaml: cicd:deploy.runner must be a GitHub-hosted runner on a public "
        "repository (pipeline.github.visibility public)"
    )
    # A GitHub-hosted image is fine on a public repository, the default one included; a
    # private one may self-host.
    render_variant("dev", {**changes, "cicd:deploy.runner": {"labels": ["ubuntu-24.04-arm"]}})
    render_variant("dev", {"cicd:pipeline.github.visibility": "public"})
    render_variant("dev", {"cicd:deploy.runner": runner})


# --------------------------------------------------------------------------------------------
# cluster.access inCluster: the runner scale set's ServiceAccount is the deployer
# --------------------------------------------------------------------------------------------


@pytest.fixture
def in_cluster_prod() -> Rendered:
    return in_cluster_render()


def test_in_cluster_prod_stores_no_cluster_credential(in_cluster_prod: Rendered) -> None:
    # No token Secret, no deployer ServiceAccount in the app namespace, no KUBECONFIG secret:
    # the credential is the runner pod's own projected token, which never leaves the cluster.
    objects = kubernetes_objects(in_cluster_prod)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects.values()}
    assert ("ServiceAccount", "webshop-deployer") not in kinds
    assert not [
        o for o in objects.values() if o.get("type") == "kubernetes.io/service-account-token"
    ]
    (environment,) = github_settings(in_cluster_prod)["environments"].values()
    assert "KUBECONFIG" not in environment["secrets"]
    assert "KUBE_SERVER" not in environment["variables"]
    assert "KUBECONFIG" not in tree(in_cluster_prod)["github/workflows/prod-deploy.yml"].replace(
        "KUBECONFIG:", ""
    ).replace("$KUBECONFIG", "")


def test_in_cluster_binds_the_platform_runner_service_account(in_cluster_prod: Rendered) -> None:
    objects = kubernetes_objects(in_cluster_prod)
    (binding,) = [
        o for o in objects.values()
        if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "webshop-deployer"
    ]  # fmt: skip
    assert binding["metadata"]["namespace"] == "webshop-prod"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "webshop-prod-runner", "namespace": "arc-runners-prod"}
    ]
    assert binding["roleRef"]["name"] == "webshop-deployer"
    (policy,) = [o for o in objects.values() if o["kind"] == "ValidatingAdmissionPolicy"]
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"] == (
        "request.userInfo.username == 'system:serviceaccount:arc-runners-prod:webshop-prod-runner'"
    )


def test_in_cluster_deploy_job_writes_its_kubeconfig_from_the_pod(
    in_cluster_prod: Rendered,
) -> None:
    deploy = workflow(in_cluster_prod, "prod")["jobs"]["deploy"]
    assert deploy["runs-on"] == "webshop-prod"
    assert "id-token" not in deploy["permissions"]
    names = [step["name"] for step in deploy["steps"]]
    assert "Write the deployer kubeconfig (in-cluster ServiceAccount)" in names
    assert "Write the deployer kubeconfig" not in names
    text = yaml.safe_dump(deploy)
    assert "secrets.KUBECONFIG" not in text


@pytest.mark.parametrize(
    ("runners", "message"),
    [
        (None, r"platform stack acme/cicd-platform/prod runs no runner scale sets"),
        (
            {**ARC_PROD, "scaleSets": [{"name": "webshop-prod", "environment": "staging"}]},
            r"names webshop-prod, which the platform stack acme/cicd-platform/prod runs for "
            r"environment staging, not prod",
        ),
        (
            {**ARC_PROD, "scaleSets": [{"name": "other", "environment": "prod"}]},
            r"names webshop-prod, which the platform stack acme/cicd-platform/prod does not run "
            r"\(its scale sets: other\)",
        ),
        *(
            (
                {**ARC_PROD, "githubConfigUrl": url},
                r"^Pulumi\.prod\.yaml: cicd:cluster\.access is inCluster, but scale set "
                r"webshop-prod of the platform stack acme/cicd-platform/prod registers with "
                + re.escape(url)
                + r" \(cicd-platform:runners\.githubConfigUrl\), not "
                r"https://github\.com/acme/webshop: every repository it serves would get this "
                r"environment's deployer rights without its review$",
            )
            for url in (
                "https://github.com/acme",
                "https://github.com/enterprises/acme",
                "https://github.com/acme/other",
                "https://github.example.com/acme/webshop",
            )
        ),
    ],
)
def test_in_cluster_needs_this_environments_scale_set_in_the_platform(
    tmp_path: Path, runners: dict[str, Any] | None, message: str
) -> None:
    root = copy_project(tmp_path)
    platform_file = root / "platform" / "Pulumi.prod.yaml"
    document = yaml.safe_load(platform_file.read_text())
    if runners is not None:
        document["config"]["cicd-platform:runners"] = runners
    platform_file.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(Exception, match=message):
        render("prod", root, stack_config=variant("prod", IN_CLUSTER))


# --------------------------------------------------------------------------------------------
# cicd-platform:runners: the controller and the scale sets
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arc_platform() -> Rendered:
    return render("prod", arc_project() / "platform")


def test_platform_stacks_ship_without_arc() -> None:
    for cluster in ("nonprod", "prod"):
        result = render(cluster, project_path("platform"))
        assert result.outputs.get("runners") is None
        assert not [r for r in result.of_type(RELEASE) if "actions-runner" in r.inputs["chart"]]


def test_arc_installs_the_controller_and_one_scale_set_per_environment(
    arc_platform: Rendered,
) -> None:
    releases = {
        r.inputs["chart"].rsplit("/", 1)[-1]: r.inputs for r in arc_platform.of_type(RELEASE)
    }
    controller, scale_set = releases[CONTROLLER_CHART], releases[SCALE_SET_CHART]
    assert (
        controller["chart"]
        == f"oci://ghcr.io/actions/actions-runner-controller-charts/{CONTROLLER_CHART}"
    )
    assert (controller["version"], scale_set["version"]) == ("0.14.2", "0.14.2")
    assert (controller["namespace"], scale_set["namespace"]) == ("arc-systems", "arc-runners-prod")
    values = scale_set["values"]
    assert values["githubConfigSecret"] == "arc-github-app"  # a name, never credentials
    assert values["runnerScaleSetName"] == "webshop-prod"
    pod = values["template"]["spec"]
    assert pod["serviceAccountName"] == "webshop-prod-runner"
    (container,) = pod["containers"]
    assert container["image"] == ARC_PROD["runnerImage"]
    objects = kubernetes_objects(arc_platform)
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for o in objects.values() if o["kind"] == "Namespace"
    }  # fmt: skip
    assert namespaces["arc-runners-prod"] == "restricted"
    assert namespaces["arc-systems"] == "baseline"
    (account,) = [o for o in objects.values() if o["kind"] == "ServiceAccount"]
    assert account["metadata"] == {
        "name": "webshop-prod-runner",
        "namespace": "arc-runners-prod",
        "labels": account["metadata"]["labels"],
    }
    assert arc_platform.outputs["runners"] == {
        "webshop-prod": {
            "environment": "prod",
            "namespace": "arc-runners-prod",
            "serviceAccount": "webshop-prod-runner",
            "githubConfigUrl": "https://github.com/acme/webshop",
        }
    }


def _unread(values: Any, read: set[str], prefix: str = "") -> list[str]:
    """Paths of ``values`` that no chart template reads: a path counts as read when it or one
    of its ancestors is read (the scale set chart copies ``template.spec`` whole)."""
    unread: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        ancestors = {".".join(path.split(".")[: n + 1]) for n in range(path.count(".") + 1)}
        if ancestors & read:
            continue
        if isinstance(value, dict) and value:
            unread += _unread(value, read, f"{path}.")
        else:
            unread.append(path)
    return unread


def test_every_value_passed_is_one_the_pinned_charts_read(arc_platform: Rendered) -> None:
    # Given what the charts' templates read at the pinned tag (fixture, with its provenance),
    # then no value the stack passes is ignored by the chart (a typo would be silently dropped).
    facts = json.loads(CHART_FACTS.read_text())
    releases = {
        r.inputs["chart"].rsplit("/", 1)[-1]: r.inputs for r in arc_platform.of_type(RELEASE)
    }
    for chart, release in releases.items():
        if chart not in facts["charts"]:
            continue
        read = set(facts["charts"][chart]["valuesRead"])
        assert release["version"] == facts["charts"][chart]["version"], "refresh the fixture"
        assert _unread(release["values"], read) == [], chart
    assert RUNNER_BASE_IMAGE.endswith(f":{facts['runnerVersion']}")
    # The check can fail: a misspelt key is reported.
    assert _unread({"maxRunner": 3, "template": {"spec": {"x": 1}}}, read) == ["maxRunner"]


@pytest.mark.parametrize(
    ("runners", "line"),
    [
        (
            {
                "enabled": True,
                "githubConfigSecret": "arc-github-app",
                "runnerImage": ARC_PROD["runnerImage"],
                "scaleSets": [{"name": "a", "environment": "dev"}],
            },
            "cicd-platform:runners.githubConfigUrl is required",
        ),
        (
            {**ARC_PROD, "githubConfigUrl": "http://github.com/acme"},
            "cicd-platform:runners.githubConfigUrl must be the repository, organisation or "
            "enterprise URL the scale sets register with",
        ),
        (
            {**ARC_PROD, "scaleSets": []},
            "cicd-platform:runners.scaleSets must list at least one scale set when enabled",
        ),
        (
            {
                **ARC_PROD,
                "scaleSets": [
                    {"name": "webshop-prod", "environment": "prod"},
                    {"name": "webshop-prod-2", "environment": "prod"},
                ],
            },
            "cicd-platform:runners.scaleSets[1].environment already has scale set webshop-prod: "
            "one per environment, so that no runner identity can act in two (got prod)",
        ),
        (
            {
                **ARC_PROD,
                "scaleSets": [
                    {"name": "a", "environment": "dev", "namespace": "runners"},
                    {"name": "b", "environment": "staging", "namespace": "runners"},
                ],
            },
            "cicd-platform:runners.scaleSets[1].namespace must differ from every other scale set's",
        ),
        (
            {**ARC_PROD, "scaleSets": [{"name": "a", "environment": "prod", "minRunners": 3}]},
            "cicd-platform:runners.scaleSets[0].minRunners must be at most maxRunners (2)",
        ),
        (
            {key: value for key, value in ARC_PROD.items() if key != "runnerImage"},
            "cicd-platform:runners.runnerImage is required",
        ),
        *(
            (
                {**ARC_PROD, "runnerImage": image},
                "cicd-platform:runners.runnerImage must be an image built FROM the official "
                "runner image with gh and jq added: ghcr.io/actions/actions-runner has no gh, "
                "which the deploy job calls (docs/runners.md)",
            )
            for image in (RUNNER_BASE_IMAGE, f"ghcr.io/actions/actions-runner@sha256:{'0' * 64}")
        ),
        (
            {**ARC_PROD, "githubConfigSecret": "ghp_abc"},
            "cicd-platform:runners.githubConfigSecret must be a Kubernetes DNS label",
        ),
    ],
)
def test_bad_runners_sections_are_one_line_each(runners: dict[str, Any], line: str) -> None:
    from components.config import ConfigError

    config = yaml.safe_load(project_path("platform", "Pulumi.prod.yaml").read_text())["config"]
    config["cicd-platform:runners"] = runners
    with pytest.raises(ConfigError) as caught:
        render("prod", project_path("platform"), stack_config=config)
    (problem,) = caught.value.lines
    assert problem.startswith(f"Pulumi.prod.yaml: {line}"), problem


def test_runner_settings_kept_while_off_are_warned_not_used() -> None:
    config = yaml.safe_load(project_path("platform", "Pulumi.prod.yaml").read_text())["config"]
    config["cicd-platform:runners"] = {**ARC_PROD, "enabled": False}
    result = render("prod", project_path("platform"), stack_config=config)
    assert result.outputs.get("runners") is None
    assert any("cicd-platform:runners: githubConfigSecret, githubConfigUrl, runnerImage, scaleSets "
                  "ignored" in w
               for w in result.warnings), result.warnings  # fmt: skip


# --------------------------------------------------------------------------------------------
# The Kubernetes provider's settings
# --------------------------------------------------------------------------------------------


def test_kubeconfig_and_context_reach_the_explicit_kubernetes_provider() -> None:
    result = render_variant(
        "staging",
        {
            "cicd:cluster.kubeContext": None,
            "kubernetes:kubeconfig": {"secure": "v1:abc"},
            "kubernetes:context": "acme-nonprod-ci",
        },
    )
    (provider,) = result.of_type(K8S_PROVIDER)
    assert provider.inputs["kubeconfig"] == SECRET  # a secret Output, as the engine stores it
    assert provider.inputs["context"] == "acme-nonprod-ci"
    placeholder = secret_placeholder("kubeconfig")
    assert not [path for path, text in tree(result).items() if placeholder in text]


def test_without_them_the_provider_takes_the_section_context_only() -> None:
    (provider,) = rendered("prod").of_type(K8S_PROVIDER)
    assert provider.inputs["context"] == "acme-prod"
    assert "kubeconfig" not in provider.inputs


def test_the_platform_provider_takes_them_too() -> None:
    config = yaml.safe_load(project_path("platform", "Pulumi.prod.yaml").read_text())["config"]
    config["kubernetes:kubeconfig"] = {"secure": "v1:abc"}
    result = render("prod", project_path("platform"), stack_config=config)
    (provider,) = result.of_type(K8S_PROVIDER)
    assert provider.inputs["kubeconfig"] == SECRET


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        (
            {"kubernetes:kubeconfig": "apiVersion: v1"},
            "Pulumi.prod.yaml: kubernetes:kubeconfig must be set with pulumi config set "
            "--secret, not in plain text (got [secret])",
        ),
        (
            {"kubernetes:context": "acme-prod"},
            "Pulumi.prod.yaml: kubernetes:context is set and so is cicd:cluster.kubeContext: "
            "set the context in one of them",
        ),
        (
            {"cicd:cluster.kubeContext": None, "kubernetes:context": "bad context"},
            "Pulumi.prod.yaml: kubernetes:context must be a kubeconfig context name (letters, "
            "digits and @:/._-) (got bad context)",
        ),
        (
            {"kubernetes:namespace": "webshop-prod"},
            "Pulumi.prod.yaml: kubernetes:namespace is not read by this program (it reads only "
            "context, kubeconfig from kubernetes:)",
        ),
    ],
)
def test_bad_kubernetes_provider_settings_are_one_line_each(
    changes: dict[str, Any], line: str
) -> None:
    assert config_problems("prod", changes) == [line]


@pytest.mark.parametrize(
    ("base_url", "served"),
    [
        ("https://github.example.com/api/v3/", "https://github.example.com/acme/webshop"),
        ("https://api.github.com/", "https://github.com/acme/webshop/"),
        ("https://api.acme.ghe.com", "https://acme.ghe.com/acme/webshop"),
    ],
)
def test_in_cluster_takes_the_repository_url_on_the_provider_host(
    tmp_path: Path, base_url: str, served: str
) -> None:
    # Given github:baseUrl (an Enterprise Server, github.com's API, a ghe.com tenant), the scale
    # set must register with the repository on that host's web URL, and nothing else.
    root = copy_project(tmp_path)
    platform_file = root / "platform" / "Pulumi.prod.yaml"
    document = yaml.safe_load(platform_file.read_text())
    document["config"]["cicd-platform:runners"] = {**ARC_PROD, "githubConfigUrl": served}
    platform_file.write_text(yaml.safe_dump(document, sort_keys=False))
    config = variant("prod", {**IN_CLUSTER, "github:baseUrl": base_url})
    render("prod", root, stack_config=config)
    # And the same repository on another host is refused, naming the one expected.
    elsewhere = "https://elsewhere.example/acme/webshop"
    document["config"]["cicd-platform:runners"] = {**ARC_PROD, "githubConfigUrl": elsewhere}
    platform_file.write_text(yaml.safe_dump(document, sort_keys=False))
    expected = re.escape(served.rstrip("/"))
    line = rf"registers with {re.escape(elsewhere)} \(\S+\), not {expected}:"
    with pytest.raises(Exception, match=line):
        render("prod", root, stack_config=config)
