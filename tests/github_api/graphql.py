"""The stand-in's GraphQL endpoint (``POST /api/graphql``): branch protection rules only.

Fake of: GitHub's GraphQL API for the operations terraform-provider-github v6.13.0's
``github_branch_protection`` (the program's ``BranchProtection``) sends through shurcooL/githubv4:
``github/util_v4_repository.go`` (``getRepositoryID``: ``node(id:)`` to test whether the
``repository_id`` is a node id, then ``repository(owner:, name:) { id }``),
``github/resource_github_branch_protection.go`` (``createBranchProtectionRule(input:)``,
``updateBranchProtectionRule(input:)``, ``deleteBranchProtectionRule(input:)``, and the read
``node(id:) { ... on BranchProtectionRule { ... } }`` with the fields of ``BranchProtectionRule``
in ``github/util_v4_branch_protection.go``). The operation is recognised from the query text that
githubv4 builds from those Go structs; it is not a GraphQL parser. Answers have GitHub's shape:
HTTP 200 with ``data``, and ``errors: [{"type", "path", "message"}]`` for a node that does not
exist ("Could not resolve to a node with the global id of '...'", the text the provider's Read
looks for) or an input GitHub refuses (the message text is ours; the rule,
``requiredApprovingReviewCount`` 0..6, is GitHub's). A rule's pattern is matched to branches by
exact name only (no ``fnmatch`` wildcards); a rule makes its branch protected for file commits
(tests/github_api/server.py ``_check_protected_commit``) with ``isAdminEnforced`` as
``enforce_admins``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from tests.github_api.server import GitHubStandIn, RepoState

RULE_FLAGS: Final = (
    "allowsDeletions",
    "allowsForcePushes",
    "blocksCreations",
    "dismissesStaleReviews",
    "isAdminEnforced",
    "requiresApprovingReviews",
    "requiresCodeOwnerReviews",
    "requiresCommitSignatures",
    "requiresLinearHistory",
    "requiresConversationResolution",
    "requiresStatusChecks",
    "requiresStrictStatusChecks",
    "restrictsPushes",
    "restrictsReviewDismissals",
    "requireLastPushApproval",
    "lockBranch",
)


class GraphQLError(Exception):
    def __init__(self, kind: str, path: str, message: str) -> None:
        super().__init__(message)
        self.error = {"type": kind, "path": [path], "message": message}
        self.path = path


def _not_found(path: str, node_id: str) -> GraphQLError:
    return GraphQLError(
        "NOT_FOUND", path, f"Could not resolve to a node with the global id of '{node_id}'"
    )


def answer(stand_in: GitHubStandIn, body: Any) -> dict[str, Any]:
    """The GraphQL response for one request body ``{"query", "variables"}``."""
    query = str((body or {}).get("query", ""))
    variables: Mapping[str, Any] = (body or {}).get("variables") or {}
    for pattern, operation in OPERATIONS:
        if re.search(pattern, query):
            try:
                return {"data": operation(stand_in, variables)}
            except GraphQLError as err:
                return {"data": {err.path: None}, "errors": [err.error]}
    return {
        "data": None,
        "errors": [
            {"type": "NOT_IMPLEMENTED", "message": "the stand-in does not serve this query"}
        ],
    }


def _repo_by_node(stand_in: GitHubStandIn, node_id: str) -> RepoState | None:
    return next((r for r in stand_in.repos.values() if f"R_{r.id}" == node_id), None)


def _rules(stand_in: GitHubStandIn) -> dict[str, tuple[RepoState, dict[str, Any]]]:
    return {
        rule["id"]: (repo, rule)
        for repo in stand_in.repos.values()
        for rule in repo.protection_rules.values()
    }


def _node(stand_in: GitHubStandIn, variables: Mapping[str, Any]) -> dict[str, Any]:
    node_id = str(variables.get("id"))
    if _repo_by_node(stand_in, node_id) is not None or node_id in _rules(stand_in):
        return {"node": {"id": node_id}}
    raise _not_found("node", node_id)


def _repository(stand_in: GitHubStandIn, variables: Mapping[str, Any]) -> dict[str, Any]:
    repo = stand_in.repos.get(str(variables.get("name")))
    if variables.get("owner") != stand_in.world.owner or repo is None:
        raise GraphQLError(
            "NOT_FOUND",
            "repository",
            f"Could not resolve to a Repository with the name "
            f"'{variables.get('owner')}/{variables.get('name')}'.",
        )
    return {"repository": {"id": f"R_{repo.id}"}}


def _check(values: Mapping[str, Any], path: str) -> None:
    count = values.get("requiredApprovingReviewCount") or 0
    if not 0 <= int(count) <= 6:
        raise GraphQLError(
            "UNPROCESSABLE", path, "requiredApprovingReviewCount must be between 0 and 6"
        )
    if not values.get("pattern"):
        raise GraphQLError("UNPROCESSABLE", path, "pattern can't be blank")


def _create(stand_in: GitHubStandIn, variables: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(variables.get("input") or {})
    repo = _repo_by_node(stand_in, str(values.get("repositoryId")))
    if repo is None:
        raise _not_found("createBranchProtectionRule", str(values.get("repositoryId")))
    _check(values, "createBranchProtectionRule")
    if values["pattern"] in repo.protection_rules:
        raise GraphQLError(
            "UNPROCESSABLE",
            "createBranchProtectionRule",
            "Name already protected: " + values["pattern"],
        )
    rule = {**values, "id": f"BPR_{next(stand_in._ids)}"}
    repo.protection_rules[values["pattern"]] = rule
    return {"createBranchProtectionRule": {"branchProtectionRule": {"id": rule["id"]}}}


def _update(stand_in: GitHubStandIn, variables: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(variables.get("input") or {})
    rule_id = str(values.pop("branchProtectionRuleId", ""))
    found = _rules(stand_in).get(rule_id)
    if found is None:
        raise _not_found("updateBranchProtectionRule", rule_id)
    repo, rule = found
    merged = {**rule, **values}
    _check(merged, "updateBranchProtectionRule")
    del repo.protection_rules[rule["pattern"]]
    repo.protection_rules[merged["pattern"]] = merged
    return {"updateBranchProtectionRule": {"branchProtectionRule": {"id": rule_id}}}


def _delete(stand_in: GitHubStandIn, variables: Mapping[str, Any]) -> dict[str, Any]:
    rule_id = str((variables.get("input") or {}).get("branchProtectionRuleId", ""))
    found = _rules(stand_in).get(rule_id)
    if found is None:
        raise _not_found("deleteBranchProtectionRule", rule_id)
    repo, rule = found
    del repo.protection_rules[rule["pattern"]]
    return {"deleteBranchProtectionRule": {"clientMutationId": None}}


def _read(stand_in: GitHubStandIn, variables: Mapping[str, Any]) -> dict[str, Any]:
    rule_id = str(variables.get("id"))
    found = _rules(stand_in).get(rule_id)
    if found is None:
        raise _not_found("node", rule_id)
    repo, rule = found
    node: dict[str, Any] = {
        "repository": {"id": f"R_{repo.id}", "name": repo.name},
        "pushAllowances": {"nodes": []},
        "reviewDismissalAllowances": {"nodes": []},
        "bypassForcePushAllowances": {"nodes": []},
        "bypassPullRequestAllowances": {"nodes": []},
        "id": rule_id,
        "pattern": rule["pattern"],
        "requiredApprovingReviewCount": rule.get("requiredApprovingReviewCount") or 0,
        "requiredStatusCheckContexts": list(rule.get("requiredStatusCheckContexts") or []),
    }
    node.update({flag: bool(rule.get(flag)) for flag in RULE_FLAGS})
    return {"node": node}


Operation = Callable[["GitHubStandIn", Mapping[str, Any]], dict[str, Any]]
OPERATIONS: Final[tuple[tuple[str, Operation], ...]] = (
    (r"createBranchProtectionRule\(", _create),
    (r"updateBranchProtectionRule\(", _update),
    (r"deleteBranchProtectionRule\(", _delete),
    (r"\.\.\. on BranchProtectionRule", _read),
    (r"repository\(owner:\$owner, ?name:\$name\)", _repository),
    (r"node\(id: ?\$id\)", _node),
)
