"""The deployer's effective permissions: its Role (RBAC) and the image-only admission policy.

RBAC is evaluated from the rendered Role and RoleBindings, resourceNames included. The
ValidatingAdmissionPolicy's CEL is evaluated with cel-python on real updates: the rendered
workload as ``oldObject``, the change the deploy workflows make (their own patches, read from
components/workflows/common.py) or a change an attacker would make as ``object``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel

from components.config import ClusterAccess
from components.workflows import common
from render.engine import Rendered
from render.tree import github_settings, kubernetes_objects, tree
from tests import validators
from tests.conftest import STACKS, config_problems, files, render_variant, rendered

NS = {"dev": "webshop-dev", "staging": "webshop-staging", "prod": "webshop-prod"}
KIND = {"dev": "Deployment", "staging": "Rollout", "prod": "Rollout"}
WORKLOAD = {"Deployment": ("apps", "deployments"), "Rollout": ("argoproj.io", "rollouts")}
OIDC_USER = "github:repo:acme/webshop:environment:development"


def objects(result: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(result).values() if o["kind"] == kind]


def service_account(namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": "webshop-deployer", "namespace": namespace}


def can(
    result: Rendered,
    subject: Mapping[str, str],
    namespace: str,
    api_group: str,
    resource: str,
    verb: str,
    name: str | None = None,
) -> bool:
    """RBAC's answer for ``subject``: any Role bound to it in ``namespace`` with a rule that
    matches group, resource, verb and (when the rule has resourceNames) the object's name."""
    roles = {
        (r["metadata"]["namespace"], r["metadata"]["name"]): r for r in objects(result, "Role")
    }
    for binding in objects(result, "RoleBinding"):
        if binding["metadata"]["namespace"] != namespace:
            continue
        if not any(
            all(s.get(key) == value for key, value in subject.items()) for s in binding["subjects"]
        ):
            continue
        if binding["roleRef"]["kind"] != "Role":
            return True  # a ClusterRole for the deployer would be a finding on its own
        for rule in roles[(namespace, binding["roleRef"]["name"])]["rules"]:
            names = rule.get("resourceNames")
            if (
                api_group in rule["apiGroups"]
                and resource in rule["resources"]
                and verb in rule["verbs"]
                and (names is None or name in names)
            ):
                return True
    return False


@pytest.mark.parametrize("stack", STACKS)
def test_deployer_may_touch_only_its_one_workload_of_its_kind(stack: str) -> None:
    result = rendered(stack)
    own, kind = NS[stack], KIND[stack]
    other_kind = "Rollout" if kind == "Deployment" else "Deployment"
    sa = service_account(own)
    for verb in ("get", "list", "watch", "patch"):
        assert can(result, sa, own, *WORKLOAD[kind], verb, "webshop"), verb
        assert not can(result, sa, own, *WORKLOAD[kind], verb, "payments"), verb
        assert not can(result, sa, own, *WORKLOAD[other_kind], verb, "webshop"), verb
        # Listing every workload (no name) is not allowed either: only the field-selected one.
        assert not can(result, sa, own, *WORKLOAD[kind], verb), verb
    for verb in ("create", "update", "delete", "deletecollection"):
        assert not can(result, sa, own, *WORKLOAD[kind], verb, "webshop"), verb
    for verb in ("get", "patch"):  # kubectl patch --subresource=status reads it first
        assert can(result, sa, own, "argoproj.io", "rollouts/status", verb, "webshop") is (
            kind == "Rollout"
        )
    assert can(result, sa, own, "argoproj.io", "analysisruns", "list") is (kind == "Rollout")
    assert can(result, sa, own, "", "pods", "list") and can(result, sa, own, "", "pods/log", "get")
    for verb in ("get", "list", "watch", "create", "patch"):
        assert not can(result, sa, own, "", "secrets", verb, "webshop-registry")
        assert not can(result, sa, own, "", "pods/exec", verb)
        assert not can(result, sa, own, "", "serviceaccounts/token", verb, "webshop")
    for namespace in set(NS.values()) - {own}:
        assert not can(result, service_account(namespace), namespace, *WORKLOAD[kind], "patch")
        assert not can(result, sa, namespace, *WORKLOAD[kind], "patch", "webshop")


def test_rbac_evaluator_can_say_yes_and_no() -> None:
    # Guards the helper itself: a rule without resourceNames matches any name.
    result = rendered("prod")
    sa = service_account("webshop-prod")
    assert can(result, sa, "webshop-prod", "apps", "replicasets", "get", "anything")
    assert not can(result, {"kind": "User", "name": "mallory"}, "webshop-prod", "", "pods", "get")


# --------------------------------------------------------------------------------------------
# The image-only ValidatingAdmissionPolicy, evaluated with cel-python
# --------------------------------------------------------------------------------------------

_CEL = celpy.Environment()


def _eval(expression: str, activation: dict[str, Any]) -> Any:
    return _CEL.program(_CEL.compile(expression)).evaluate(activation)


def _true(value: Any) -> bool:
    """A CEL result that is the boolean true; an evaluation error counts as a refusal."""
    return isinstance(value, celpy.celtypes.BoolType) and bool(value)


def admission(
    policy: Mapping[str, Any],
    username: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    sub_resource: str = "",
) -> list[str]:
    """The messages of the validations that fail (empty: admitted), as the API server would
    evaluate the policy: matchConditions first, then variables in order, then validations."""
    spec = policy["spec"]
    request = {"userInfo": {"username": username}, "subResource": sub_resource}
    activation: dict[str, Any] = {
        "object": json_to_cel(json.loads(json.dumps(new))),
        "oldObject": json_to_cel(json.loads(json.dumps(old))),
        "request": json_to_cel(request),
    }
    if not all(_true(_eval(c["expression"], activation)) for c in spec.get("matchConditions", [])):
        return []
    variables: dict[str, Any] = {}
    for variable in spec.get("variables", []):
        activation["variables"] = celpy.celtypes.MapType(
            {celpy.celtypes.StringType(k): v for k, v in variables.items()}
        )
        variables[variable["name"]] = _eval(variable["expression"], activation)
    activation["variables"] = celpy.celtypes.MapType(
        {celpy.celtypes.StringType(k): v for k, v in variables.items()}
    )
    return [
        v["message"] for v in spec["validations"] if not _true(_eval(v["expression"], activation))
    ]


def _live(stack: str, result: Rendered | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The policy and the workload as it runs (a paused canary for a Rollout)."""
    result = result or rendered(stack)
    (policy,) = objects(result, "ValidatingAdmissionPolicy")
    (workload,) = objects(result, KIND[stack])
    live = copy.deepcopy(workload)
    live["metadata"]["generation"] = 3
    if KIND[stack] == "Rollout":
        live["status"] = {
            "phase": "Paused",
            "currentStepIndex": 1,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
            "stableRS": "6d4f",
        }
    return policy, live


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, what ``kubectl patch --type=merge`` sends."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def _with(obj: dict[str, Any], change: Any) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    change(changed)
    return changed


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = obj["spec"]["template"]["spec"]
    return pod


NEW_IMAGE = "ghcr.io/acme/webshop@sha256:" + "b" * 64


def _set_image(o: dict[str, Any]) -> None:
    _pod(o)["containers"][0]["image"] = NEW_IMAGE


@pytest.mark.parametrize("stack", STACKS)
def test_deployer_may_change_the_image(stack: str) -> None:
    policy, live = _live(stack)
    user = f"system:serviceaccount:{NS[stack]}:webshop-deployer"
    assert admission(policy, user, live, _with(live, _set_image)) == []


def _set_image_and_args(o: dict[str, Any]) -> None:
    _set_image(o)
    _pod(o)["containers"][0]["args"] = ["--dump-env"]


REFUSED_SPEC_CHANGES = {
    "command": lambda o: _pod(o)["containers"][0].__setitem__("command", ["sh", "-c", "cat /s/*"]),
    "image and command": lambda o: _set_image_and_args(o),
    "env from a secret": lambda o: _pod(o)["containers"][0].__setitem__(
        "envFrom", [{"secretRef": {"name": "webshop-registry"}}]
    ),
    "secret volume": lambda o: _pod(o)["volumes"].append(
        {"name": "s", "secret": {"secretName": "webshop-registry"}}
    ),
    "service account": lambda o: _pod(o).__setitem__("serviceAccountName", "default"),
    "token automount": lambda o: _pod(o).__setitem__("automountServiceAccountToken", True),
    "extra container": lambda o: _pod(o)["containers"].append(
        {"name": "sidecar", "image": "busybox"}
    ),
    "init container": lambda o: _pod(o).__setitem__(
        "initContainers", [{"name": "x", "image": "busybox"}]
    ),
    "pod labels": lambda o: o["spec"]["template"]["metadata"]["labels"].__setitem__("x", "y"),
    "replicas": lambda o: o["spec"].__setitem__("replicas", 0),
    "labels": lambda o: o["metadata"]["labels"].__setitem__("app.kubernetes.io/name", "other"),
    "annotations": lambda o: o["metadata"].setdefault("annotations", {}).__setitem__("a", "b"),
}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("change", sorted(REFUSED_SPEC_CHANGES))
def test_deployer_may_not_change_anything_else(stack: str, change: str) -> None:
    policy, live = _live(stack)
    user = f"system:serviceaccount:{NS[stack]}:webshop-deployer"
    assert admission(policy, user, live, _with(live, REFUSED_SPEC_CHANGES[change])) != []
    # The same change by anyone else (Pulumi, an operator) is not this policy's business.
    assert admission(policy, "admin", live, _with(live, REFUSED_SPEC_CHANGES[change])) == []


def _workflow_status_patches() -> list[dict[str, Any]]:
    """The status patches the deploy workflows send (promote, abort, retry), from their scripts:
    common's constants and the scripts/*.sh files the generator embeds."""
    sources = [str(v) for v in vars(common).values() if isinstance(v, str)]
    sources += [path.read_text() for path in sorted(common.SCRIPTS_DIR.glob("*.sh"))]
    found = re.findall(r"--type=merge --patch '(\{[^']*\})'", "\n".join(sources))
    return [json.loads(p) for p in found]


def _aborted_canary(live: dict[str, Any]) -> dict[str, Any]:
    """The Rollout after an abort of its canary: the canary's hash is not the stable one."""
    aborted: dict[str, Any] = _merge_patch(
        live, {"status": {"abort": True, "currentPodHash": "7c9a"}}
    )
    return aborted


def test_workflows_promote_abort_and_retry_pass_the_policy() -> None:
    patches = _workflow_status_patches()
    assert {json.dumps(p, sort_keys=True) for p in patches} == {
        '{"status": {"pauseConditions": null}}',
        '{"status": {"abort": true}}',
        '{"status": {"abort": false}}',
    }
    policy, live = _live("prod")
    user = "system:serviceaccount:webshop-prod:webshop-deployer"
    for patch in patches:
        before = _aborted_canary(live) if patch["status"].get("abort") is False else live
        new = _merge_patch(before, patch)
        assert admission(policy, user, before, new, "status") == [], patch


REFUSED_STATUS_CHANGES = {
    "skip a step": {"status": {"currentStepIndex": 3}},
    "add a pause": {"status": {"pauseConditions": [{"reason": "Mine"}]}},
    "claim healthy": {"status": {"phase": "Healthy"}},
    "stable replica set": {"status": {"stableRS": "evil"}},
}


@pytest.mark.parametrize("change", sorted(REFUSED_STATUS_CHANGES))
def test_deployer_may_only_promote_or_abort_on_status(change: str) -> None:
    policy, live = _live("prod")
    new = _merge_patch(live, REFUSED_STATUS_CHANGES[change])
    user = "system:serviceaccount:webshop-prod:webshop-deployer"
    assert admission(policy, user, live, new, "status") != []


def test_an_abort_is_taken_back_only_to_retry_the_aborted_canary() -> None:
    """A retry (abort back to false) restarts the canary the Rollout's spec names; it is refused
    where there is no aborted canary to restart, and together with any other status change."""
    policy, live = _live("prod")
    user = "system:serviceaccount:webshop-prod:webshop-deployer"
    aborted = _aborted_canary(live)
    retry = {"status": {"abort": False}}
    assert admission(policy, user, aborted, _merge_patch(aborted, retry), "status") == []
    # Aborted, but what the spec names is the stable ReplicaSet: no canary to retry.
    on_stable = _merge_patch(aborted, {"status": {"currentPodHash": "6d4f"}})
    assert admission(policy, user, on_stable, _merge_patch(on_stable, retry), "status")
    # No hash recorded at all: nothing proves there is a canary.
    unknown = _merge_patch(live, {"status": {"abort": True}})
    assert admission(policy, user, unknown, _merge_patch(unknown, retry), "status")
    # A retry may not also move the canary along.
    skip = {"status": {"abort": False, "currentStepIndex": 5}}
    assert admission(policy, user, aborted, _merge_patch(aborted, skip), "status")


def test_policy_matches_only_the_workload_kind_and_binds_to_the_namespace(stack: str) -> None:
    result = rendered(stack)
    (policy,) = objects(result, "ValidatingAdmissionPolicy")
    (binding,) = objects(result, "ValidatingAdmissionPolicyBinding")
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    expected = ["deployments"] if KIND[stack] == "Deployment" else ["rollouts", "rollouts/status"]
    assert rule["resources"] == expected
    assert rule["operations"] == ["UPDATE"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": NS[stack]}
    }


# --------------------------------------------------------------------------------------------
# People (cicd:access): own Roles, never Secrets; reserved groups refused
# --------------------------------------------------------------------------------------------

PEOPLE_NEVER = (
    ("", "secrets", ("get", "list", "watch")),
    ("", "pods/exec", ("create", "get")),
    ("", "pods/attach", ("create", "get")),
    ("", "pods/portforward", ("create", "get")),
    ("", "serviceaccounts/token", ("create",)),
    ("", "pods", ("create", "update", "patch")),
    ("", "users", ("impersonate",)),
    ("", "groups", ("impersonate",)),
    ("", "serviceaccounts", ("impersonate", "create", "update", "delete")),
    ("apps", "deployments", ("create", "update", "patch", "delete")),
    ("argoproj.io", "rollouts", ("create", "update", "patch", "delete")),
    ("batch", "jobs", ("create",)),
    ("networking.k8s.io", "networkpolicies", ("delete", "update", "patch", "deletecollection")),
    ("policy", "poddisruptionbudgets", ("delete", "update", "patch", "deletecollection")),
    ("rbac.authorization.k8s.io", "roles", ("create", "update", "patch", "bind", "escalate")),
    ("rbac.authorization.k8s.io", "rolebindings", ("create", "update", "patch", "delete")),
)


def people_groups(stack: str) -> dict[str, str]:
    """group -> role suffix it ends up with (operate wins over view)."""
    out: dict[str, str] = {}
    for binding in objects(rendered(stack), "RoleBinding"):
        name = binding["metadata"]["name"]
        if name.startswith("people-"):
            for subject in binding["subjects"]:
                if out.get(subject["name"]) != "operate":
                    out[subject["name"]] = name.removeprefix("people-")
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_people_read_what_a_release_needs_and_never_secrets(stack: str) -> None:
    result = rendered(stack)
    groups = people_groups(stack)
    assert groups, "every shipped stack binds at least one people group"
    for group, role in groups.items():
        who = {"kind": "Group", "name": group}
        for api_group, resource in (("", "pods"), ("", "pods/log"), ("", "events"),
                                    ("apps", "replicasets")):  # fmt: skip
            assert can(result, who, NS[stack], api_group, resource, "list")
        for api_group, resource, verbs in PEOPLE_NEVER:
            for verb in verbs:
                assert not can(result, who, NS[stack], api_group, resource, verb, "webshop"), (
                    f"{group} may {verb} {resource}"
                )
        assert can(result, who, NS[stack], "", "pods", "delete", "x") is (role == "operate")


def test_people_bindings_name_own_roles_never_cluster_roles(stack: str) -> None:
    for binding in objects(rendered(stack), "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role", binding["metadata"]["name"]


@pytest.mark.parametrize(
    "group",
    [
        "system:unauthenticated",
        "system:authenticated",
        "system:serviceaccounts",
        "system:serviceaccounts:webshop-prod",
        "system:masters",
        "system:nodes",
        "SYSTEM:Masters",
        "",
    ],
)
@pytest.mark.parametrize("key", ["viewerGroups", "operatorGroups"])
def test_reserved_groups_are_refused_in_people_bindings(key: str, group: str) -> None:
    lines = config_problems("prod", {f"cicd:access.{key}": ["webshop-sre", group]})
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Pulumi.prod.yaml: cicd:access.{key}[1] must ")


# --------------------------------------------------------------------------------------------
# cluster.access: githubOidc
# --------------------------------------------------------------------------------------------


def _oidc(stack: str = "dev") -> Rendered:
    return render_variant(stack, {"cicd:cluster.access": "githubOidc"})


def test_github_oidc_binds_the_environment_subject_and_stores_no_credential() -> None:
    result = _oidc()
    user = {"kind": "User", "name": OIDC_USER}
    assert can(result, user, "webshop-dev", "apps", "deployments", "patch", "webshop")
    assert not can(result, service_account("webshop-dev"), "webshop-dev", "", "pods", "get")
    assert not objects(result, "ServiceAccount") or all(
        a["metadata"]["name"] != "webshop-deployer" for a in objects(result, "ServiceAccount")
    )
    assert all(
        s.get("type") != "kubernetes.io/service-account-token" for s in objects(result, "Secret")
    )
    environment = github_settings(result)["environments"]["development"]
    assert "KUBECONFIG" not in environment["secrets"]
    assert environment["variables"]["KUBE_AUDIENCE"] == "https://k8s-nonprod.acme.example"
    assert environment["variables"]["KUBE_SERVER"] == "https://k8s-nonprod.acme.example:6443"
    # Admission sees the same identity: the image-only policy holds the OIDC user.
    (policy,) = objects(result, "ValidatingAdmissionPolicy")
    (deployment,) = objects(result, "Deployment")
    changed = _with(deployment, REFUSED_SPEC_CHANGES["command"])
    assert admission(policy, OIDC_USER, deployment, changed) != []
    assert admission(policy, OIDC_USER, deployment, _with(deployment, _set_image)) == []


def test_token_mode_keeps_the_kubeconfig_secret(stack: str) -> None:
    environment = next(iter(github_settings(rendered(stack))["environments"].values()))
    assert "KUBECONFIG" in environment["secrets"]
    assert "KUBE_AUDIENCE" not in environment["variables"]


def test_github_oidc_needs_a_platform_that_trusts_github() -> None:
    # The prod cluster's platform stack does not (yet) trust GitHub's issuer.
    with pytest.raises(Exception, match=r"does not trust GitHub's OIDC issuer"):
        _oidc("prod")


def test_github_oidc_deploy_workflows_pass_the_validators_and_ask_for_a_token() -> None:
    from tests.test_workflows import _actionlint, repo_files, workflows_of

    for stack in ("dev", "staging"):
        rendered_files = tree(_oidc(stack))
        workflows = workflows_of(rendered_files)
        assert _actionlint(workflows) == []
        assert validators.zizmor(repo_files(rendered_files)) == []
        for text in workflows.values():
            assert "secrets.KUBECONFIG" not in text
        deploy_file = next(t for p, t in workflows.items() if p.endswith("-deploy.yml"))
        jobs = yaml.safe_load(deploy_file)["jobs"]
        assert jobs["deploy"]["permissions"].get("id-token") == "write"
        # Only jobs that talk to the cluster get a token.
        for name, job in jobs.items():
            steps = [s.get("name", "") for s in job.get("steps", [])]
            if not any("kubeconfig (GitHub OIDC)" in s for s in steps):
                assert "id-token" not in (job.get("permissions") or {}), name
    token_files = workflows_of(files("staging"))
    token_jobs = yaml.safe_load(token_files[".github/workflows/stage-deploy.yml"])["jobs"]
    assert "id-token" not in (token_jobs["deploy"].get("permissions") or {})


def test_oidc_credential_plugin_fetches_a_token_for_the_cluster_audience(tmp_path: Path) -> None:
    # Given the step's script, a fake GitHub token endpoint (curl) and a recording kubectl,
    # when the step runs and kubectl then calls the plugin, the plugin asks for the cluster's
    # audience and hands kubectl an ExecCredential with GitHub's token.
    step = common.write_kubeconfig(ClusterAccess.GITHUB_OIDC)
    assert step.run is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(
        "#!/usr/bin/env bash\n"
        'printf "%s\\n" "$@" > "$RUNNER_TEMP/curl-args"\n'
        'echo \'{"value": "gh-oidc-jwt"}\'\n'
    )
    (bin_dir / "kubectl").write_text(
        '#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "$RUNNER_TEMP/kubectl-calls"\n'
    )
    for tool in ("curl", "kubectl"):
        (bin_dir / tool).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "KUBE_SERVER": "https://k8s.example:6443",
        "KUBE_CA_DATA": base64.b64encode(b"CA").decode(),
        "KUBE_AUDIENCE": "https://k8s.example",
        "NAMESPACE": "webshop-staging",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example/?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runtime-token",
    }
    done = subprocess.run(["bash", "-e", "-c", step.run], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "kubectl-calls").read_text()
    assert "--server=https://k8s.example:6443" in calls
    assert f"--exec-command={tmp_path}/github-oidc-token" in calls
    assert "--exec-env=KUBE_AUDIENCE=https://k8s.example" in calls
    assert "--namespace=webshop-staging" in calls
    assert (tmp_path / "cluster-ca.crt").read_bytes() == b"CA"
    plugin = subprocess.run(
        [str(tmp_path / "github-oidc-token")], env=env, capture_output=True, text=True
    )
    assert plugin.returncode == 0, plugin.stderr
    credential = json.loads(plugin.stdout)
    assert credential["kind"] == "ExecCredential"
    assert credential["status"] == {"token": "gh-oidc-jwt"}
    curl_args = (tmp_path / "curl-args").read_text().splitlines()
    assert "audience=https://k8s.example" in curl_args
    assert "Authorization: bearer runtime-token" in curl_args
    assert "https://token.example/?api-version=2.0" in curl_args
