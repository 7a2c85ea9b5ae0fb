"""Who may do what in the environment's namespace: the deploy pipeline and people.

The deployer is a ServiceAccount with a namespaced Role that holds exactly the verbs the deploy
workflows use, and nothing else:

- set the image and watch the release: ``get, list, watch, patch`` on Rollouts (Argo) and
  Deployments; ``patch`` on ``rollouts/status`` to promote a manual pause or abort a canary;
- read what a failed release needs to be understood: ``get, list, watch`` on ReplicaSets,
  AnalysisRuns, Pods, ``pods/log``, Services and Events.

No ``*``, no ``create``/``delete``, no Secrets, no ``pods/exec``, nothing cluster-wide. Its
long-lived token (a ``kubernetes.io/service-account-token`` Secret, the documented way to get a
non-expiring token for CI) becomes a complete kubeconfig, a secret Output the GitHub side stores
as the environment's ``KUBECONFIG`` secret.

People get the built-in ``view`` and ``edit`` ClusterRoles through RoleBindings in this namespace
only; prod ships with no operator group, so nobody has human write access there by default.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.namespace import recommended_labels

meta = k8s.meta.v1
core = k8s.core.v1
rbac = k8s.rbac.v1

READ: Final = ("get", "list", "watch")

# (apiGroups, resources, verbs): the deploy workflows' whole vocabulary.
DEPLOYER_RULES: Final[tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...]] = (
    (("argoproj.io",), ("rollouts",), (*READ, "patch")),
    (("argoproj.io",), ("rollouts/status",), ("patch",)),
    (("argoproj.io",), ("analysisruns",), READ),
    (("apps",), ("deployments",), (*READ, "patch")),
    (("apps",), ("replicasets",), READ),
    (("",), ("pods", "pods/log", "services", "events"), READ),
)


@dataclass(frozen=True)
class EnvironmentAccessArgs:
    """Inputs of the namespace's access rules."""

    namespace: pulumi.Input[str]
    app: str
    environment: str
    cluster_server: str
    cluster_ca_data: str
    viewer_groups: Sequence[str]
    operator_groups: Sequence[str]
    protect: bool


def kubeconfig(
    cluster: str, server: str, ca_data: str, namespace: str, user: str, token: str
) -> str:
    """A kubeconfig for one token, pinned to one namespace."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": f"{user}@{cluster}",
                "context": {"cluster": cluster, "user": user, "namespace": namespace},
            }
        ],
        "current-context": f"{user}@{cluster}",
    }
    return yaml.safe_dump(document, sort_keys=False)


class EnvironmentAccess(pulumi.ComponentResource):
    """Deployer ServiceAccount, its Role and token, and people's RoleBindings."""

    kubeconfig: pulumi.Output[str]
    service_account_name: str

    def __init__(
        self, name: str, args: EnvironmentAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:kubernetes:EnvironmentAccess", name, None, opts)
        labels = recommended_labels(args.app, args.environment, "deploy-pipeline")
        child = pulumi.ResourceOptions(parent=self)
        self.service_account_name = f"{args.app}-deployer"

        def ns_meta(
            object_name: str, annotations: dict[str, str] | None = None
        ) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=labels, annotations=annotations
            )

        account = core.ServiceAccount(
            f"{name}-deployer",
            metadata=ns_meta(self.service_account_name),
            automount_service_account_token=False,
            opts=child,
        )
        role = rbac.Role(
            f"{name}-deployer",
            metadata=ns_meta(self.service_account_name),
            rules=[
                rbac.PolicyRuleArgs(api_groups=list(groups), resources=list(res), verbs=list(verbs))
                for groups, res, verbs in DEPLOYER_RULES
            ],
            opts=child,
        )
        rbac.RoleBinding(
            f"{name}-deployer",
            metadata=ns_meta(self.service_account_name),
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=self.service_account_name
            ),
            subjects=[
                rbac.SubjectArgs(
                    kind="ServiceAccount", name=self.service_account_name, namespace=args.namespace
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        token_secret = core.Secret(
            f"{name}-deployer-token",
            metadata=ns_meta(
                f"{self.service_account_name}-token",
                annotations={"kubernetes.io/service-account.name": self.service_account_name},
            ),
            type="kubernetes.io/service-account-token",
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[account],
                protect=args.protect,
                retain_on_delete=args.protect,
                # The token controller fills data; Pulumi must not try to own or reset it.
                ignore_changes=["data"],
            ),
        )
        cluster_name = f"{args.app}-{args.environment}"
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(token_secret.data, args.namespace).apply(
                lambda parts: kubeconfig(
                    cluster_name,
                    args.cluster_server,
                    args.cluster_ca_data,
                    str(parts[1]),
                    self.service_account_name,
                    base64.b64decode(parts[0]["token"]).decode(),
                )
            )
        )
        for role_name, groups in (("view", args.viewer_groups), ("edit", args.operator_groups)):
            if not groups:
                continue
            rbac.RoleBinding(
                f"{name}-people-{role_name}",
                metadata=ns_meta(f"people-{role_name}"),
                role_ref=rbac.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role_name
                ),
                subjects=[
                    rbac.SubjectArgs(
                        kind="Group", name=group, api_group="rbac.authorization.k8s.io"
                    )
                    for group in groups
                ],
                opts=child,
            )
        self.register_outputs({"serviceAccount": self.service_account_name})
