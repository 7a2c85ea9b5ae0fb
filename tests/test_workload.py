"""The workload and its canary release, per environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.config import ConfigError
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
    # Staging rehearses prod: the same metrics, limits and conditions, its own Prometheus.
    staging_metrics = kinds(rendered("staging"))["AnalysisTemplate"][0]["spec"]["metrics"]

    def without_address(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for metric in metrics:
            provider = {k: dict(v) for k, v in metric["provider"].items()}
            provider.get("prometheus", {}).pop("address", None)
            out.append({**metric, "provider": provider})
        return out

    assert without_address(staging_metrics) == without_address(template["spec"]["metrics"])


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
    # Staging splits real traffic the same way (it rehearses prod); without canary.nginx the
    # Ingress stays and weights fall back to pod counts.
    staging = kinds(rendered("staging"))
    assert staging["Rollout"][0]["spec"]["strategy"]["canary"]["trafficRouting"] == {
        "nginx": {"stableIngress": "webshop"}
    }
    off = kinds(render_variant("staging", {"cicd:canary.nginx": None}))
    assert "trafficRouting" not in off["Rollout"][0]["spec"]["strategy"]["canary"]
    assert [i["metadata"]["name"] for i in off["Ingress"]] == ["webshop"]
    (rollout,) = rendered("prod").of_type("kubernetes:argoproj.io/v1alpha1:Rollout")
    assert "webshop-ingress" in rollout.options["depends_on"]


def test_few_replicas_without_routing_warn() -> None:
    warned = render_variant(
        "staging", {"cicd:canary.steps[0].weight": 10, "cicd:canary.nginx": None}
    )
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


def _success_rate(result: Rendered) -> dict[str, Any]:
    (template,) = kinds(result)["AnalysisTemplate"]
    return next(m for m in template["spec"]["metrics"] if m["name"] == "success-rate")


def test_success_rate_waits_for_two_scrapes_and_leaves_no_data_inconclusive() -> None:
    metric = _success_rate(rendered("prod"))
    # 30s scrape interval (platform/Pulumi.prod.yaml): 10s of discovery and 3 intervals before
    # the first measurement, rate() over 4 intervals by default.
    assert metric["initialDelay"] == "100s"
    assert "[120s]" in metric["provider"]["prometheus"]["query"]
    assert "vector(0)" not in metric["provider"]["prometheus"]["query"]
    assert metric["inconclusiveLimit"] == 3
    assert metric["consecutiveErrorLimit"] == 4
    assert metric["successCondition"].startswith("len(result) > 0 && !isNaN(result[0])")
    assert metric["failureCondition"].startswith("len(result) > 0 && !isNaN(result[0])")
    slower = _success_rate(
        render_variant(
            "prod",
            {"cicd:canary.analysis.rateWindow": "5m", "cicd:canary.analysis.inconclusiveLimit": 6},
        )
    )
    assert "[300s]" in slower["provider"]["prometheus"]["query"]
    assert slower["inconclusiveLimit"] == 6


def test_scrape_follows_the_platform_discovery() -> None:
    prod = kinds(rendered("prod"))  # platform prod: prometheus-operator
    (monitor,) = prod["ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "webshop"}}
    assert all("annotations" not in s["metadata"] for s in prod["Service"])
    staging = kinds(rendered("staging"))  # platform nonprod: annotations
    assert "ServiceMonitor" not in staging
    for service in staging["Service"]:
        assert service["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8080",
            "prometheus.io/path": "/metrics",
        }
    # A separate metrics port becomes a Service port of its own.
    apart = kinds(render_variant("staging", {"cicd:canary.analysis.metricsPort": 9464}))
    (canary,) = [s for s in apart["Service"] if s["metadata"]["name"] == "webshop-canary"]
    assert {"name": "metrics", "port": 9464, "targetPort": 9464, "protocol": "TCP"} in canary[
        "spec"
    ]["ports"]
    assert canary["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    # No Prometheus address: nothing scraped, no annotations.
    unscraped = kinds(render_variant("staging", {"cicd:canary.analysis.prometheusAddress": None}))
    assert all("annotations" not in s["metadata"] for s in unscraped["Service"])


SERVICE_MONITOR_CRD = (
    Path(__file__).parent / "fixtures" / "prometheus-operator" / "servicemonitor-crd.yaml"
)


def _service_monitor_errors(obj: dict[str, Any]) -> list[str]:
    """Errors of a ServiceMonitor's spec against the real CRD's schema, unknown fields included."""
    from tests.test_image_policy import _strict

    crd = yaml.safe_load(SERVICE_MONITOR_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = _strict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(obj["spec"])]


def test_the_service_monitor_passes_the_crd_schema() -> None:
    (monitor,) = kinds(rendered("prod"))["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert _service_monitor_errors(monitor) == []
    broken = {**monitor, "spec": {**monitor["spec"], "endpoints": [{"portName": "http"}]}}
    assert _service_monitor_errors(broken)  # the check can fail


def test_a_scrape_the_cluster_does_not_use_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        render_variant("prod", {"cicd:cluster.scrape": "annotations"})
    assert raised.value.lines == (
        "Pulumi.prod.yaml: cicd:cluster.scrape must be prometheus-operator: the platform stack "
        "acme/cicd-platform/prod says its Prometheus uses it (cicd-platform:monitoring.discovery) "
        "(got annotations)",
    )


def test_ingress_nginx_preset_reads_the_controller_counter_of_the_canary() -> None:
    result = render_variant("prod", {"cicd:canary.analysis.metrics": {"preset": "ingress-nginx"}})
    query = _success_rate(result)["provider"]["prometheus"]["query"]
    assert query.startswith("(sum(rate(nginx_ingress_controller_requests{")
    assert 'ingress="{{args.stable-ingress}}",canary!=""' in query
    assert 'status!~"5.."' in query
    objects = kinds(result)
    assert "ServiceMonitor" not in objects  # the controller is scraped, not the app
    args = objects["Rollout"][0]["spec"]["strategy"]["canary"]["analysis"]["args"]
    assert {"name": "stable-ingress", "value": "webshop"} in args


def test_ingress_nginx_preset_needs_traffic_routing() -> None:
    problems = config_problems(
        "staging",
        {"cicd:canary.analysis.metrics": {"preset": "ingress-nginx"}, "cicd:canary.nginx": None},
    )
    assert any(
        "cicd:canary.analysis.metrics.preset ingress-nginx needs canary.nginx" in p
        for p in problems
    ), problems


def test_a_rate_window_shorter_than_two_scrapes_is_refused() -> None:
    # The platform scrapes every 30s: a 45s window can hold a single sample, so rate() would be
    # empty for good and every measurement inconclusive.
    with pytest.raises(ConfigError) as raised:
        render_variant("prod", {"cicd:canary.analysis.rateWindow": "45s"})
    assert raised.value.lines == (
        "Pulumi.prod.yaml: cicd:canary.analysis.rateWindow must be at least two scrape intervals "
        "of the cluster's Prometheus (60s) (got 45s)",
    )
