"""The GitHub provider's HTTP calls for the resources a render registered, sent to the stand-in.

Fake of: the GitHub provider pulumi-github v6.15.0, which is the Terraform provider
integrations/terraform-provider-github v6.13.0 (its ``upstream`` submodule commit 20728bb) behind
the Pulumi bridge. The provider binary cannot be built here: the Go module proxy does not serve
``github.com/pulumi/pulumi-github/provider/v6`` (403, "This module version is not available"),
and its go.mod replaces the Terraform provider with a local ``../upstream`` folder that a
consumer module cannot use. Until it can run, this module sends what its Create and Read
functions send, in their order, with the same bodies, taken from terraform-provider-github
v6.13.0 ``github/``:

- ``resource_github_repository_environment.go`` (``createUpdateEnvironmentData`` as go-github
  v88.0.0 marshals it: all of ``wait_timer`` (0 when unset), ``reviewers`` as ``{"type":
  "Team"|"User", "id": N}`` or null, ``can_admins_bypass``, ``deployment_branch_policy`` or null,
  ``prevent_self_review``; on a 422 without reviewers and wait timer, go-github's fallback PUT of
  the branch policy alone; then ``GET /repos/{o}/{r}``), read with ``GET .../environments/{name}``;
- ``resource_github_repository_environment_deployment_policy.go``: ``POST`` ``{"name", "type"}``
  (``tag`` when only ``tag_pattern`` is set), then ``GET /repos/{o}/{r}``;
- ``resource_github_actions_environment_secret.go`` / ``resource_github_actions_secret.go``:
  ``GET /repos/{o}/{r}``, the public key, ``box.SealAnonymous`` of the value
  (``encryptPlaintext``), ``PUT`` ``{"key_id", "encrypted_value"}``, then ``GET`` the secret;
- ``resource_github_actions_environment_variable.go`` / ``resource_github_actions_variable.go``:
  ``POST`` ``{"name", "value"}``, ``GET /repos/{o}/{r}``, ``GET`` the variable;
- ``resource_github_repository_ruleset.go``: ``GET /repos/{o}/{r}``, ``POST .../rulesets``
  (``conditions.ref_name.include``/``exclude``, one ``{"type": ...}`` per rule set to true);
- ``resource_github_repository_file.go``: ``GET /repos/{o}/{r}``, ``GET .../branches/{b}``,
  ``GET .../contents/{path}?ref=b`` (its ``sha`` is sent when ``overwrite_on_create``), ``PUT``
  ``{"message", "content", "branch", "sha"}``, then the Read: contents and ``GET
  .../commits/{sha}``.

tests/github_api/test_tofu_provider.py runs the provider itself (terraform-provider-github
v6.13.0 under OpenTofu) and checks that it sends these environment bodies.

One call differs on purpose: ``github_branch_protection`` (the program's ``BranchProtection``)
uses GitHub's GraphQL API; the replay sends the REST request of ``github_branch_protection_v3``
(``PUT .../branches/{b}/protection``) with the same settings, so they meet GitHub's REST
validation too. The provider's own GraphQL calls run in tests/github_api/test_tofu_provider.py.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from nacl.public import PublicKey, SealedBox

from render.engine import SECRET, Registration

GH: Final = "github:index/"
T_ENVIRONMENT: Final = GH + "repositoryEnvironment:RepositoryEnvironment"
T_POLICY: Final = GH + "repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
T_ENV_SECRET: Final = GH + "actionsEnvironmentSecret:ActionsEnvironmentSecret"
T_ENV_VARIABLE: Final = GH + "actionsEnvironmentVariable:ActionsEnvironmentVariable"
T_REPO_SECRET: Final = GH + "actionsSecret:ActionsSecret"
T_REPO_VARIABLE: Final = GH + "actionsVariable:ActionsVariable"
T_RULESET: Final = GH + "repositoryRuleset:RepositoryRuleset"
T_FILE: Final = GH + "repositoryFile:RepositoryFile"
T_PROTECTION: Final = GH + "branchProtection:BranchProtection"
RULE_FLAGS: Final = {
    "creation": "creation",
    "update": "update",
    "deletion": "deletion",
    "nonFastForward": "non_fast_forward",
    "requiredLinearHistory": "required_linear_history",
    "requiredSignatures": "required_signatures",
}


class ProviderError(Exception):
    """What the provider reports for an error answer: go-github's ``ErrorResponse`` text,
    ``METHOD URL: STATUS MESSAGE [errors]`` (go-github v88.0.0 ``github/github.go``)."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        message = body.get("message", "") if isinstance(body, dict) else str(body)
        errors = body.get("errors") if isinstance(body, dict) else None
        super().__init__(f"{method} {url}: {status} {message} {json.dumps(errors or [])}")
        self.status = status
        self.body = body


@dataclass
class ProviderReplay:
    """Sends the provider's calls for rendered resources to ``api_url`` as ``owner``."""

    api_url: str
    owner: str
    token: str
    secret_values: Mapping[str, str] = field(default_factory=dict)
    """Plain values for secrets the render shows as ``[secret]``, by secret name."""
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What the provider keeps per resource name after create (ids, commit shas)."""

    def request(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.api_url}/{path}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            raise ProviderError(method, url, err.code, json.loads(raw) if raw else None) from None
        return json.loads(raw) if raw else None

    # -- create -----------------------------------------------------------------------------

    def apply(self, resources: Iterable[Registration]) -> None:
        """Create every GitHub resource, in registration order (dependencies come first)."""
        for resource in resources:
            if resource.type.startswith(GH):
                self.create(resource)

    def create(self, resource: Registration) -> None:
        i, o = resource.inputs, self.owner
        repo = str(i.get("repository") or i.get("repositoryId"))
        env = quote(str(i.get("environment", "")), safe="")
        kind = resource.type
        if kind == T_ENVIRONMENT:
            self._put_environment(f"repos/{o}/{repo}/environments/{env}", environment_body(i))
            self.request("GET", f"repos/{o}/{repo}")
        elif kind == T_POLICY:
            policy_type = "branch" if i.get("branchPattern") else "tag"
            pattern = i.get("branchPattern") or i.get("tagPattern")
            created = self.request(
                "POST",
                f"repos/{o}/{repo}/environments/{env}/deployment-branch-policies",
                {"name": pattern, "type": policy_type},
            )
            self.request("GET", f"repos/{o}/{repo}")
            self.state[resource.name] = {"policy_id": created["id"]}
        elif kind in (T_ENV_SECRET, T_REPO_SECRET):
            repo_id = self.request("GET", f"repos/{o}/{repo}")["id"]
            scope = (
                f"repositories/{repo_id}/environments/{env}/secrets"
                if kind == T_ENV_SECRET
                else f"repos/{o}/{repo}/actions/secrets"
            )
            key = self.request("GET", f"{scope}/public-key")
            name = str(i["secretName"])
            value = self._plain(name, str(i.get("value", "")))
            sealed = SealedBox(PublicKey(base64.b64decode(key["key"]))).encrypt(value.encode())
            self.request(
                "PUT",
                f"{scope}/{name}",
                {"key_id": key["key_id"], "encrypted_value": base64.b64encode(sealed).decode()},
            )
            self.request("GET", f"{scope}/{name}")
        elif kind in (T_ENV_VARIABLE, T_REPO_VARIABLE):
            scope = (
                f"repos/{o}/{repo}/environments/{env}/variables"
                if kind == T_ENV_VARIABLE
                else f"repos/{o}/{repo}/actions/variables"
            )
            name = str(i["variableName"])
            self.request("POST", scope, {"name": name, "value": i["value"]})
            self.request("GET", f"repos/{o}/{repo}")
            self.request("GET", f"{scope}/{name}")
        elif kind == T_RULESET:
            self.request("GET", f"repos/{o}/{repo}")
            created = self.request("POST", f"repos/{o}/{repo}/rulesets", ruleset_body(i))
            self.state[resource.name] = {"ruleset_id": created["id"]}
        elif kind == T_FILE:
            self.state[resource.name] = self._commit_file(repo, i)
        elif kind == T_PROTECTION:
            branch = quote(str(i["pattern"]), safe="")
            self.request(
                "PUT", f"repos/{o}/{repo}/branches/{branch}/protection", protection_body(i)
            )
        else:
            raise NotImplementedError(f"no provider calls known for {kind}")

    def _put_environment(self, path: str, body: dict[str, Any]) -> None:
        """go-github v88.0.0 ``CreateUpdateEnvironment``: on a 422 for a body without reviewers
        and without a wait timer it sends again with only ``deployment_branch_policy`` (the
        fields a Pro/Team plan's private repository accepts), and that answer is the result."""
        try:
            self.request("PUT", path, body)
        except ProviderError as err:
            if err.status != 422 or body.get("reviewers") or body.get("wait_timer"):
                raise
            self.request(
                "PUT", path, {"deployment_branch_policy": body.get("deployment_branch_policy")}
            )

    def _plain(self, name: str, rendered: str) -> str:
        return self.secret_values.get(name, rendered) if rendered == SECRET else rendered

    def _commit_file(self, repo: str, i: Mapping[str, Any]) -> dict[str, Any]:
        o = self.owner
        repo_json = self.request("GET", f"repos/{o}/{repo}")
        branch = str(i.get("branch") or repo_json["default_branch"])
        self.request("GET", f"repos/{o}/{repo}/branches/{quote(branch, safe='')}")
        path = str(i["file"])
        body: dict[str, Any] = {
            "message": i.get("commitMessage") or f"Add {path}",
            "content": base64.b64encode(str(i["content"]).encode()).decode(),
            "branch": branch,
        }
        try:
            existing = self.request("GET", f"repos/{o}/{repo}/contents/{path}?ref={branch}")
        except ProviderError as err:
            if err.status != 404:
                raise
        else:
            if not i.get("overwriteOnCreate"):
                raise ProviderError(
                    "PUT", path, 0, {"message": "refusing to overwrite existing file"}
                )
            body["sha"] = existing["sha"]
        created = self.request("PUT", f"repos/{o}/{repo}/contents/{path}", body)
        commit_sha = created["commit"]["sha"]
        self.request("GET", f"repos/{o}/{repo}/contents/{path}?ref={branch}")
        self.request("GET", f"repos/{o}/{repo}/commits/{commit_sha}")
        return {"commit_sha": commit_sha, "branch": branch}

    # -- read (refresh) ---------------------------------------------------------------------

    def drift(self, resources: Iterable[Registration]) -> list[str]:
        """Read every resource back as the provider's Read does; what differs from the inputs
        (an empty list is a preview with no changes)."""
        out: list[str] = []
        for resource in resources:
            if resource.type.startswith(GH):
                out.extend(f"{resource.name}: {d}" for d in self._differences(resource))
        return out

    def _differences(self, resource: Registration) -> list[str]:
        i, o = resource.inputs, self.owner
        repo = str(i.get("repository") or i.get("repositoryId"))
        env = quote(str(i.get("environment", "")), safe="")
        kind = resource.type
        if kind == T_ENVIRONMENT:
            return _compare(
                environment_state(
                    self.request("GET", f"repos/{o}/{repo}/environments/{env}"),
                    environment_body(i),
                ),
                environment_body(i),
            )
        if kind == T_POLICY:
            policy_id = self.state[resource.name]["policy_id"]
            got = self.request(
                "GET", f"repos/{o}/{repo}/environments/{env}/deployment-branch-policies/{policy_id}"
            )
            return _compare(
                {"name": got["name"]}, {"name": i.get("branchPattern") or i.get("tagPattern")}
            )
        if kind in (T_ENV_VARIABLE, T_REPO_VARIABLE):
            scope = (
                f"repos/{o}/{repo}/environments/{env}/variables"
                if kind == T_ENV_VARIABLE
                else f"repos/{o}/{repo}/actions/variables"
            )
            got = self.request("GET", f"{scope}/{i['variableName']}")
            return _compare({"value": got["value"]}, {"value": i["value"]})
        if kind in (T_ENV_SECRET, T_REPO_SECRET):
            repo_id = self.request("GET", f"repos/{o}/{repo}")["id"]
            scope = (
                f"repositories/{repo_id}/environments/{env}/secrets"
                if kind == T_ENV_SECRET
                else f"repos/{o}/{repo}/actions/secrets"
            )
            self.request("GET", f"{scope}/{i['secretName']}")
            return []
        if kind == T_RULESET:
            rid = self.state[resource.name]["ruleset_id"]
            got = self.request("GET", f"repos/{o}/{repo}/rulesets/{rid}?includes_parents=false")
            want = ruleset_body(i)
            return _compare({k: got.get(k) for k in want}, want)
        if kind == T_FILE:
            branch = self.state[resource.name]["branch"]
            got = self.request("GET", f"repos/{o}/{repo}/contents/{i['file']}?ref={branch}")
            self.request(
                "GET", f"repos/{o}/{repo}/commits/{self.state[resource.name]['commit_sha']}"
            )
            content = base64.b64decode(got["content"]).decode()
            return [] if content == i["content"] else [f"content differs in {i['file']}"]
        if kind == T_PROTECTION:
            branch = quote(str(i["pattern"]), safe="")
            got = self.request("GET", f"repos/{o}/{repo}/branches/{branch}/protection")
            want = protection_body(i)
            have = {
                "required_status_checks": got["required_status_checks"],
                "enforce_admins": got["enforce_admins"]["enabled"],
                "required_pull_request_reviews": got["required_pull_request_reviews"],
                "restrictions": got["restrictions"],
                "allow_force_pushes": got["allow_force_pushes"]["enabled"],
                "allow_deletions": got["allow_deletions"]["enabled"],
                "required_conversation_resolution": got["required_conversation_resolution"][
                    "enabled"
                ],
            }
            return _compare(have, want)
        raise NotImplementedError(f"no provider calls known for {kind}")


def _compare(have: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    return [f"{k}: {have.get(k)!r} != {v!r}" for k, v in want.items() if have.get(k) != v]


def environment_body(i: Mapping[str, Any]) -> dict[str, Any]:
    """The request body of ``createUpdateEnvironmentData`` (terraform-provider-github v6.13.0) as
    go-github v88.0.0 marshals it (``CreateUpdateEnvironment.MarshalJSON``): ``wait_timer`` 0
    when unset (the provider leaves a zero unset), ``reviewers`` and ``deployment_branch_policy``
    null when unset, ``can_admins_bypass`` and ``prevent_self_review`` always."""
    reviewers = i.get("reviewers") or []
    block = reviewers[0] if reviewers else {}
    listed = [{"type": "Team", "id": t} for t in block.get("teams") or []] + [
        {"type": "User", "id": u} for u in block.get("users") or []
    ]
    policy = i.get("deploymentBranchPolicy")
    return {
        "wait_timer": i.get("waitTimer") or 0,
        "reviewers": listed if reviewers else None,
        "can_admins_bypass": bool(i.get("canAdminsBypass", True)),
        "deployment_branch_policy": (
            {
                "protected_branches": bool(policy.get("protectedBranches")),
                "custom_branch_policies": bool(policy.get("customBranchPolicies")),
            }
            if policy
            else None
        ),
        "prevent_self_review": bool(i.get("preventSelfReview", False)),
    }


def environment_state(got: Mapping[str, Any], kept: Mapping[str, Any]) -> dict[str, Any]:
    """An environment as the provider's Read leaves its state, in the request's shape.

    ``resourceGithubRepositoryEnvironmentRead`` (v6.13.0) clears ``wait_timer`` and sets it from
    a ``wait_timer`` rule; ``reviewers`` and ``prevent_self_review`` are set only from a
    ``required_reviewers`` rule, so without one they keep what the state held (``kept``, the
    last body sent): a reviewer list or a self-review setting GitHub dropped is not seen.
    """
    state: dict[str, Any] = {
        "wait_timer": 0,
        "reviewers": kept.get("reviewers"),
        "can_admins_bypass": got["can_admins_bypass"],
        "deployment_branch_policy": got.get("deployment_branch_policy"),
        "prevent_self_review": kept.get("prevent_self_review"),
    }
    for rule in got["protection_rules"]:
        if rule["type"] == "wait_timer":
            state["wait_timer"] = rule["wait_timer"]
        elif rule["type"] == "required_reviewers":
            state["reviewers"] = [
                {"type": r["type"], "id": r["reviewer"]["id"]}
                for kind in ("Team", "User")
                for r in rule["reviewers"]
                if r["type"] == kind
            ]
            state["prevent_self_review"] = rule["prevent_self_review"]
    return state


def ruleset_body(i: Mapping[str, Any]) -> dict[str, Any]:
    ref_name = (i.get("conditions") or {}).get("refName") or {}
    rules = i.get("rules") or {}
    return {
        "name": i["name"],
        "target": i.get("target", "branch"),
        "enforcement": i["enforcement"],
        "conditions": {
            "ref_name": {
                "include": list(ref_name.get("includes") or []),
                "exclude": list(ref_name.get("excludes") or []),
            }
        },
        "rules": [{"type": t} for flag, t in RULE_FLAGS.items() if rules.get(flag)],
        "bypass_actors": [
            {
                "actor_id": a.get("actorId"),
                "actor_type": a["actorType"],
                "bypass_mode": a.get("bypassMode", "always"),
            }
            for a in i.get("bypassActors") or []
        ],
    }


def protection_body(i: Mapping[str, Any]) -> dict[str, Any]:
    """The REST shape (``github_branch_protection_v3``) of a ``BranchProtection``'s settings."""
    checks = (i.get("requiredStatusChecks") or [None])[0]
    reviews = (i.get("requiredPullRequestReviews") or [None])[0]
    return {
        "required_status_checks": (
            {"strict": bool(checks.get("strict")), "contexts": list(checks.get("contexts") or [])}
            if checks
            else None
        ),
        "enforce_admins": bool(i.get("enforceAdmins")),
        "required_pull_request_reviews": (
            {
                "dismiss_stale_reviews": bool(reviews.get("dismissStaleReviews")),
                "require_code_owner_reviews": bool(reviews.get("requireCodeOwnerReviews")),
                "required_approving_review_count": reviews.get("requiredApprovingReviewCount", 1),
                "require_last_push_approval": bool(reviews.get("requireLastPushApproval")),
            }
            if reviews
            else None
        ),
        "restrictions": None,
        "allow_force_pushes": bool(i.get("allowsForcePushes")),
        "allow_deletions": bool(i.get("allowsDeletions")),
        "required_conversation_resolution": bool(i.get("requireConversationResolution")),
    }
