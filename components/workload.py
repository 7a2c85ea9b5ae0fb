"""The application workload and how it is released.

Canary on: an Argo Rollouts ``Rollout`` whose ``strategy.canary.steps`` come from stack config
(``setWeight`` then ``pause``; a pause without duration waits for a person, or the prod workflow,
to promote), stable and canary Services, and an ``AnalysisTemplate`` run in the background from the
first step. The analysis probes the canary Service's health path (which must answer JSON
``{"status": "ok"}``) and, where a Prometheus address is configured, the success rate of the
canary's real requests, from the metric contract (docs/analysis.md): the app's own counter,
scraped through a ServiceMonitor or the Services' scrape annotations as the platform stack says,
or the NGINX ingress controller's. When a metric fails more than ``failureLimit`` times the
analysis fails, the Rollout aborts on its own and all traffic goes back to the stable ReplicaSet;
no data is inconclusive, never a failure (see :func:`analysis_metrics`).

Without traffic routing, Argo Rollouts approximates weights by pod counts; with the cluster's
traffic router (the platform's choice: ingress-nginx, Traefik or Gateway API) it splits requests
exactly on the environment's one route (components/ingress.py, components/traffic_router.py). The
controller itself is cluster-scoped: the platform project
installs it (components/platform.py).

Canary off: a Deployment with a rolling update (maxUnavailable 0).

Either way: recommended labels, requests and limits, liveness and readiness probes on the health
path, a restricted security context (non-root, read-only root file system, no privilege
escalation, all capabilities dropped, seccomp RuntimeDefault) and a PodDisruptionBudget that
never blocks a node drain.

Who owns the image (issue 12 item 7, issue 22 items 1 and 3; docs/field-ownership.md). The
stack creates the workload with its image; from then on the deploy workflows own the image and a
later ``pulumi up`` must neither roll a release back nor fail on a field-manager conflict. Hence
``ignore_changes`` on the whole container list, ``spec.template.spec.containers``, of both kinds:

- that path has no array index, so pulumi-kubernetes' server-side apply honours it
  (``handleSSAIgnoreFields``, provider/pkg/await/await.go, v4.x: the path is split on dots, array
  indexes are not followed, so ``containers[0].image`` was silently not ignored). On an update it
  drops the list from the request where another manager owns it and Pulumi does not, else it
  sends the live list back: either way the deployed image stays and nothing conflicts;
- a Rollout's containers are one atomic field (the Argo Rollouts CRD, manifests/crds/
  rollout-crd.yaml v1.8.3, has no ``x-kubernetes-list-type: map`` there), so no second field
  manager can own just the image: the former image-seeding ``RolloutPatch`` conflicted with the
  Rollout's own apply on the first ``pulumi up``, and forced it would have owned the list and
  dropped probes, resources, security context and mounts. The workflows' JSON patch of the
  image (an update, manager ``kubectl-patch``) takes the whole list over, which is fine: the
  stack no longer sends it;
- the price: a change of container settings (resources, probes, port) in stack config reaches
  a live workload only through the procedure in docs/field-ownership.md, not by ``pulumi up``
  alone. Everything outside the container list (pod security context, volumes, service
  account, labels, strategy, replicas) is still applied.

Readiness: Pulumi's Kubernetes provider has no built-in notion of a healthy Rollout, so the
Rollout carries ``pulumi.com/waitFor: jsonpath={.status.phase}=Healthy`` (with a timeout):
the first ``pulumi up`` finishes only once Argo Rollouts reports the Rollout Healthy, and fails
(rather than hanging) when it does not. An update that changes the Rollout waits the same way, so
changing it while a canary is paused waits for that release (or times out): change the Rollout
between releases. ``rollbackWindow`` makes going back to one of the last
revisions a fast-track (no steps, no analysis): that is how the workflows roll back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components.ingress import AppIngress
from components.namespace import recommended_labels
from components.release import ReleasePlan
from components.vocabulary import APP_PORT_NAME, MetricsPreset, ScrapeDiscovery

meta = k8s.meta.v1
core = k8s.core.v1

ARGO_API: Final = "argoproj.io/v1alpha1"
CONTAINERS_PATH: Final = "spec.template.spec.containers"
"""What the stack sets on creation only (see the module docstring)."""
WAIT_SECONDS: Final = 900
DISCOVERY_SECONDS: Final = 10
"""Longest a new pod waits to become a scrape target after Prometheus' service discovery sees it
(two 5s batching steps, see :attr:`AnalysisTiming.initial_delay_seconds`)."""


@dataclass(frozen=True)
class RequestMetrics:
    """The metric contract (docs/analysis.md): which request counter the success rate reads."""

    preset: MetricsPreset
    metric: str
    status_label: str


@dataclass(frozen=True)
class ScrapeArgs:
    """How the cluster's Prometheus scrapes the app (``app`` preset): the platform's discovery,
    and where the app serves its metrics."""

    discovery: ScrapeDiscovery
    port: int
    path: str
    interval: pulumi.Input[str]
    """The platform's scrape interval (``cicd-platform:monitoring.scrapeInterval``)."""
    monitor_labels: pulumi.Input[dict[str, str]]
    """Labels the cluster's Prometheus selects ServiceMonitors by."""


@dataclass(frozen=True)
class AnalysisTiming:
    """When the success rate can be measured, from the cluster's scrape interval."""

    scrape_interval_seconds: int
    rate_window_seconds: int

    @property
    def initial_delay_seconds(self) -> int:
        """Wait before the first success-rate measurement: Prometheus' discovery latency plus
        three scrape intervals (100s at 30s).

        ``rate()`` needs two samples of a series inside its window, so a new canary pod has a
        rate only after its second scrape. Before the first one, Prometheus must see the pod:
        its discovery manager passes new targets on at most every 5s (discovery/manager.go,
        ``updatert``) and its scrape manager applies them on a 5s ticker (scrape/manager.go,
        ``reloader``), so up to :data:`DISCOVERY_SECONDS`. Then one interval to the first
        scrape (Prometheus spreads targets over the interval), one to the second, and one of
        margin. A measurement earlier than that finds no data, which is inconclusive, never a
        failure (tests/analysis/ measures exactly that), so the delay saves inconclusive
        measurements rather than being the only guard against a false abort.
        """
        return DISCOVERY_SECONDS + 3 * self.scrape_interval_seconds


@dataclass(frozen=True)
class AnalysisArgs:
    interval: str
    failure_limit: int
    success_rate: float
    prometheus_address: str | None
    inconclusive_limit: int
    consecutive_error_limit: int
    requests: RequestMetrics
    timing: pulumi.Input[AnalysisTiming]
    """From the platform's scrape interval (an Output of the StackReference)."""


@dataclass(frozen=True)
class CanaryArgs:
    """Canary release settings; ``analysis`` None means steps only."""

    plan: ReleasePlan
    rollback_window: int
    analysis: AnalysisArgs | None
    scrape: ScrapeArgs | None
    """Where Prometheus scrapes the app's own metrics (``app`` preset); None: not scraped."""
    routing: AppIngress | None
    """The environment's route when the cluster's router splits the canary's requests (its
    ``traffic_routing``); None: weights by pod count (components/traffic_router.py)."""


@dataclass(frozen=True)
class WorkloadArgs:
    """Inputs of the app workload. ``canary`` None means a plain Deployment."""

    namespace: pulumi.Input[str]
    app: str
    environment: str
    image: pulumi.Input[str]
    port: int
    health_path: str | None
    replicas: int
    requests: dict[str, str]
    limits: dict[str, str]
    service_account: str
    step_deadline_seconds: int
    canary: CanaryArgs | None


def restricted_security_context() -> dict[str, Any]:
    """Container security context that passes the ``restricted`` Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_template(args: WorkloadArgs, labels: dict[str, str]) -> Any:
    """The pod template, with the stack's image (applied on creation only: CONTAINERS_PATH)."""
    container: dict[str, Any] = {
        "name": args.app,
        "image": args.image,
        "ports": [{"name": APP_PORT_NAME, "containerPort": args.port, "protocol": "TCP"}],
        "resources": {"requests": args.requests, "limits": args.limits},
        "securityContext": restricted_security_context(),
        # A read-only root file system still needs somewhere to write temporary files.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if args.health_path:
        probe = {"httpGet": {"path": args.health_path, "port": "http"}, "periodSeconds": 10}
        container["readinessProbe"] = {**probe, "failureThreshold": 3}
        container["livenessProbe"] = {**probe, "failureThreshold": 6, "initialDelaySeconds": 10}
    return {
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": args.service_account,
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        },
    }


def success_rate_query(requests: RequestMetrics, window_seconds: int) -> str:
    """Share of the canary's requests that were not 5xx over the rate window.

    ``app``: the app's counter on the canary Service's pods (``namespace`` and ``service`` are
    the target labels both the kubernetes-service-endpoints job of a plain Prometheus and a
    ServiceMonitor give). ``ingress-nginx``: the controller's counter of the app's Ingress, only
    the requests it routed to the canary upstream (``canary`` is the alternative upstream's
    name, empty for the stable one: ingress-nginx rootfs/etc/nginx/lua/monitor.lua).

    No series (nothing scraped yet, a pod too new for ``rate()``) gives an empty result, no
    requests give 0/0 = NaN: both are "no data", which the conditions below leave inconclusive.
    Only 5xx is a rate of 0 (the ``or`` below), not "no data".
    There is deliberately no ``or vector(0)``: a canary that cannot be measured is not a canary
    that fails. tests/test_promql.py runs it with promtool, tests/analysis/ against Prometheus.
    """
    if requests.preset is MetricsPreset.INGRESS_NGINX:
        selector = 'namespace="{{args.namespace}}",ingress="{{args.stable-ingress}}",canary!=""'
    else:
        selector = 'namespace="{{args.namespace}}",service="{{args.canary-service}}"'
    window = f"{window_seconds}s"
    good = f'{selector},{requests.status_label}!~"5.."'
    total = f"sum(rate({requests.metric}{{{selector}}}[{window}]))"
    # A canary answering only 5xx has no series of good requests at all: "or total * 0" makes
    # that 0 good requests (a rate of 0, a failure) instead of an empty, inconclusive result.
    return f"(sum(rate({requests.metric}{{{good}}}[{window}])) or ({total} * 0)) / {total}"


_MEASURED = "len(result) > 0 && !isNaN(result[0])"


def success_condition(success_rate: float) -> str:
    """Argo's expression for a good measurement: there is a rate, and it is high enough."""
    return f"{_MEASURED} && result[0] >= {success_rate}"


def failure_condition(success_rate: float) -> str:
    """A bad measurement: there is a rate, and it is too low. With both conditions set, Argo
    Rollouts calls a measurement that meets neither (no data) Inconclusive (utils/evaluate/
    evaluate.go, EvaluateResult, v1.8.3)."""
    return f"{_MEASURED} && result[0] < {success_rate}"


def _seconds(value: int) -> str:
    return f"{value}s"


def analysis_metrics(
    analysis: AnalysisArgs, health_path: str, timing: AnalysisTiming
) -> list[dict[str, Any]]:
    """The AnalysisTemplate's metrics: the health probe and, with Prometheus, the success rate.

    How a run ends (Argo Rollouts v1.8.3, the controller of chart 2.40.5; analysis/analysis.go
    assessMetricFailureInconclusiveOrError and rollout/analysis.go setPauseOrAbort): more than
    ``failureLimit`` failed measurements, or more than ``consecutiveErrorLimit`` errors in a row,
    fail the run and the Rollout aborts on its own; more than ``inconclusiveLimit`` measurements
    without data make it Inconclusive, which pauses the Rollout, and the deploy workflow's wait
    aborts a canary paused that way (components/workflows/common.py, WAIT_HEALTHY).
    """
    metrics: list[dict[str, Any]] = [
        {
            "name": "health",
            "interval": analysis.interval,
            "failureLimit": analysis.failure_limit,
            "successCondition": 'result == "ok"',
            "provider": {
                "web": {
                    "url": "http://{{args.canary-service}}.{{args.namespace}}.svc.cluster.local:"
                    "{{args.port}}" + health_path,
                    "jsonPath": "{$.status}",
                    "timeoutSeconds": 5,
                }
            },
        }
    ]
    if analysis.prometheus_address:
        metrics.append(
            {
                "name": "success-rate",
                "initialDelay": _seconds(timing.initial_delay_seconds),
                "interval": analysis.interval,
                "failureLimit": analysis.failure_limit,
                "inconclusiveLimit": analysis.inconclusive_limit,
                "consecutiveErrorLimit": analysis.consecutive_error_limit,
                "successCondition": success_condition(analysis.success_rate),
                "failureCondition": failure_condition(analysis.success_rate),
                "provider": {
                    "prometheus": {
                        "address": analysis.prometheus_address,
                        "query": success_rate_query(analysis.requests, timing.rate_window_seconds),
                    }
                },
            }
        )
    return metrics


SCRAPE_ANNOTATIONS: Final = ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path")
"""The annotations a plain Prometheus' kubernetes-service-endpoints job keeps a Service's
endpoints by and scrapes them at (prometheus-community/helm-charts charts/prometheus/values.yaml,
the default ``scrape_configs``)."""


def scrape_annotations(scrape: ScrapeArgs | None) -> dict[str, str]:
    """The Services' scrape annotations where the cluster's Prometheus reads them, else none."""
    if scrape is None or scrape.discovery is not ScrapeDiscovery.ANNOTATIONS:
        return {}
    scrape_on, port, path = SCRAPE_ANNOTATIONS
    return {scrape_on: "true", port: str(scrape.port), path: scrape.path}


class AppWorkload(pulumi.ComponentResource):
    """Rollout (canary) or Deployment, its Services, analysis and PDB."""

    workload_kind: str
    workload_name: str

    def __init__(
        self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:kubernetes:AppWorkload", name, None, opts)
        labels = recommended_labels(args.app, args.environment, "server")
        selector = {"app.kubernetes.io/name": args.app}
        child = pulumi.ResourceOptions(parent=self)
        self.workload_name = args.app

        # Plain camelCase dicts (the provider's own field names) so that one pod template serves
        # the typed Deployment and the untyped Rollout alike; hence the Any.
        def meta_of(object_name: str, **extra: Any) -> Any:
            return {"name": object_name, "namespace": args.namespace, "labels": labels, **extra}

        scrape = args.canary.scrape if args.canary is not None else None

        def service(suffix: str, object_name: str) -> core.Service:
            ports: list[dict[str, Any]] = [
                {"name": "http", "port": args.port, "targetPort": "http", "protocol": "TCP"}
            ]
            if scrape is not None and scrape.port != args.port:
                ports.append(
                    {
                        "name": "metrics",
                        "port": scrape.port,
                        "targetPort": scrape.port,
                        "protocol": "TCP",
                    }
                )
            service_spec: Any = {"type": "ClusterIP", "selector": selector, "ports": ports}
            annotations = scrape_annotations(scrape)
            return core.Service(
                f"{name}-{suffix}",
                metadata=meta_of(
                    object_name, **({"annotations": annotations} if annotations else {})
                ),
                spec=service_spec,
                # With a canary, the Argo Rollouts controller adds rollouts-pod-template-hash to
                # both Services' selector, which Kubernetes keeps as one field, and so owns all of
                # it: an apply of our selector would be refused on every pulumi up after the
                # first release (the cluster tier's real controller shows it). The selector is
                # therefore the stack's on creation only; the app's labels do not change after.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    ignore_changes=["spec.selector"] if args.canary is not None else None,
                ),
            )

        stable = service("service", args.app)
        pod_labels = {**labels, **selector}
        template = pod_template(args, pod_labels)
        spec: Any
        if args.canary is None:
            self.workload_kind = "Deployment"
            spec = {
                "replicas": args.replicas,
                "revisionHistoryLimit": 5,
                "progressDeadlineSeconds": args.step_deadline_seconds,
                "selector": {"matchLabels": selector},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": template,
            }
            k8s.apps.v1.Deployment(
                f"{name}-deployment",
                metadata=meta_of(args.app),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=[CONTAINERS_PATH]),
            )
        else:
            self.workload_kind = "Rollout"
            canary = args.canary
            canary_service = service("canary-service", f"{args.app}-canary")
            strategy: dict[str, Any] = {
                "canaryService": f"{args.app}-canary",
                "stableService": args.app,
                "steps": canary.plan.argo_steps(),
                "abortScaleDownDelaySeconds": 30,
            }
            depends: list[pulumi.Resource] = [stable, canary_service]
            if canary.routing is not None and canary.routing.traffic_routing is not None:
                depends.append(canary.routing.route)
                strategy["trafficRouting"] = canary.routing.traffic_routing
            if canary.analysis is not None and args.health_path:
                analysis_args = canary.analysis
                health_path = args.health_path
                template_name = f"{args.app}-health"
                template_args: list[dict[str, Any]] = [
                    {"name": "canary-service"},
                    {"name": "namespace"},
                    {"name": "port"},
                ]
                values: list[dict[str, Any]] = [
                    {"name": "canary-service", "value": f"{args.app}-canary"},
                    {"name": "namespace", "value": args.namespace},
                    {"name": "port", "value": str(args.port)},
                ]
                if (
                    analysis_args.requests.preset is MetricsPreset.INGRESS_NGINX
                    and canary.routing is not None
                ):
                    template_args.append({"name": "stable-ingress"})
                    values.append({"name": "stable-ingress", "value": canary.routing.name})
                analysis = k8s.apiextensions.CustomResource(
                    f"{name}-analysis",
                    api_version=ARGO_API,
                    kind="AnalysisTemplate",
                    metadata=meta_of(template_name),
                    spec=pulumi.Output.from_input(analysis_args.timing).apply(
                        lambda timing: {
                            "args": template_args,
                            "metrics": analysis_metrics(analysis_args, health_path, timing),
                        }
                    ),
                    opts=child,
                )
                depends.append(analysis)
                strategy["analysis"] = {
                    "templates": [{"templateName": template_name}],
                    "startingStep": 1,
                    "args": values,
                }
            if scrape is not None and scrape.discovery is ScrapeDiscovery.PROMETHEUS_OPERATOR:
                self._service_monitor(name, args, labels, selector, scrape)
            k8s.apiextensions.CustomResource(
                f"{name}-rollout",
                api_version=ARGO_API,
                kind="Rollout",
                metadata=meta_of(
                    args.app,
                    annotations={
                        "pulumi.com/waitFor": "jsonpath={.status.phase}=Healthy",
                        "pulumi.com/timeoutSeconds": str(WAIT_SECONDS),
                    },
                ),
                spec={
                    "replicas": args.replicas,
                    "revisionHistoryLimit": 5,
                    "selector": {"matchLabels": selector},
                    "template": template,
                    "progressDeadlineSeconds": canary.plan.step_deadline_seconds,
                    "progressDeadlineAbort": True,
                    "rollbackWindow": {"revisions": canary.rollback_window},
                    "strategy": {"canary": strategy},
                },
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=depends,
                    ignore_changes=[CONTAINERS_PATH],
                ),
            )
        # One voluntary eviction at a time, whatever the replica count: a single replica may be
        # evicted too (maxUnavailable 0 would block every node drain), and pods that are not
        # ready (crash-looping) never hold a drain up.
        pdb_spec: Any = {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": selector},
        }
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta_of(args.app),
            spec=pdb_spec,
            opts=child,
        )
        self.register_outputs({"kind": self.workload_kind, "name": self.workload_name})

    def _service_monitor(
        self,
        name: str,
        args: WorkloadArgs,
        labels: dict[str, str],
        selector: dict[str, str],
        scrape: ScrapeArgs,
    ) -> None:
        """A ServiceMonitor for the app's stable and canary Services (prometheus-operator).

        It selects both Services, so every pod is a target once per Service that selects it and
        its series carry that Service's name as ``service`` (the operator's target label,
        prometheus-operator pkg/prometheus/promcfg.go): ``service="<app>-canary"`` is exactly the
        canary's pods, however Argo Rollouts points the Services.
        """
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={
                "name": args.app,
                "namespace": args.namespace,
                "labels": pulumi.Output.from_input(scrape.monitor_labels).apply(
                    lambda extra: {**labels, **extra}
                ),
            },
            spec={
                "selector": {"matchLabels": selector},
                "endpoints": [
                    {
                        "port": "http" if scrape.port == args.port else "metrics",
                        "path": scrape.path,
                        "interval": scrape.interval,
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
