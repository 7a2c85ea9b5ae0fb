"""The application workload and how it is released.

Canary on: an Argo Rollouts ``Rollout`` whose ``strategy.canary.steps`` come from stack config
(``setWeight`` then ``pause``; a pause without duration waits for a person, or the prod workflow,
to promote), stable and canary Services, and an ``AnalysisTemplate`` run in the background from the
first step. The analysis probes the canary Service's health path (which must answer JSON
``{"status": "ok"}``) and, where a Prometheus address is configured, the success rate of the
canary's requests. When a metric fails more than ``failureLimit`` times the analysis fails, the
Rollout aborts on its own and all traffic goes back to the stable ReplicaSet.

Without traffic routing, Argo Rollouts approximates weights by pod counts; with ``canary.nginx``
it splits traffic exactly on the environment's one Ingress (components/ingress.py), through a
canary copy of it that it manages. The controller itself is cluster-scoped: the platform project
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

meta = k8s.meta.v1
core = k8s.core.v1

ARGO_API: Final = "argoproj.io/v1alpha1"
CONTAINERS_PATH: Final = "spec.template.spec.containers"
"""What the stack sets on creation only (see the module docstring)."""
WAIT_SECONDS: Final = 900


@dataclass(frozen=True)
class AnalysisArgs:
    interval: str
    failure_limit: int
    success_rate: float
    prometheus_address: str | None


@dataclass(frozen=True)
class CanaryArgs:
    """Canary release settings; ``analysis`` None means steps only."""

    plan: ReleasePlan
    rollback_window: int
    analysis: AnalysisArgs | None
    stable_ingress: AppIngress | None
    """The environment's Ingress, split by NGINX traffic routing; None: weights by pod count."""


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
        "ports": [{"name": "http", "containerPort": args.port, "protocol": "TCP"}],
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


def success_rate_query(namespace: str, service: str) -> str:
    """Share of the canary's requests that were not 5xx over 2 minutes; 0 when unmeasurable.

    No series at all (nothing scraped) and no traffic (0/0 = NaN, dropped by ``>= 0``) both
    become 0 through ``or vector(0)``, so a canary that cannot be measured fails the analysis
    rather than passing it. tests/test_promql.py runs this with promtool on synthetic series.
    """
    selector = f'namespace="{namespace}",service="{service}"'
    return (
        f'(sum(rate(http_requests_total{{{selector},status!~"5.."}}[2m])) / '
        f"sum(rate(http_requests_total{{{selector}}}[2m])) >= 0) or vector(0)"
    )


def success_condition(success_rate: float) -> str:
    """Argo's expression: an empty or NaN result fails too, should the query ever return one."""
    return f"len(result) > 0 && !isNaN(result[0]) && result[0] >= {success_rate}"


def analysis_metrics(analysis: AnalysisArgs, health_path: str) -> list[dict[str, Any]]:
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
                "interval": analysis.interval,
                "failureLimit": analysis.failure_limit,
                "successCondition": success_condition(analysis.success_rate),
                "provider": {
                    "prometheus": {
                        "address": analysis.prometheus_address,
                        "query": success_rate_query(
                            "{{args.namespace}}", "{{args.canary-service}}"
                        ),
                    }
                },
            }
        )
    return metrics


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

        def service(suffix: str, object_name: str) -> core.Service:
            service_spec: Any = {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {"name": "http", "port": args.port, "targetPort": "http", "protocol": "TCP"}
                ],
            }
            return core.Service(
                f"{name}-{suffix}", metadata=meta_of(object_name), spec=service_spec, opts=child
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
            if canary.stable_ingress is not None:
                depends.append(canary.stable_ingress.ingress)
                strategy["trafficRouting"] = {
                    "nginx": {"stableIngress": canary.stable_ingress.name}
                }
            if canary.analysis is not None and args.health_path:
                template_name = f"{args.app}-health"
                analysis = k8s.apiextensions.CustomResource(
                    f"{name}-analysis",
                    api_version=ARGO_API,
                    kind="AnalysisTemplate",
                    metadata=meta_of(template_name),
                    spec={
                        "args": [
                            {"name": "canary-service"},
                            {"name": "namespace"},
                            {"name": "port"},
                        ],
                        "metrics": analysis_metrics(canary.analysis, args.health_path),
                    },
                    opts=child,
                )
                depends.append(analysis)
                strategy["analysis"] = {
                    "templates": [{"templateName": template_name}],
                    "startingStep": 1,
                    "args": [
                        {"name": "canary-service", "value": f"{args.app}-canary"},
                        {"name": "namespace", "value": args.namespace},
                        {"name": "port", "value": str(args.port)},
                    ],
                }
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
