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
never blocks a node drain. The container image is set when the workload is created; afterwards
the deploy workflows own it (``ignore_changes`` on the image), so ``pulumi up`` never rolls a
release back by accident.

Readiness: Pulumi's Kubernetes provider has no built-in notion of a healthy Rollout, so the
Rollout carries ``pulumi.com/waitFor: jsonpath={.status.phase}=Healthy`` (with a timeout): a
``pulumi up`` that creates or changes it finishes only once Argo Rollouts reports it Healthy, and
fails (rather than hanging) when it does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components.ingress import AppIngress
from components.namespace import recommended_labels

meta = k8s.meta.v1
core = k8s.core.v1

ARGO_API: Final = "argoproj.io/v1alpha1"
IMAGE_PATH: Final = "spec.template.spec.containers[0].image"
WAIT_SECONDS: Final = 900


@dataclass(frozen=True)
class CanaryStepArgs:
    weight: int
    pause: str | None


@dataclass(frozen=True)
class AnalysisArgs:
    interval: str
    failure_limit: int
    success_rate: float
    prometheus_address: str | None


@dataclass(frozen=True)
class CanaryArgs:
    """Canary release settings; ``analysis`` None means steps only."""

    steps: Sequence[CanaryStepArgs]
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


def canary_steps(steps: Sequence[CanaryStepArgs]) -> list[dict[str, Any]]:
    """Config steps as Argo steps: each weight followed by its pause (no duration = manual)."""
    out: list[dict[str, Any]] = []
    for step in steps:
        out.append({"setWeight": step.weight})
        if step.weight < 100:
            out.append({"pause": {"duration": step.pause} if step.pause else {}})
    return out


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
                "successCondition": f"len(result) == 0 || result[0] >= {analysis.success_rate}",
                "provider": {
                    "prometheus": {
                        "address": analysis.prometheus_address,
                        "query": (
                            'sum(rate(http_requests_total{namespace="{{args.namespace}}",'
                            'service="{{args.canary-service}}",status!~"5.."}[2m])) / '
                            'sum(rate(http_requests_total{namespace="{{args.namespace}}",'
                            'service="{{args.canary-service}}"}[2m]))'
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
        template = pod_template(args, {**labels, **selector})
        spec: Any
        if args.canary is None:
            self.workload_kind = "Deployment"
            spec = {
                "replicas": args.replicas,
                "revisionHistoryLimit": 5,
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
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=[IMAGE_PATH]),
            )
        else:
            self.workload_kind = "Rollout"
            canary = args.canary
            canary_service = service("canary-service", f"{args.app}-canary")
            strategy: dict[str, Any] = {
                "canaryService": f"{args.app}-canary",
                "stableService": args.app,
                "steps": canary_steps(canary.steps),
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
                    "progressDeadlineSeconds": 600,
                    "progressDeadlineAbort": True,
                    "strategy": {"canary": strategy},
                },
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=depends, ignore_changes=[IMAGE_PATH]
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
