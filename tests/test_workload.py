"""The workload and its canary release, per environment."""

from __future__ import annotations

from typing import Any

import pytest

from render.engine import Rendered
from render.tree import kubernetes_objects
from tests import validators
from tests.conftest import config_problems, render_variant, rendered, stack_config


def kinds(result: Rendered) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in kubernetes_objects(result).values():
        out.setdefault(obj["kind"], []).append(obj)
    return out


def expected_steps(stack: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for step in stack_config(stack)["cicd:canary"]["steps"]:
        steps.append({"setWeight": step["weight"]})
        if step["weight"] < 100:
            steps.append({"pause": {"duration": step["pause"]} if "pause" in step else {}})
    return steps


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_rollout_steps_equal_the_config(stack: str) -> None:
    (rollout,) = kinds(rendered(stack))["Rollout"]
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["steps"] == expected_steps(stack)
    assert canary["stableService"] == "webshop"
    assert canary["canaryService"] == "webshop-canary"


def test_prod_waits_for_a_person_at_50_percent() -> None:
    (rollout,) = kinds(rendered("prod"))["Rollout"]
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert steps[4:6] == [{"setWeight": 50}, {"pause": {}}]


def test_analysis_is_wired_to_the_canary_service_and_health_path() -> None:
    objects = kinds(rendered("prod"))
    (rollout,) = objects["Rollout"]
    (template,) = objects["AnalysisTemplate"]
    analysis = rollout["spec"]["strategy"]["canary"]["analysis"]
    assert analysis["templates"] == [{"templateName": template["metadata"]["name"]}]
    assert analysis["startingStep"] == 1
    args = {a["name"]: a["value"] for a in analysis["args"]}
    assert args == {"canary-service": "webshop-canary", "namespace": "webshop-prod", "port": "8080"}
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert metrics["health"]["provider"]["web"]["url"].endswith(":{{args.port}}/healthz")
    assert metrics["health"]["failureLimit"] == 2
    assert "prometheus" in metrics["success-rate"]["provider"]  # prod configures Prometheus
    staging_metrics = kinds(rendered("staging"))["AnalysisTemplate"][0]["spec"]["metrics"]
    assert [m["name"] for m in staging_metrics] == ["health"]


def test_a_failed_analysis_aborts_on_its_own() -> None:
    (rollout,) = kinds(rendered("prod"))["Rollout"]
    spec = rollout["spec"]
    assert spec["progressDeadlineAbort"] is True
    # Background analysis from step 1: any failed metric past failureLimit aborts the rollout.
    assert spec["strategy"]["canary"]["analysis"]["startingStep"] == 1


def test_nginx_traffic_routing_on_and_off() -> None:
    prod = kinds(rendered("prod"))
    assert prod["Rollout"][0]["spec"]["strategy"]["canary"]["trafficRouting"] == {
        "nginx": {"stableIngress": "webshop"}
    }
    assert prod["Ingress"][0]["spec"]["rules"][0]["host"] == "webshop.acme.example"
    staging = kinds(rendered("staging"))
    assert "trafficRouting" not in staging["Rollout"][0]["spec"]["strategy"]["canary"]
    # The environment's Ingress exists either way; only prod's canary splits traffic on it.
    assert [i["metadata"]["name"] for i in staging["Ingress"]] == ["webshop"]
    (rollout,) = rendered("prod").of_type("kubernetes:argoproj.io/v1alpha1:Rollout")
    assert "webshop-ingress" in rollout.options["depends_on"]


def test_few_replicas_without_routing_warn() -> None:
    warned = render_variant("staging", {"cicd:canary.steps[0].weight": 10})
    assert any("needs at least 10 replicas" in w for w in warned.warnings), warned.warnings
    assert rendered("staging").warnings == []


def test_rollout_objects_pass_the_argo_rollouts_models() -> None:
    argo = [
        obj
        for stack in ("staging", "prod")
        for obj in kubernetes_objects(rendered(stack)).values()
        if obj["kind"] in validators.ARGO_KINDS
    ]
    assert {o["kind"] for o in argo} == {"Rollout", "AnalysisTemplate"}
    assert validators.argo_models(argo) == []


def test_argo_model_check_can_fail() -> None:
    (rollout,) = kinds(rendered("prod"))["Rollout"]
    broken = {**rollout, "spec": {**rollout["spec"], "replicas": "four"}}
    assert validators.argo_models([broken])


def test_deployment_when_canary_is_off() -> None:
    dev = kinds(rendered("dev"))
    assert "Rollout" not in dev and "AnalysisTemplate" not in dev
    (deployment,) = dev["Deployment"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    off = kinds(render_variant("staging", {"cicd:canary.enabled": False}))
    assert "Rollout" not in off and "Deployment" in off


@pytest.mark.parametrize(("stack", "kind"), [("dev", "Deployment"), ("prod", "Rollout")])
def test_pipeline_owns_the_image_after_creation(stack: str, kind: str) -> None:
    """The workload is created with its image; later updates leave the container list alone
    (docs/field-ownership.md). The path has no array index: pulumi-kubernetes' server-side
    apply cannot follow one (``containers[0].image`` was silently not ignored, issue 22)."""
    result = rendered(stack)
    (workload,) = [r for r in result.resources if r.type.endswith(f":{kind}")]
    (container,) = workload.inputs["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "webshop"
    assert container["image"].startswith("ghcr.io/acme/webshop")
    assert workload.options["ignore_changes"] == ["spec.template.spec.containers"]
    assert all("[" not in path for path in workload.options["ignore_changes"])
    # No second field manager for the image: a Rollout's container list is one atomic field.
    assert not [r for r in result.resources if r.type.endswith("Patch")]


def test_controller_is_not_installed_by_an_environment_stack(stack: str) -> None:
    # Cluster-scoped: the platform project installs it (tests/test_platform.py).
    result = rendered(stack)
    assert not result.of_type("kubernetes:helm.sh/v3:Release")
    # pulumi up waits until Argo Rollouts reports the Rollout Healthy.
    for rollout in result.of_type("kubernetes:argoproj.io/v1alpha1:Rollout"):
        annotations = rollout.inputs["metadata"]["annotations"]
        assert annotations["pulumi.com/waitFor"] == "jsonpath={.status.phase}=Healthy"


def test_install_controller_from_an_environment_is_refused_with_the_way_out() -> None:
    lines = config_problems("prod", {"cicd:canary.installController": True})
    assert any(
        line.startswith("Pulumi.prod.yaml: cicd:canary.installController must be false")
        and "platform/Pulumi.<cluster>.yaml" in line
        for line in lines
    ), lines


def test_pdb_and_labels(stack: str) -> None:
    objects = kinds(rendered(stack))
    (pdb,) = objects["PodDisruptionBudget"]
    replicas = stack_config(stack)["cicd:app"]["replicas"]
    assert replicas >= 1
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    for obj in objects.get("Rollout", []) + objects.get("Deployment", []):
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "webshop"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"cicd:canary.steps[1].weight": 10}, "cicd:canary.steps[1].weight must be greater than"),
        (
            {"cicd:canary.steps[0].weight": 0},
            "cicd:canary.steps[0].weight must be between 1 and 100",
        ),
        ({"cicd:canary.steps[0].pause": "soon"}, "cicd:canary.steps[0].pause must be a duration"),
        ({"cicd:app.healthPath": None}, "cicd:app.healthPath is required when canary analysis"),
        ({"cicd:canary.steps": []}, "cicd:canary.steps must list at least one step"),
    ],
)
def test_bad_canary_config(changes: dict[str, Any], expected: str) -> None:
    lines = config_problems("prod", changes)
    assert any(f"Pulumi.prod.yaml: {expected}" in line for line in lines), lines
