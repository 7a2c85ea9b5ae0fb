"""Actions Runner Controller in the platform stack: the controller and one scale set per environment.

``cicd-platform:runners`` (off by default) installs, with Helm, from GitHub's OCI chart registry:

- ``gha-runner-scale-set-controller`` in its own namespace (Pod Security ``baseline`` enforced,
  ``restricted`` audited and warned: the listener pods the controller starts there are not
  restricted-clean at every chart version), its pod held to ``restricted`` by values;
- per environment, ``gha-runner-scale-set`` in a namespace of its own (``restricted``
  enforced), with a ServiceAccount this stack creates there for its runner pods
  (``template.spec.serviceAccountName``: the chart then creates no ServiceAccount of its own).

Who owns what (docs/runners.md): the platform stack owns every cluster-scoped or shared object
and the runner identity (namespace, ServiceAccount, the scale set); the environment stack owns
the *permission*: its RoleBinding in its own namespace names that ServiceAccount as subject of
its deployer Role (``cicd:cluster.access: inCluster``). So the identity is cluster
infrastructure, and what it may do is reviewed with the environment it acts in.

Values passed to the charts are the keys their templates read at the pinned version
(``.Values.<path>`` in charts/gha-runner-scale-set*/templates of actions/actions-runner-controller
at tag gha-runner-scale-set-0.14.2); tests/test_runners.py checks them against a copy of those
templates' value paths. The GitHub App credentials are a Secret created outside Pulumi in each
runner namespace; only its name is passed (``githubConfigSecret`` as a string is the chart's
"pre-defined secret" form), never a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components.platform import PlatformNamespaceArgs, platform_labels, platform_namespace
from components.vocabulary import PodSecurityLevel

ARC_CHARTS: Final = "oci://ghcr.io/actions/actions-runner-controller-charts"
"""Where GitHub publishes both charts (OCI artifacts on ghcr.io)."""
CONTROLLER_CHART: Final = "gha-runner-scale-set-controller"
SCALE_SET_CHART: Final = "gha-runner-scale-set"
CONTROLLER_RELEASE: Final = "arc"
CONTROLLER_SERVICE_ACCOUNT: Final = f"{CONTROLLER_RELEASE}-gha-rs-controller"
"""The controller chart's ServiceAccount for release :data:`CONTROLLER_RELEASE`: its
``gha-runner-scale-set-controller.fullname`` helper is ``<release>-gha-rs-controller`` when the
release name does not contain ``gha-rs-controller``. Passed to every scale set as
``controllerServiceAccount`` so the scale set chart need not look the controller up."""

RUNNER_UID: Final = 1001
"""The ``runner`` user of the actions-runner image (actions/runner images/Dockerfile: ``adduser
--uid 1001 runner``; the image says ``USER runner`` by name, which ``runAsNonRoot`` cannot
verify, so the uid is given)."""

RESTRICTED_POD: Final = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER: Final = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True)
class RunnerControllerArgs:
    """The controller's namespace and chart version."""

    namespace: str
    chart_version: str


@dataclass(frozen=True)
class ScaleSetArgs:
    """One runner scale set (one environment's deploy runners)."""

    name: str
    environment: str
    namespace: str
    service_account: str
    chart_version: str
    github_config_url: str
    github_config_secret: str
    runner_image: str
    min_runners: int
    max_runners: int
    runner_group: str | None
    controller_namespace: str


def controller_values() -> dict[str, Any]:
    """The controller chart's values: its pod restricted (distroless, uid 65532)."""
    return {
        "podSecurityContext": RESTRICTED_POD,
        "securityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True},
    }


def scale_set_values(args: ScaleSetArgs) -> dict[str, Any]:
    """The scale set chart's values: where it registers, with which secret, how many runners,
    and the runner pod: this stack's ServiceAccount, the pinned image, restricted."""
    values: dict[str, Any] = {
        "githubConfigUrl": args.github_config_url,
        "githubConfigSecret": args.github_config_secret,
        "runnerScaleSetName": args.name,
        "minRunners": args.min_runners,
        "maxRunners": args.max_runners,
        "controllerServiceAccount": {
            "namespace": args.controller_namespace,
            "name": CONTROLLER_SERVICE_ACCOUNT,
        },
        "template": {
            "spec": {
                "serviceAccountName": args.service_account,
                "automountServiceAccountToken": True,
                "securityContext": {**RESTRICTED_POD, "runAsUser": RUNNER_UID},
                "containers": [
                    {
                        "name": "runner",
                        "image": args.runner_image,
                        "command": ["/home/runner/run.sh"],
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
            }
        },
    }
    if args.runner_group is not None:
        values["runnerGroup"] = args.runner_group
    return values


class RunnerController(pulumi.ComponentResource):
    """The gha-runner-scale-set-controller (Helm, OCI chart) in its own namespace."""

    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: RunnerControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:platform:RunnerController", name, None, opts)
        namespace = platform_namespace(
            f"{name}-namespace",
            PlatformNamespaceArgs(args.namespace, CONTROLLER_CHART, PodSecurityLevel.BASELINE),
            pulumi.ResourceOptions(parent=self),
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=CONTROLLER_RELEASE,
            chart=f"{ARC_CHARTS}/{CONTROLLER_CHART}",
            version=args.chart_version,
            namespace=args.namespace,
            create_namespace=False,
            values=controller_values(),
            atomic=True,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        self.register_outputs({"namespace": args.namespace})


class RunnerScaleSet(pulumi.ComponentResource):
    """One environment's runner scale set: its restricted namespace, the runner pods'
    ServiceAccount (bound by the environment stack, never here) and the Helm release."""

    def __init__(
        self,
        name: str,
        args: ScaleSetArgs,
        controller: RunnerController,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("cicd:platform:RunnerScaleSet", name, None, opts)
        namespace = platform_namespace(
            f"{name}-namespace",
            PlatformNamespaceArgs(args.namespace, SCALE_SET_CHART, PodSecurityLevel.RESTRICTED),
            pulumi.ResourceOptions(parent=self),
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-runner",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.service_account,
                namespace=args.namespace,
                labels={
                    **platform_labels(SCALE_SET_CHART),
                    "environment": args.environment,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        k8s.helm.v3.Release(
            f"{name}-release",
            name=args.name,
            chart=f"{ARC_CHARTS}/{SCALE_SET_CHART}",
            version=args.chart_version,
            namespace=args.namespace,
            create_namespace=False,
            values=scale_set_values(args),
            atomic=True,
            timeout=600,
            # The scale set's CRDs come with the controller's release.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, controller.release]),
        )
        self.register_outputs({"namespace": args.namespace, "serviceAccount": args.service_account})
