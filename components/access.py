"""Who may do what in the environment's namespace: the deploy pipeline and people.

The deployer holds a namespaced Role with exactly what the deploy workflows use, for the one
workload this stack deploys and only its kind (Deployment or Rollout):

- set the image and watch the release: ``get, list, watch, patch`` on that workload, by
  ``resourceNames`` (``kubectl rollout status`` and ``kubectl get NAME`` list and watch with a
  ``metadata.name`` field selector, which RBAC authorises against ``resourceNames``); for a
  Rollout, ``patch`` on its ``rollouts/status`` to promote a manual pause or abort a canary;
- read what a failed release needs to be understood: ``get, list, watch`` on ReplicaSets,
  AnalysisRuns (Rollout only), Pods, ``pods/log``, Services and Events.

RBAC cannot say *which fields* a ``patch`` may change, and a free patch of the pod template
(command, volumes, service account) would let whoever holds the credential read every Secret in
the namespace. A ValidatingAdmissionPolicy (``admissionregistration.k8s.io/v1``) closes that: for
the deployer identity only, an update may change the containers' ``image`` and nothing else in
the spec, labels or annotations; on ``rollouts/status`` it may only clear ``pauseConditions``
(promote), set ``abort: true``, or take an abort back while the aborted canary is not the
stable ReplicaSet (``retry``: what the Argo Rollouts plugin's retry sends, so the controller runs
that same canary's steps again; a status patch cannot change the spec, so a retry can only restart
the release that was aborted, never start another: docs/release-edges.md). Its CEL is tested offline with cel-python (tests/
test_access.py). In a VAP ``object`` and ``oldObject`` are dynamically typed (one policy may
match several kinds), so the CEL iterates their keys with map macros.

Who the deployer is depends on ``cicd:cluster.access``:

- ``token``: a ServiceAccount whose long-lived token (a ``kubernetes.io/service-account-token``
  Secret) becomes a kubeconfig, a secret Output stored as the GitHub environment's
  ``KUBECONFIG`` secret;
- ``githubOidc``: no ServiceAccount and no stored credential. The RoleBinding names the user the
  API server maps GitHub's OIDC token to: the platform stack's username prefix followed by the
  token's ``sub``, ``repo:OWNER/REPO:environment:NAME``. Only a job that runs in that GitHub
  environment (after its reviewers approved) gets such a token, so the credential follows the
  review by construction.
- ``inCluster``: no ServiceAccount here and no stored credential. The deploy job runs on the
  environment's Actions Runner Controller scale set; its runner pods run as a ServiceAccount the
  platform stack owns in the scale set's own namespace (:class:`RunnerIdentity`), and the
  RoleBinding here names that ServiceAccount. Its token is the pod's projected one: it never
  leaves the cluster (docs/runners.md).

No ``*``, no ``create``/``delete``, no Secrets, no ``pods/exec``, no cluster-wide RBAC.

People (``cicd:access``) get this stack's own namespaced Roles, never the built-in ``view``/
``edit`` ClusterRoles (issue 22 item 4: ``edit`` reads every Secret, the deployer's token and the
pull secret among them, impersonates ServiceAccounts, mints their tokens, execs into pods and
deletes NetworkPolicies and PodDisruptionBudgets; ``view`` is safe today but grows with every
aggregated CRD role a cluster installs):

- ``people-view`` (``viewerGroups``): read what a release needs to be understood (PEOPLE_READ):
  pods and their logs, events, Services, the workload and its ReplicaSets, Argo Rollouts
  objects, Ingresses (or the route the platform's traffic router renders instead:
  ROUTE_READ), NetworkPolicies, the PodDisruptionBudget, quota and limits;
- ``people-operate`` (``operatorGroups``): the same reads, plus deleting or evicting a pod (a
  stuck pod is recreated by its ReplicaSet). No pod-template change, pod or Job creation: each
  can mount any Secret of the namespace or run as any ServiceAccount, which is what the
  deployer's admission policy exists to prevent; releases go through the deploy workflows.

Neither ever reads Secrets, impersonates, creates tokens, execs/attaches/port-forwards, or
deletes the guardrails (NetworkPolicies, the PodDisruptionBudget, the admission policy, which is
cluster-scoped and out of any RoleBinding's reach). Prod ships with no operator group. The config
refuses Kubernetes' reserved groups in these lists (components/config/cluster.py).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.namespace import recommended_labels
from components.traffic_router import TrafficRouter
from components.vocabulary import ClusterAccess

meta = k8s.meta.v1
core = k8s.core.v1
rbac = k8s.rbac.v1

READ: Final = ("get", "list", "watch")
WORKLOAD_VERBS: Final = (*READ, "patch")

Rule = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""(apiGroups, resources, verbs, resourceNames); empty resourceNames means any name."""

# Where each workload kind lives, and what the deployer may patch besides the workload itself.
WORKLOAD_API: Final = {
    "Deployment": ("apps", "v1", "deployments", ()),
    "Rollout": ("argoproj.io", "v1alpha1", "rollouts", ("rollouts/status",)),
}


def deployer_rules(workload_kind: str, workload_name: str) -> tuple[Rule, ...]:
    """The deploy workflows' whole vocabulary, for one workload of one kind."""
    group, _, resource, subresources = WORKLOAD_API[workload_kind]
    name = (workload_name,)
    rules: list[Rule] = [((group,), (resource,), WORKLOAD_VERBS, name)]
    rules += [((group,), (sub,), ("get", "patch"), name) for sub in subresources]
    if workload_kind == "Rollout":
        rules.append((("argoproj.io",), ("analysisruns",), READ, ()))
    rules.append((("apps",), ("replicasets",), READ, ()))
    rules.append((("",), ("pods", "pods/log", "services", "events"), READ, ()))
    return tuple(rules)


PEOPLE_READ: Final[tuple[Rule, ...]] = (
    (("",), ("pods", "pods/log", "events", "services", "endpoints", "serviceaccounts"), READ, ()),
    (("",), ("resourcequotas", "limitranges", "configmaps"), READ, ()),
    (("events.k8s.io",), ("events",), READ, ()),
    (("apps",), ("deployments", "replicasets"), READ, ()),
    (("argoproj.io",), ("rollouts", "analysisruns", "analysistemplates", "experiments"), READ, ()),
    (("networking.k8s.io",), ("ingresses", "networkpolicies"), READ, ()),
    (("discovery.k8s.io",), ("endpointslices",), READ, ()),
    (("policy",), ("poddisruptionbudgets",), READ, ()),
)
"""What every people group may read in its namespace: never Secrets (nor anything that shows a
Secret's content: no exec, attach, port-forward, proxy, token request)."""

PEOPLE_OPERATE: Final[tuple[Rule, ...]] = (
    *PEOPLE_READ,
    (("",), ("pods",), ("delete",), ()),
    (("",), ("pods/eviction",), ("create",), ()),
)
"""Operators: the reads, plus restarting a stuck pod (delete or evict it)."""

PEOPLE_ROLES: Final = {"view": PEOPLE_READ, "operate": PEOPLE_OPERATE}
"""``people-<suffix>`` Role name suffix -> its rules."""

ROUTE_READ: Final[dict[TrafficRouter, tuple[Rule, ...]]] = {
    TrafficRouter.TRAEFIK: (
        (("traefik.io",), ("ingressroutes", "traefikservices"), READ, ()),
        (("cert-manager.io",), ("certificates",), READ, ()),
    ),
    TrafficRouter.GATEWAY_API: ((("gateway.networking.k8s.io",), ("httproutes",), READ, ()),),
}
"""What people also read where the platform's router renders the route as custom objects
(components/traffic_router.py): the route and its weights, as they read the Ingress elsewhere."""


def policy_rules(rules: Sequence[Rule]) -> list[rbac.PolicyRuleArgs]:
    return [
        rbac.PolicyRuleArgs(
            api_groups=list(groups),
            resources=list(resources),
            verbs=list(verbs),
            resource_names=list(names) or None,
        )
        for groups, resources, verbs, names in rules
    ]


def _same_except(new: str, old: str, skip: Sequence[str]) -> str:
    """CEL: the maps ``new`` and ``old`` hold the same keys and values, except the keys ``skip``."""
    skipped = " || ".join(f"k == '{key}'" for key in skip)
    return (
        f"{new}.all(k, {skipped} || (k in {old} && {old}[k] == {new}[k])) && "
        f"{old}.all(k, {skipped} || k in {new})"
    )


def _or_empty(path: str, key: str) -> str:
    return f"(has({path}.{key}) ? {path}.{key} : {{}})"


IMAGE_ONLY_VARIABLES: Final[tuple[tuple[str, str], ...]] = (
    ("isStatus", "request.subResource == 'status'"),
    ("newPod", "object.spec.template.spec"),
    ("oldPod", "oldObject.spec.template.spec"),
    (
        "specOutsideTemplateSame",
        _same_except("object.spec", "oldObject.spec", ("template",)),
    ),
    (
        "templateOutsidePodSame",
        _same_except("object.spec.template", "oldObject.spec.template", ("spec",)),
    ),
    (
        "podOutsideContainersSame",
        _same_except("variables.newPod", "variables.oldPod", ("containers",)),
    ),
    (
        "onlyImagesChanged",
        "variables.newPod.containers.size() == variables.oldPod.containers.size() && "
        "variables.newPod.containers.all(c, variables.oldPod.containers.exists(o, "
        f"o.name == c.name && {_same_except('c', 'o', ('image',))}))",
    ),
    (
        "metadataSame",
        f"{_or_empty('object.metadata', 'labels')} == {_or_empty('oldObject.metadata', 'labels')}"
        f" && {_or_empty('object.metadata', 'annotations')} == "
        f"{_or_empty('oldObject.metadata', 'annotations')}",
    ),
)
"""Named CEL expressions (``spec.variables``), evaluated in order; later ones use earlier ones."""

IMAGE_ONLY_VALIDATIONS: Final[tuple[tuple[str, str], ...]] = (
    (
        "variables.isStatus || (variables.specOutsideTemplateSame && "
        "variables.templateOutsidePodSame && variables.podOutsideContainersSame)",
        "the deployer may change only container images: the rest of the spec and pod template "
        "(command, volumes, service account, ...) is fixed by the stack",
    ),
    (
        "variables.isStatus || variables.onlyImagesChanged",
        "the deployer may change only the image of existing containers",
    ),
    (
        "variables.isStatus || variables.metadataSame",
        "the deployer may not change labels or annotations",
    ),
)

ROLLOUT_STATUS_VARIABLES: Final[tuple[tuple[str, str], ...]] = (
    ("newStatus", "has(object.status) ? object.status : {}"),
    ("oldStatus", "has(oldObject.status) ? oldObject.status : {}"),
    ("newAbort", "'abort' in variables.newStatus ? variables.newStatus.abort : false"),
    ("oldAbort", "'abort' in variables.oldStatus ? variables.oldStatus.abort : false"),
    (
        "abortedCanary",
        "variables.oldAbort == true && 'currentPodHash' in variables.oldStatus && "
        "'stableRS' in variables.oldStatus && "
        "variables.oldStatus.currentPodHash != variables.oldStatus.stableRS",
    ),
)

ROLLOUT_STATUS_VALIDATIONS: Final[tuple[tuple[str, str], ...]] = (
    (
        "!variables.isStatus || ("
        + _same_except("variables.newStatus", "variables.oldStatus", ("pauseConditions", "abort"))
        + ")",
        "on rollouts/status the deployer may only promote (clear pauseConditions) or abort",
    ),
    (
        "!variables.isStatus || !('pauseConditions' in variables.newStatus) || "
        "('pauseConditions' in variables.oldStatus && "
        "variables.newStatus.pauseConditions == variables.oldStatus.pauseConditions)",
        "the deployer may clear pauseConditions (promote), never add or change them",
    ),
    (
        "!variables.isStatus || variables.newAbort == variables.oldAbort || "
        "variables.newAbort == true || variables.abortedCanary",
        "the deployer may set abort to true, and take an abort back only to retry an aborted "
        "canary (the Rollout's current pod template is not its stable ReplicaSet)",
    ),
)


def image_only_policy_spec(workload_kind: str, username: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy spec that holds ``username`` to image changes (and, for a
    Rollout, promote/abort on its status)."""
    group, version, resource, subresources = WORKLOAD_API[workload_kind]
    variables = list(IMAGE_ONLY_VARIABLES)
    validations = list(IMAGE_ONLY_VALIDATIONS)
    if subresources:
        variables += ROLLOUT_STATUS_VARIABLES
        validations += ROLLOUT_STATUS_VALIDATIONS
    quoted = username.replace("\\", "\\\\").replace("'", "\\'")
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [group],
                    "apiVersions": [version],
                    "operations": ["UPDATE"],
                    "resources": [resource, *subresources],
                }
            ]
        },
        "matchConditions": [
            {"name": "deployer-only", "expression": f"request.userInfo.username == '{quoted}'"}
        ],
        "variables": [{"name": name, "expression": expr} for name, expr in variables],
        "validations": [
            {"expression": expr, "message": message, "reason": "Forbidden"}
            for expr, message in validations
        ],
    }


@dataclass(frozen=True)
class RunnerIdentity:
    """The ServiceAccount of the environment's runner scale set pods (platform stack), which
    ``inCluster`` access binds to the deployer Role."""

    namespace: pulumi.Input[str]
    service_account: pulumi.Input[str]


@dataclass(frozen=True)
class EnvironmentAccessArgs:
    """Inputs of the namespace's access rules.

    ``workload_kind``/``workload_name``: the one workload the deployer may touch.
    ``oidc_username``: with ``access`` githubOidc, the user the API server maps this
    environment's GitHub OIDC token to (prefix + sub); unused in token mode.
    """

    namespace: pulumi.Input[str]
    app: str
    environment: str
    cluster_server: str
    cluster_ca_data: str
    viewer_groups: Sequence[str]
    operator_groups: Sequence[str]
    protect: bool
    workload_kind: str
    workload_name: str
    access: ClusterAccess = ClusterAccess.TOKEN
    oidc_username: pulumi.Input[str] | None = None
    runner_identity: RunnerIdentity | None = None
    """With ``access`` inCluster: the runner pods' ServiceAccount; unused otherwise."""
    router: TrafficRouter = TrafficRouter.NGINX
    """The cluster's traffic router: people read its route objects (:data:`ROUTE_READ`)."""


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
    """Deployer identity, its narrowed Role and image-only admission policy, people's bindings."""

    kubeconfig: pulumi.Output[str] | None
    """Token mode: the deployer's kubeconfig (secret). githubOidc, inCluster: None, nothing is
    stored."""
    deployer_username: pulumi.Output[str]
    """The Kubernetes username of the deployer, as admission sees it."""
    service_account_name: str

    def __init__(
        self, name: str, args: EnvironmentAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:kubernetes:EnvironmentAccess", name, None, opts)
        labels = recommended_labels(args.app, args.environment, "deploy-pipeline")
        child = pulumi.ResourceOptions(parent=self)
        self.service_account_name = f"{args.app}-deployer"
        role_name = self.service_account_name

        def ns_meta(
            object_name: str, annotations: dict[str, str] | None = None
        ) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=labels, annotations=annotations
            )

        role = rbac.Role(
            f"{name}-deployer",
            metadata=ns_meta(role_name),
            rules=policy_rules(deployer_rules(args.workload_kind, args.workload_name)),
            opts=child,
        )
        self.kubeconfig = None
        subject: rbac.SubjectArgs
        binding_waits_for: list[pulumi.Resource] = [role]
        if args.access is ClusterAccess.GITHUB_OIDC:
            if args.oidc_username is None:
                raise ValueError("access githubOidc needs oidc_username")
            self.deployer_username = pulumi.Output.from_input(args.oidc_username)
            subject = rbac.SubjectArgs(
                kind="User", name=self.deployer_username, api_group="rbac.authorization.k8s.io"
            )
        elif args.access is ClusterAccess.IN_CLUSTER:
            runner = args.runner_identity
            if runner is None:
                raise ValueError("access inCluster needs runner_identity")
            self.deployer_username = pulumi.Output.concat(
                "system:serviceaccount:", runner.namespace, ":", runner.service_account
            )
            subject = rbac.SubjectArgs(
                kind="ServiceAccount", name=runner.service_account, namespace=runner.namespace
            )
        else:
            self.deployer_username = pulumi.Output.concat(
                "system:serviceaccount:", args.namespace, ":", self.service_account_name
            )
            account = core.ServiceAccount(
                f"{name}-deployer",
                metadata=ns_meta(self.service_account_name),
                automount_service_account_token=False,
                opts=child,
            )
            binding_waits_for.append(account)
            subject = rbac.SubjectArgs(
                kind="ServiceAccount", name=self.service_account_name, namespace=args.namespace
            )
            self.kubeconfig = self._token_kubeconfig(name, args, ns_meta, account)
        rbac.RoleBinding(
            f"{name}-deployer",
            metadata=ns_meta(role_name),
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role_name
            ),
            subjects=[subject],
            opts=pulumi.ResourceOptions(parent=self, depends_on=binding_waits_for),
        )
        # Cluster-scoped by API design, but about this namespace only (the binding selects it).
        policy_name = f"{args.app}-{args.environment}-deployer-image-only"
        # A plain camelCase dict (the policy's CEL is data); hence the Any.
        policy_spec: Any = self.deployer_username.apply(
            lambda user: image_only_policy_spec(args.workload_kind, user)
        )
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-deployer-image-only",
            metadata=meta.ObjectMetaArgs(name=policy_name, labels=labels),
            spec=policy_spec,
            opts=child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-deployer-image-only",
            metadata=meta.ObjectMetaArgs(name=policy_name, labels=labels),
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=policy_name,
                validation_actions=["Deny"],
                match_resources=k8s.admissionregistration.v1.MatchResourcesArgs(
                    namespace_selector=meta.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": args.namespace}
                    )
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        people = (("view", args.viewer_groups), ("operate", args.operator_groups))
        for suffix, groups in people:
            if not groups:
                continue
            people_name = f"people-{suffix}"
            people_role = rbac.Role(
                f"{name}-people-{suffix}",
                metadata=ns_meta(people_name),
                rules=policy_rules((*PEOPLE_ROLES[suffix], *ROUTE_READ.get(args.router, ()))),
                opts=child,
            )
            rbac.RoleBinding(
                f"{name}-people-{suffix}",
                metadata=ns_meta(people_name),
                role_ref=rbac.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=people_name
                ),
                subjects=[
                    rbac.SubjectArgs(
                        kind="Group", name=group, api_group="rbac.authorization.k8s.io"
                    )
                    for group in groups
                ],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[people_role]),
            )
        self.register_outputs({"deployer": self.deployer_username})

    def _token_kubeconfig(
        self,
        name: str,
        args: EnvironmentAccessArgs,
        ns_meta: Any,
        account: core.ServiceAccount,
    ) -> pulumi.Output[str]:
        """Token mode: the ServiceAccount's long-lived token, as a kubeconfig (secret)."""
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
        return pulumi.Output.secret(
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
