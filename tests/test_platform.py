"""The platform project (platform/): cluster-scoped parts, one stack per cluster, and how the
environment stacks read it through a StackReference resolved from its own render."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel

from components.config import ConfigError
from render.engine import PROJECT_DIR, Rendered, render
from render.stackref import StackReferenceError
from render.tree import kubernetes_objects, tree
from tests import validators
from tests.conftest import STACKS_DIR, config_problems, copy_project, render_variant, rendered

PLATFORM_DIR: Final = PROJECT_DIR / "platform"
PLATFORM_STACKS: Final = STACKS_DIR / "platform"
"""The fixture's platform stack files (examples/webshop/platform)."""
CLUSTERS: Final = ("nonprod", "prod")
RELEASE: Final = "kubernetes:helm.sh/v3:Release"


@cache
def platform(stack: str) -> Rendered:
    return render(stack, PLATFORM_DIR, stacks_dir=PLATFORM_STACKS)


def platform_variant(stack: str, changes: Mapping[str, Any]) -> Rendered:
    config = yaml.safe_load((PLATFORM_STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key, value in changes.items():
        section, _, field = key.partition(".")
        config.setdefault(section, {})[field] = value
    return render(stack, PLATFORM_DIR, stack_config=config)


def k8s(result: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(result).values() if o["kind"] == kind]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_controllers_install_into_their_own_psa_labelled_namespaces(cluster: str) -> None:
    result = platform(cluster)
    releases = {r.inputs["chart"]: r for r in result.of_type(RELEASE)}
    assert set(releases) == {"argo-rollouts", "policy-controller"}
    namespaces = {n["metadata"]["name"]: n["metadata"]["labels"] for n in k8s(result, "Namespace")}
    assert namespaces["argo-rollouts"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["cosign-system"]["pod-security.kubernetes.io/enforce"] == "baseline"
    for labels in namespaces.values():
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    for release in releases.values():
        # The namespace is ours (labelled), created first; Helm must not create a bare one.
        assert release.inputs["createNamespace"] is False
        assert release.inputs["namespace"] in namespaces
        assert any(d.endswith("-namespace") for d in release.options["depends_on"])
        assert release.inputs["atomic"] is True
    assert releases["argo-rollouts"].inputs["repositoryOpts"]["repo"] == (
        "https://argoproj.github.io/argo-helm"
    )
    assert validators.kubernetes_strict(k8s(result, "Namespace")) == []


def test_policy_controller_can_be_left_out() -> None:
    result = platform_variant("prod", {"cicd-platform:policyController.enabled": False})
    assert [r.inputs["chart"] for r in result.of_type(RELEASE)] == ["argo-rollouts"]
    assert result.outputs.get("policyControllerNamespace") is None  # unset outputs are omitted
    assert result.warnings == []
    kept = platform_variant(
        "prod",
        {
            "cicd-platform:policyController.enabled": False,
            "cicd-platform:policyController.chartVersion": "0.6.6",
        },
    )
    assert [r.inputs["chart"] for r in kept.of_type(RELEASE)] == ["argo-rollouts"]
    assert kept.warnings == [
        "cicd-platform:policyController: chartVersion ignored while enabled is false "
        "(kept for when it is switched back on)"
    ]


def test_github_oidc_is_on_with_its_audience_and_repositories_or_off() -> None:
    """The trust's audience and repositories are part of its type: on without them is refused,
    off with them set aside (and warned)."""
    off = platform_variant(
        "nonprod",
        {"cicd-platform:githubOidc.enabled": False, "cicd-platform:githubOidc.audience": "x"},
    )
    assert off.outputs.get("githubOidc") is None
    assert off.warnings == [
        "cicd-platform:githubOidc: audience, repositories ignored while enabled is false "
        "(kept for when it is switched back on)"
    ]


def test_outputs_are_the_facts_environments_read() -> None:
    outputs = platform("nonprod").outputs
    assert outputs["ingressClassName"] == "nginx"
    assert outputs["ingressNamespace"] == "ingress-nginx"
    assert outputs["monitoringNamespace"] == "monitoring"
    assert outputs["rolloutsNamespace"] == "argo-rollouts"
    assert outputs["githubOidc"] == {
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "https://k8s-nonprod.acme.example",
        "usernamePrefix": "github:",
    }
    assert platform("prod").outputs.get("githubOidc") is None
    # How the cluster's Prometheus finds targets (docs/analysis.md), per cluster.
    assert outputs["monitoring"] == {
        "discovery": "annotations",
        "scrapeInterval": "30s",
        "serviceMonitorLabels": {},
    }
    assert platform("prod").outputs["monitoring"] == {
        "discovery": "prometheus-operator",
        "scrapeInterval": "30s",
        "serviceMonitorLabels": {"release": "kube-prometheus-stack"},
    }


def _authentication(result: Rendered) -> dict[str, Any]:
    files = tree(result)
    document: dict[str, Any] = yaml.safe_load(
        files["cluster-admin/authentication-configuration.yaml"]
    )
    return document


def _claims_pass(jwt: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    cel = celpy.Environment()
    activation = {"claims": json_to_cel(dict(claims))}
    results = [
        cel.program(cel.compile(rule["expression"])).evaluate(activation)
        for rule in jwt["claimValidationRules"]
    ]
    return all(isinstance(r, celpy.celtypes.BoolType) and bool(r) for r in results)


def test_authentication_configuration_trusts_only_this_repository_s_environments() -> None:
    document = _authentication(platform("nonprod"))
    assert document["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert document["kind"] == "AuthenticationConfiguration"
    (jwt,) = document["jwt"]
    assert jwt["issuer"]["url"] == "https://token.actions.githubusercontent.com"
    assert jwt["issuer"]["audiences"] == ["https://k8s-nonprod.acme.example"]
    assert jwt["claimMappings"]["username"] == {"claim": "sub", "prefix": "github:"}
    assert "groups" not in jwt["claimMappings"]
    staging = {
        "repository": "acme/webshop",
        "environment": "staging",
        "sub": "repo:acme/webshop:environment:staging",
    }
    assert _claims_pass(jwt, staging)
    assert not _claims_pass(jwt, {**staging, "repository": "acme/other"})
    branch = {"repository": "acme/webshop", "sub": "repo:acme/webshop:ref:refs/heads/main"}
    assert not _claims_pass(jwt, branch)
    assert "cluster-admin/authentication-configuration.yaml" not in tree(platform("prod"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"cicd-platform:githubOidc.audience": None},
            "Pulumi.nonprod.yaml: cicd-platform:githubOidc.audience is required when enabled",
        ),
        (
            {"cicd-platform:githubOidc.repositories": []},
            "Pulumi.nonprod.yaml: cicd-platform:githubOidc.repositories must list at least one",
        ),
        (
            {"cicd-platform:cluster.name": "prod"},
            "Pulumi.nonprod.yaml: cicd-platform:cluster.name must match the stack name 'nonprod'",
        ),
        (
            {"cicd-platform:monitoring.discovery": "consul"},
            "Pulumi.nonprod.yaml: cicd-platform:monitoring.discovery must be one of",
        ),
        (
            {"cicd-platform:rollouts.chartVersoin": "1"},
            "Pulumi.nonprod.yaml: cicd-platform:rollouts.chartVersoin is not a known key; "
            "did you mean chartVersion?",
        ),
        (
            {"cicd-platform:rollouts.chartVersion": "2.40"},
            "Pulumi.nonprod.yaml: cicd-platform:rollouts.chartVersion must be a semantic version",
        ),
        (
            {"cicd-platform:policyController.chartVersion": "v0.6.5"},
            "Pulumi.nonprod.yaml: cicd-platform:policyController.chartVersion must be a semantic",
        ),
        (
            {"cicd-platform:githubOidc.usernamePrefix": "github"},
            "Pulumi.nonprod.yaml: cicd-platform:githubOidc.usernamePrefix must end with ':'",
        ),
    ],
)
def test_bad_platform_config_names_the_file_and_key(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        platform_variant("nonprod", changes)
    assert any(line.startswith(expected) for line in caught.value.lines), caught.value.lines


def platform_problems(stack: str, keys: Mapping[str, Any]) -> list[str]:
    """The error lines of a platform stack file with whole ``keys`` set (any namespace)."""
    config = yaml.safe_load((PLATFORM_STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    with pytest.raises(ConfigError) as caught:
        render(stack, PLATFORM_DIR, stack_config={**config, **keys})
    return list(caught.value.lines)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        # One line, with the value: no "is required" contradicting "must be a mapping".
        (
            {"cicd-platform:cluster": "nonprod"},
            ["Pulumi.nonprod.yaml: cicd-platform:cluster must be a mapping (got nonprod)"],
        ),
        (
            {"cicd-platform:rollouts": {"secure": "v1:Zm9yLXRlc3Rz"}},
            [
                "Pulumi.nonprod.yaml: cicd-platform:rollouts must not contain secure values; "
                "secrets are separate keys"
            ],
        ),
        # Of another namespace the platform reads only its Kubernetes provider's kubeconfig and
        # context (tests/test_runners.py): anything else there is a typo or a leftover.
        (
            {"kubernetes:namespace": "acme-nonprod"},
            [
                "Pulumi.nonprod.yaml: kubernetes:namespace is not read by this program (it reads "
                "only context, kubeconfig from kubernetes:)"
            ],
        ),
        (
            {"cicd:cluster": {"name": "nonprod"}},
            [
                "Pulumi.nonprod.yaml: cicd:cluster is in the namespace 'cicd', which this "
                "program does not read (its settings are under cicd-platform:)"
            ],
        ),
        (
            {"cicd-platform:grafanaToken": "hunter2-value"},
            [
                "Pulumi.nonprod.yaml: cicd-platform:grafanaToken looks like a secret but is in "
                "plain text: remove it from the file, rotate it, and set it with pulumi config "
                "set --secret"
            ],
        ),
        (
            {"cicd-platform:rollout": {"namespace": "argo"}},
            [
                "Pulumi.nonprod.yaml: cicd-platform:rollout is not a known key; "
                "did you mean rollouts?"
            ],
        ),
    ],
)
def test_platform_stack_file_is_read_like_an_environment_stack_file(
    keys: dict[str, Any], expected: list[str]
) -> None:
    # Given a platform stack file with one wrong key, then exactly one line names it, as the
    # environment stacks say it (one reader for both: components/config/loading.py).
    assert platform_problems("nonprod", keys) == expected


# --------------------------------------------------------------------------------------------
# Environment stacks read the platform through the StackReference
# --------------------------------------------------------------------------------------------


def test_environments_take_cluster_facts_from_their_platform_stack(tmp_path: Path) -> None:
    # Given a copy of the repository whose nonprod platform names other ingress and
    # monitoring facts, and whose staging canary reads Prometheus, when staging renders there,
    # then it follows them: nothing repeated.
    copy_project(tmp_path)
    platform_file = tmp_path / "platform" / "Pulumi.nonprod.yaml"
    config = yaml.safe_load(platform_file.read_text())
    config["config"]["cicd-platform:cluster"].update(
        {"ingressClassName": "nginx-internal", "monitoringNamespace": "observability"}
    )
    platform_file.write_text(yaml.safe_dump(config))
    staging_file = tmp_path / "Pulumi.staging.yaml"
    staging = yaml.safe_load(staging_file.read_text())
    staging["config"]["cicd:canary"]["analysis"] = {
        "prometheusAddress": "http://prometheus.observability.svc:9090"
    }
    staging_file.write_text(yaml.safe_dump(staging))
    result = render("staging", tmp_path)
    (ingress,) = k8s(result, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx-internal"
    sources = {
        policy["metadata"]["name"]: [
            peer.get("namespaceSelector", {})
            .get("matchLabels", {})
            .get("kubernetes.io/metadata.name")
            for peer in policy["spec"]["ingress"][0]["from"]
        ]
        for policy in k8s(result, "NetworkPolicy")
        if "Ingress" in policy["spec"]["policyTypes"] and policy["spec"].get("ingress")
    }
    # Prometheus, from the platform's monitoring namespace, only through the scrape rule.
    assert sources["allow-prometheus-scrape"] == ["observability"]
    assert "observability" not in sources["allow-app-ingress"]
    assert "monitoring" not in {s for peers in sources.values() for s in peers}


def test_an_unknown_platform_stack_is_an_error() -> None:
    with pytest.raises(StackReferenceError, match=r"platform/Pulumi.qa.yaml does not render"):
        render_variant("staging", {"cicd:cluster.platformStack": "acme/cicd-platform/qa"})
    lines = config_problems("staging", {"cicd:cluster.platformStack": "nonprod"})
    assert any("cicd:cluster.platformStack must be a fully qualified" in line for line in lines)


def test_environment_stacks_hold_nothing_cluster_scoped_but_their_admission_policy(
    stack: str,
) -> None:
    cluster_scoped = {
        path.split("/", 1)[1].split("-", 1)[0]
        for path in kubernetes_objects(rendered(stack))
        if path.startswith("_cluster/")
    }
    # The environment's own admission policies: the deployer's image-only rule, and (staging,
    # prod) the signed-image ClusterImagePolicy scoped to images of this app's repository.
    expected = {"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    if stack in ("staging", "prod"):  # deploy.imagePolicy defaults on where approvals are
        expected.add("ClusterImagePolicy")
    assert cluster_scoped == expected


@pytest.mark.subprocess
def test_render_command_renders_a_platform_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "render",
            "--project",
            "platform",
            "nonprod",
            "--out",
            str(tmp_path),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
    )
    assert done.returncode == 0, done.stderr
    assert "stack nonprod:" in done.stdout
    assert (tmp_path / "kubernetes" / "_cluster" / "Namespace-argo-rollouts.yaml").is_file()
    assert (tmp_path / "cluster-admin" / "authentication-configuration.yaml").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "render", "--project", "platform", "staging"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "unknown stack 'staging'" in bad.stderr
