"""A stand-in for the GitHub REST API (v3), served over HTTP on loopback.

Fake of: GitHub's REST API as GitHub Enterprise Server serves it, under ``/api/v3/``, for the
endpoints the stacks' GitHub resources call through the GitHub provider. The provider is the
Terraform provider integrations/terraform-provider-github v6.13.0 (the ``upstream`` submodule
commit 20728bb of pulumi/pulumi-github v6.15.0, the version requirements.txt pins), which talks to
GitHub through google/go-github v88.0.0. Request paths and bodies are the ones those sources send
(go-github ``github/repos_environments.go``, ``repos_deployment_branch_policies.go``,
``actions_secrets.go``, ``actions_variables.go``, ``repos_rules.go``, ``repos_contents.go``,
``repos_commits.go``, ``repos_prot.go``, ``teams.go``, ``users.go``, ``repos.go`` at v88.0.0;
the provider's ``github/resource_github_*.go`` and ``github/config.go`` at v6.13.0). Responses
and validation follow GitHub's REST reference (the OpenAPI description in
github/rest-api-description, ``descriptions/api.github.com/api.github.com.yaml``, API version
2022-11-28, description 16.6.0): field names, status codes (201 created / 204 updated,
303 for a duplicate deployment-branch policy, 404, 409, 422) and the error body
``{"message": ..., "errors": [...], "documentation_url": ..., "status": "<code>"}``.

Behaviour assumed where the reference names a rule but not the exact message (the message text is
ours; the status code and the rule are GitHub's): the 422s of an environment (``wait_timer`` out of
0..43200, more than six reviewers, a reviewer id that is not a user or team of the organisation,
``prevent_self_review`` without reviewers, both deployment-branch-policy modes at once), of a
secret or variable name outside ``^[A-Za-z0-9_]+$`` or starting with ``GITHUB_`` or a digit, of a
sealed secret whose ``key_id`` is not the served key or that the served key cannot open, of a
ruleset whose name is taken or whose ``ref_name`` patterns are not ``refs/heads/``,
``refs/tags/``, ``~DEFAULT_BRANCH`` or ``~ALL``, and of branch protection without its four
required keys; 409 for a variable that exists and for a file whose ``sha`` is stale; 409 for a
commit to a protected branch by anyone but an admin when ``enforce_admins`` is off (GitHub's
classic protection lets admins through unless ``enforce_admins`` is on).

Secrets: each repository and each environment gets its own Curve25519 key pair (PyNaCl); the
stand-in serves the public half (``GET .../secrets/public-key``) and opens a sealed value only with
the private half of the key whose ``key_id`` came with it, as GitHub does. Opened values stay in
memory for the test to compare (:meth:`GitHubStandIn.secret_value`); the recorded calls hold the
sealed value only.

GraphQL (``POST /api/graphql``) serves branch protection rules only, the operations of the
provider's ``github_branch_protection`` (the program's ``BranchProtection``): see
tests/github_api/graphql.py. Not implemented (answered 404 with a ``message``, and listed in
docs/github-api.md): other GraphQL queries, pagination beyond one page, ETag/304 revalidation,
rate limits, plans and repository visibility rules, webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from tests.github_api import graphql

API_PREFIX: Final = "/api/v3"
"""Where GitHub Enterprise Server serves REST; the provider appends ``api/v3/`` to a base URL
that is not github.com or ghe.com (terraform-provider-github v6.13.0 ``github/config.go``,
``getBaseURL``/``GHESRESTAPIPath``), over http or https."""

GRAPHQL_PATH: Final = "/api/graphql"
"""GitHub Enterprise Server's GraphQL endpoint (the provider's ``GHESGraphQLAPIPath``)."""
DOCS: Final = "https://docs.github.com/rest"
NAME_RULE: Final = re.compile(r"^[A-Za-z0-9_]+$")
MAX_WAIT_TIMER: Final = 43200
MAX_REVIEWERS: Final = 6
REF_PATTERN: Final = re.compile(r"^(refs/heads/|refs/tags/).+|^~DEFAULT_BRANCH$|^~ALL$")
RULE_TYPES: Final = frozenset(
    {
        "creation",
        "update",
        "deletion",
        "required_linear_history",
        "required_deployments",
        "required_signatures",
        "pull_request",
        "required_status_checks",
        "non_fast_forward",
        "commit_message_pattern",
        "commit_author_email_pattern",
        "committer_email_pattern",
        "branch_name_pattern",
        "tag_name_pattern",
        "merge_queue",
        "code_scanning",
    }
)
BYPASS_ACTOR_TYPES: Final = frozenset(
    {"Integration", "OrganizationAdmin", "RepositoryRole", "Team", "DeployKey"}
)


class ApiError(Exception):
    """An error answer in GitHub's shape."""

    def __init__(
        self, status: int, message: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "documentation_url": DOCS}
        if self.errors is not None:
            out["errors"] = self.errors
        out["status"] = str(self.status)
        return out


def _invalid(message: str, field_name: str | None = None, resource: str = "") -> ApiError:
    errors = (
        [{"resource": resource, "field": field_name, "code": "invalid", "message": message}]
        if field_name
        else None
    )
    return ApiError(422, message if not errors else "Validation Failed", errors)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _blob_sha(content: bytes) -> str:
    """The git blob id GitHub reports as a file's ``sha``."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


@dataclass
class KeyPair:
    """A secrets key pair: ``key_id`` and the public key are served, the private key opens."""

    key_id: str
    private: PrivateKey = field(default_factory=PrivateKey.generate)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(bytes(self.private.public_key)).decode()


@dataclass
class StoredSecret:
    value: str
    created_at: str
    updated_at: str


@dataclass
class StoredVariable:
    value: str
    created_at: str
    updated_at: str


@dataclass
class Environment:
    id: int
    name: str
    body: dict[str, Any]
    keys: KeyPair
    policies: dict[int, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, StoredSecret] = field(default_factory=dict)
    variables: dict[str, StoredVariable] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)


@dataclass
class Commit:
    sha: str
    message: str
    branch: str
    path: str
    date: str


@dataclass
class Repository:
    """A repository of the world: its branches (name -> head commit), files per branch."""

    name: str
    default_branch: str = "main"
    branches: tuple[str, ...] = ("main",)
    private: bool = True
    id: int = 0


@dataclass
class RepoState:
    id: int
    name: str
    default_branch: str
    private: bool
    heads: dict[str, str]
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    keys: KeyPair = field(default_factory=lambda: KeyPair("repo-key-1"))
    secrets: dict[str, StoredSecret] = field(default_factory=dict)
    variables: dict[str, StoredVariable] = field(default_factory=dict)
    rulesets: dict[int, dict[str, Any]] = field(default_factory=dict)
    protection: dict[str, dict[str, Any]] = field(default_factory=dict)
    protection_rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    """GraphQL branch protection rules by pattern (tests/github_api/graphql.py)."""


@dataclass(frozen=True)
class StandInWorld:
    """What exists before the first call: the organisation, its people, teams and repositories.

    ``token`` is the one credential accepted (``Authorization: Bearer``/``token``); it belongs to
    ``token_user``, who is an admin of every repository when ``token_is_admin``.
    """

    owner: str = "acme"
    owner_id: int = 1000
    users: Mapping[str, int] = field(default_factory=lambda: {"octo-admin": 1})
    teams: Mapping[str, int] = field(default_factory=dict)
    repositories: tuple[Repository, ...] = (Repository("webshop"),)
    token: str = "stand-in-token"
    token_user: str = "octo-admin"
    token_is_admin: bool = True


@dataclass(frozen=True)
class Call:
    """One request as the stand-in received it (path without ``/api/v3``) and its status."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any
    status: int


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any
    params: Mapping[str, str]

    def json_object(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return self.body


Answer = tuple[int, Any]
Handler = Callable[["GitHubStandIn", Request], Answer]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
SEG: Final = r"(?P<{}>[^/]+)"


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``METHOD /path/{param}/...`` (``{path+}`` takes the rest)."""
    pattern = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", template)
    pattern = re.sub(r"\{(\w+)\}", lambda m: SEG.format(m.group(1)), pattern)

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


class GitHubStandIn:
    """The server and its state; start it with :meth:`running` (a context manager).

    ``base_url`` is what ``github:baseUrl`` takes (the provider adds ``api/v3/``); ``calls`` is
    every request received, in order.
    """

    def __init__(self, world: StandInWorld | None = None) -> None:
        self.world = world or StandInWorld()
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(5000)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.repos: dict[str, RepoState] = {}
        for repo in self.world.repositories:
            state = RepoState(
                id=repo.id or next(self._ids),
                name=repo.name,
                default_branch=repo.default_branch,
                private=repo.private,
                heads={},
            )
            for branch in dict.fromkeys((repo.default_branch, *repo.branches)):
                state.heads[branch] = self._commit(state, "initial commit", branch, "")
            self.repos[repo.name] = state

    # -- lifecycle ---------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[GitHubStandIn]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers = stand_in.handle(
                    self.command, self.path, raw, self.headers.get("Authorization", "")
                )
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_PUT(self) -> None:
                self._serve()

            def do_PATCH(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``: a GitHub Enterprise Server base URL."""
        if self._server is None:
            raise RuntimeError("the stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/") + API_PREFIX

    # -- what tests read ---------------------------------------------------------------------

    def calls_to(self, method: str, path_pattern: str) -> list[Call]:
        """Recorded calls of ``method`` whose path matches the regular expression (fully)."""
        rx = re.compile(path_pattern)
        return [c for c in self.calls if c.method == method and rx.fullmatch(c.path)]

    def secret_value(self, repository: str, name: str, environment: str | None = None) -> str:
        """The value a sealed secret opened to (only the stand-in's own private key opens it)."""
        repo = self.repos[repository]
        holder = repo.environments[environment].secrets if environment else repo.secrets
        return holder[name].value

    def public_key(self, repository: str, environment: str | None = None) -> tuple[str, str]:
        """(key_id, base64 public key) served for the repository or one of its environments."""
        repo = self.repos[repository]
        keys = repo.environments[environment].keys if environment else repo.keys
        return keys.key_id, keys.public_b64

    def file_content(self, repository: str, path: str, branch: str | None = None) -> str:
        repo = self.repos[repository]
        return repo.files[(branch or repo.default_branch, path)].decode()

    # -- dispatch ----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, raw_body: bytes, authorization: str
    ) -> tuple[int, Any, dict[str, str]]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        path = split.path
        try:
            body: Any = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = raw_body.decode(errors="replace")
        relative = path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path
        with self._lock:
            try:
                if not self._authorised(authorization):
                    raise ApiError(401, "Bad credentials")
                if path == GRAPHQL_PATH and method == "POST":
                    status, answer = 200, graphql.answer(self, body)
                elif not path.startswith(API_PREFIX + "/"):
                    raise ApiError(404, "Not Found (this stand-in serves REST under /api/v3/)")
                else:
                    status, answer = self._dispatch(method, relative, query, body)
            except ApiError as err:
                status, answer = err.status, err.body()
            self.calls.append(Call(method, unquote(relative), query, body, status))
        return (
            status,
            answer,
            {"ETag": f'"{hashlib.sha1(repr(answer).encode(), usedforsecurity=False).hexdigest()}"'},
        )

    def _authorised(self, authorization: str) -> bool:
        scheme, _, credential = authorization.partition(" ")
        return scheme.lower() in ("bearer", "token") and credential == self.world.token

    def _dispatch(
        self, method: str, path: str, query: Mapping[str, list[str]], body: Any
    ) -> Answer:
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if match is None or route_method != method:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            return handler(self, Request(method, path, query, body, params))
        # GitHub answers 404 both for an unknown path and for a method a path does not take.
        raise ApiError(404, "Not Found")

    # -- helpers -----------------------------------------------------------------------------

    def _repo(self, req: Request) -> RepoState:
        if req.params.get("owner", self.world.owner) != self.world.owner:
            raise ApiError(404, "Not Found")
        if "repo_id" in req.params:
            for known in self.repos.values():
                if str(known.id) == req.params["repo_id"]:
                    return known
            raise ApiError(404, "Not Found")
        found = self.repos.get(req.params["repo"])
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def _environment(self, repo: RepoState, name: str) -> Environment:
        env = repo.environments.get(name)
        if env is None:
            raise ApiError(404, "Not Found")
        return env

    def _commit(self, repo: RepoState, message: str, branch: str, path: str) -> str:
        sha = hashlib.sha1(
            f"{repo.name}/{branch}/{path}/{message}/{next(self._ids)}".encode(),
            usedforsecurity=False,
        ).hexdigest()
        repo.commits[sha] = Commit(sha, message, branch, path, _now())
        return sha

    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": self.world.users[login],
            "node_id": f"U_{self.world.users[login]}",
            "type": "User",
            "site_admin": False,
        }

    def _team(self, slug: str) -> dict[str, Any]:
        return {
            "id": self.world.teams[slug],
            "node_id": f"T_{self.world.teams[slug]}",
            "slug": slug,
            "name": slug,
            "description": "",
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "organization": {"login": self.world.owner, "id": self.world.owner_id},
        }

    def _repo_json(self, repo: RepoState) -> dict[str, Any]:
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": f"{self.world.owner}/{repo.name}",
            "owner": {"login": self.world.owner, "id": self.world.owner_id, "type": "Organization"},
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "default_branch": repo.default_branch,
            "archived": False,
            "permissions": {"admin": self.world.token_is_admin, "push": True, "pull": True},
        }


# -- users, organisation, teams, repositories -------------------------------------------------


@route("GET", "/user")
def _get_authenticated_user(s: GitHubStandIn, req: Request) -> Answer:
    return 200, s._user(s.world.token_user)


@route("GET", "/users/{login}")
def _get_user(s: GitHubStandIn, req: Request) -> Answer:
    if req.params["login"] not in s.world.users:
        raise ApiError(404, "Not Found")
    return 200, s._user(req.params["login"])


@route("GET", "/users/{login}/gpg_keys")
@route("GET", "/users/{login}/keys")
def _get_user_keys(s: GitHubStandIn, req: Request) -> Answer:
    if req.params["login"] not in s.world.users:
        raise ApiError(404, "Not Found")
    return 200, []


@route("GET", "/orgs/{org}")
def _get_org(s: GitHubStandIn, req: Request) -> Answer:
    if req.params["org"] != s.world.owner:
        raise ApiError(404, "Not Found")
    return 200, {"login": s.world.owner, "id": s.world.owner_id, "type": "Organization"}


@route("GET", "/orgs/{org}/teams/{slug}")
def _get_team(s: GitHubStandIn, req: Request) -> Answer:
    if req.params["org"] != s.world.owner or req.params["slug"] not in s.world.teams:
        raise ApiError(404, "Not Found")
    return 200, s._team(req.params["slug"])


@route("GET", "/orgs/{org}/teams/{slug}/members")
@route("GET", "/orgs/{org}/teams/{slug}/repos")
def _get_team_lists(s: GitHubStandIn, req: Request) -> Answer:
    _get_team(s, req)
    return 200, []


@route("GET", "/repos/{owner}/{repo}")
def _get_repo(s: GitHubStandIn, req: Request) -> Answer:
    return 200, s._repo_json(s._repo(req))


@route("GET", "/repos/{owner}/{repo}/branches/{branch}")
def _get_branch(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    branch = req.params["branch"]
    if branch not in repo.heads:
        raise ApiError(404, "Branch not found")
    return 200, {
        "name": branch,
        "commit": {"sha": repo.heads[branch]},
        "protected": branch in repo.protection,
    }


# -- environments -----------------------------------------------------------------------------


def _environment_json(s: GitHubStandIn, repo: RepoState, env: Environment) -> dict[str, Any]:
    body = env.body
    rules: list[dict[str, Any]] = []
    if body.get("wait_timer"):
        rules.append({"id": env.id + 1, "type": "wait_timer", "wait_timer": body["wait_timer"]})
    if body.get("reviewers"):
        reviewers = []
        for reviewer in body["reviewers"]:
            if reviewer["type"] == "User":
                login = next(k for k, v in s.world.users.items() if v == reviewer["id"])
                reviewers.append({"type": "User", "reviewer": s._user(login)})
            else:
                slug = next(k for k, v in s.world.teams.items() if v == reviewer["id"])
                reviewers.append({"type": "Team", "reviewer": s._team(slug)})
        rules.append(
            {
                "id": env.id + 2,
                "type": "required_reviewers",
                "prevent_self_review": bool(body.get("prevent_self_review")),
                "reviewers": reviewers,
            }
        )
    if body.get("deployment_branch_policy"):
        rules.append({"id": env.id + 3, "type": "branch_policy"})
    return {
        "id": env.id,
        "node_id": f"EN_{env.id}",
        "name": env.name,
        "url": f"{s.api_url}/repos/{s.world.owner}/{repo.name}/environments/{env.name}",
        "html_url": f"https://github.example/{s.world.owner}/{repo.name}/deployments",
        "created_at": env.created_at,
        "updated_at": env.updated_at,
        "can_admins_bypass": body.get("can_admins_bypass", True),
        "protection_rules": rules,
        "deployment_branch_policy": body.get("deployment_branch_policy"),
    }


def _check_environment(s: GitHubStandIn, body: dict[str, Any]) -> None:
    wait_timer = body.get("wait_timer")
    if wait_timer is not None and (
        not isinstance(wait_timer, int) or not 0 <= wait_timer <= MAX_WAIT_TIMER
    ):
        raise _invalid(
            f"wait_timer must be an integer between 0 and {MAX_WAIT_TIMER} (got {wait_timer})",
            "wait_timer",
            "Environment",
        )
    reviewers = body.get("reviewers") or []
    if len(reviewers) > MAX_REVIEWERS:
        raise _invalid(
            f"reviewers: you can list up to {MAX_REVIEWERS} users or teams (got {len(reviewers)})",
            "reviewers",
            "Environment",
        )
    for reviewer in reviewers:
        kind, rid = reviewer.get("type"), reviewer.get("id")
        known = s.world.users if kind == "User" else s.world.teams if kind == "Team" else None
        if known is None:
            raise _invalid(f"reviewer type must be User or Team (got {kind!r})", "reviewers")
        if rid not in known.values():
            raise _invalid(f"{kind} reviewer {rid} was not found", "reviewers", "Environment")
    if body.get("prevent_self_review") and not reviewers:
        raise _invalid(
            "prevent_self_review can only be set on an environment with required reviewers",
            "prevent_self_review",
            "Environment",
        )
    policy = body.get("deployment_branch_policy")
    if policy is not None:
        if not isinstance(policy, dict) or not {
            "protected_branches",
            "custom_branch_policies",
        } <= set(policy):
            raise _invalid(
                "deployment_branch_policy needs protected_branches and custom_branch_policies",
                "deployment_branch_policy",
            )
        if policy["protected_branches"] and policy["custom_branch_policies"]:
            raise _invalid(
                "Only one of protected_branches and custom_branch_policies can be true",
                "deployment_branch_policy",
                "Environment",
            )


@route("PUT", "/repos/{owner}/{repo}/environments/{env}")
def _put_environment(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    body = dict(req.body or {})
    _check_environment(s, body)
    name = req.params["env"]
    env = repo.environments.get(name)
    if env is None:
        env = Environment(next(s._ids) * 10, name, body, KeyPair(f"env-key-{name}"))
        repo.environments[name] = env
    else:
        env.body, env.updated_at = body, _now()
    return 200, _environment_json(s, repo, env)


@route("GET", "/repos/{owner}/{repo}/environments/{env}")
def _get_environment(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    return 200, _environment_json(s, repo, s._environment(repo, req.params["env"]))


@route("GET", "/repos/{owner}/{repo}/environments")
def _list_environments(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    envs = [_environment_json(s, repo, e) for e in repo.environments.values()]
    return 200, {"total_count": len(envs), "environments": envs}


@route("DELETE", "/repos/{owner}/{repo}/environments/{env}")
def _delete_environment(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    s._environment(repo, req.params["env"])
    del repo.environments[req.params["env"]]
    return 204, None


# -- deployment branch policies ---------------------------------------------------------------


def _custom_policies_env(s: GitHubStandIn, req: Request) -> Environment:
    repo = s._repo(req)
    env = s._environment(repo, req.params["env"])
    policy = env.body.get("deployment_branch_policy") or {}
    if not policy.get("custom_branch_policies"):
        raise ApiError(404, "Not Found")
    return env


@route("POST", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies")
def _create_policy(s: GitHubStandIn, req: Request) -> Answer:
    env = _custom_policies_env(s, req)
    body = req.json_object()
    name, kind = body.get("name"), body.get("type", "branch")
    if not isinstance(name, str) or not name:
        raise _invalid("name is required", "name", "DeploymentBranchPolicy")
    if kind not in ("branch", "tag"):
        raise _invalid(f"type must be branch or tag (got {kind!r})", "type")
    for existing in env.policies.values():
        if existing["name"] == name and existing["type"] == kind:
            raise ApiError(303, "The same branch name pattern already exists")
    policy_id = next(s._ids)
    env.policies[policy_id] = {
        "id": policy_id,
        "node_id": f"DBP_{policy_id}",
        "name": name,
        "type": kind,
    }
    return 200, env.policies[policy_id]


@route("GET", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies")
def _list_policies(s: GitHubStandIn, req: Request) -> Answer:
    env = _custom_policies_env(s, req)
    return 200, {"total_count": len(env.policies), "branch_policies": list(env.policies.values())}


def _policy(env: Environment, req: Request) -> dict[str, Any]:
    policy_id = req.params["policy_id"]
    if not policy_id.isdigit() or int(policy_id) not in env.policies:
        raise ApiError(404, "Not Found")
    return env.policies[int(policy_id)]


@route("GET", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies/{policy_id}")
def _get_policy(s: GitHubStandIn, req: Request) -> Answer:
    return 200, _policy(_custom_policies_env(s, req), req)


@route("PUT", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies/{policy_id}")
def _update_policy(s: GitHubStandIn, req: Request) -> Answer:
    policy = _policy(_custom_policies_env(s, req), req)
    name = req.json_object().get("name")
    if not isinstance(name, str) or not name:
        raise _invalid("name is required", "name", "DeploymentBranchPolicy")
    policy["name"] = name
    return 200, policy


@route("DELETE", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies/{policy_id}")
def _delete_policy(s: GitHubStandIn, req: Request) -> Answer:
    env = _custom_policies_env(s, req)
    del env.policies[_policy(env, req)["id"]]
    return 204, None


# -- secrets ----------------------------------------------------------------------------------


def _check_name(name: str, what: str) -> None:
    if not NAME_RULE.match(name) or name.upper().startswith("GITHUB_") or name[0].isdigit():
        raise _invalid(
            f"{what} names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or "
            f"underscores (_), must not start with GITHUB_ or a number (got {name!r})",
            "name",
        )


def _open_sealed(keys: KeyPair, body: dict[str, Any]) -> str:
    if body.get("key_id") != keys.key_id:
        raise _invalid(f"key_id {body.get('key_id')!r} is not this scope's public key", "key_id")
    try:
        sealed = base64.b64decode(str(body.get("encrypted_value", "")), validate=True)
        return SealedBox(keys.private).decrypt(sealed).decode()
    except (ValueError, CryptoError) as err:
        raise _invalid(
            "encrypted_value must be a sealed box of this scope's public key (base64)",
            "encrypted_value",
        ) from err


def _store_secret(holder: dict[str, StoredSecret], name: str, value: str) -> Answer:
    _check_name(name, "Secret")
    now = _now()
    if name in holder:
        holder[name].value, holder[name].updated_at = value, now
        return 204, None
    holder[name] = StoredSecret(value, now, now)
    return 201, {}


def _secret_json(holder: dict[str, StoredSecret], name: str) -> Answer:
    if name not in holder:
        raise ApiError(404, "Not Found")
    return 200, {
        "name": name,
        "created_at": holder[name].created_at,
        "updated_at": holder[name].updated_at,
    }


@route("GET", "/repos/{owner}/{repo}/actions/secrets/public-key")
def _repo_public_key(s: GitHubStandIn, req: Request) -> Answer:
    keys = s._repo(req).keys
    return 200, {"key_id": keys.key_id, "key": keys.public_b64}


@route("PUT", "/repos/{owner}/{repo}/actions/secrets/{name}")
def _put_repo_secret(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    value = _open_sealed(repo.keys, req.json_object())
    return _store_secret(repo.secrets, req.params["name"], value)


@route("GET", "/repos/{owner}/{repo}/actions/secrets/{name}")
def _get_repo_secret(s: GitHubStandIn, req: Request) -> Answer:
    return _secret_json(s._repo(req).secrets, req.params["name"])


@route("DELETE", "/repos/{owner}/{repo}/actions/secrets/{name}")
def _delete_repo_secret(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    _secret_json(repo.secrets, req.params["name"])
    del repo.secrets[req.params["name"]]
    return 204, None


@route("GET", "/repositories/{repo_id}/environments/{env}/secrets/public-key")
def _env_public_key(s: GitHubStandIn, req: Request) -> Answer:
    keys = s._environment(s._repo(req), req.params["env"]).keys
    return 200, {"key_id": keys.key_id, "key": keys.public_b64}


@route("PUT", "/repositories/{repo_id}/environments/{env}/secrets/{name}")
def _put_env_secret(s: GitHubStandIn, req: Request) -> Answer:
    env = s._environment(s._repo(req), req.params["env"])
    value = _open_sealed(env.keys, req.json_object())
    return _store_secret(env.secrets, req.params["name"], value)


@route("GET", "/repositories/{repo_id}/environments/{env}/secrets/{name}")
def _get_env_secret(s: GitHubStandIn, req: Request) -> Answer:
    return _secret_json(s._environment(s._repo(req), req.params["env"]).secrets, req.params["name"])


@route("DELETE", "/repositories/{repo_id}/environments/{env}/secrets/{name}")
def _delete_env_secret(s: GitHubStandIn, req: Request) -> Answer:
    env = s._environment(s._repo(req), req.params["env"])
    _secret_json(env.secrets, req.params["name"])
    del env.secrets[req.params["name"]]
    return 204, None


# -- variables --------------------------------------------------------------------------------


def _create_variable(holder: dict[str, StoredVariable], body: dict[str, Any]) -> Answer:
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str) or not isinstance(value, str):
        raise _invalid("name and value are required strings", "name", "Variable")
    _check_name(name, "Variable")
    if name.upper() in (existing.upper() for existing in holder):
        raise ApiError(409, "Already exists - Variable already exists")
    now = _now()
    holder[name] = StoredVariable(value, now, now)
    return 201, {}


def _variable(holder: dict[str, StoredVariable], name: str) -> StoredVariable:
    if name not in holder:
        raise ApiError(404, "Not Found")
    return holder[name]


def _variable_json(holder: dict[str, StoredVariable], name: str) -> Answer:
    v = _variable(holder, name)
    return 200, {
        "name": name,
        "value": v.value,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
    }


def _update_variable(holder: dict[str, StoredVariable], name: str, body: dict[str, Any]) -> Answer:
    variable = _variable(holder, name)
    new_name = body.get("name", name)
    if new_name != name:
        _check_name(new_name, "Variable")
        holder[new_name] = holder.pop(name)
    if "value" in body:
        variable.value = str(body["value"])
    variable.updated_at = _now()
    return 204, None


@route("POST", "/repos/{owner}/{repo}/actions/variables")
def _post_repo_variable(s: GitHubStandIn, req: Request) -> Answer:
    return _create_variable(s._repo(req).variables, req.json_object())


@route("GET", "/repos/{owner}/{repo}/actions/variables/{name}")
def _get_repo_variable(s: GitHubStandIn, req: Request) -> Answer:
    return _variable_json(s._repo(req).variables, req.params["name"])


@route("PATCH", "/repos/{owner}/{repo}/actions/variables/{name}")
def _patch_repo_variable(s: GitHubStandIn, req: Request) -> Answer:
    return _update_variable(s._repo(req).variables, req.params["name"], req.json_object())


@route("DELETE", "/repos/{owner}/{repo}/actions/variables/{name}")
def _delete_repo_variable(s: GitHubStandIn, req: Request) -> Answer:
    holder = s._repo(req).variables
    _variable(holder, req.params["name"])
    del holder[req.params["name"]]
    return 204, None


@route("POST", "/repos/{owner}/{repo}/environments/{env}/variables")
def _post_env_variable(s: GitHubStandIn, req: Request) -> Answer:
    env = s._environment(s._repo(req), req.params["env"])
    return _create_variable(env.variables, req.json_object())


@route("GET", "/repos/{owner}/{repo}/environments/{env}/variables/{name}")
def _get_env_variable(s: GitHubStandIn, req: Request) -> Answer:
    env = s._environment(s._repo(req), req.params["env"])
    return _variable_json(env.variables, req.params["name"])


@route("PATCH", "/repos/{owner}/{repo}/environments/{env}/variables/{name}")
def _patch_env_variable(s: GitHubStandIn, req: Request) -> Answer:
    env = s._environment(s._repo(req), req.params["env"])
    return _update_variable(env.variables, req.params["name"], req.json_object())


@route("DELETE", "/repos/{owner}/{repo}/environments/{env}/variables/{name}")
def _delete_env_variable(s: GitHubStandIn, req: Request) -> Answer:
    env = s._environment(s._repo(req), req.params["env"])
    _variable(env.variables, req.params["name"])
    del env.variables[req.params["name"]]
    return 204, None


# -- rulesets ---------------------------------------------------------------------------------


def _check_ruleset(repo: RepoState, body: dict[str, Any], ruleset_id: int | None) -> None:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid("name is required", "name", "Ruleset")
    if any(r["name"] == name and r["id"] != ruleset_id for r in repo.rulesets.values()):
        raise _invalid("Name must be unique", "name", "Ruleset")
    if body.get("enforcement") not in ("disabled", "active", "evaluate"):
        raise _invalid("enforcement must be disabled, active or evaluate", "enforcement", "Ruleset")
    if body.get("target", "branch") not in ("branch", "tag", "push"):
        raise _invalid("target must be branch, tag or push", "target", "Ruleset")
    ref_name = (body.get("conditions") or {}).get("ref_name") or {}
    for pattern in [*(ref_name.get("include") or []), *(ref_name.get("exclude") or [])]:
        if not REF_PATTERN.match(pattern):
            raise _invalid(
                f"Invalid target patterns: '{pattern}' (a ref_name pattern starts with "
                "refs/heads/ or refs/tags/, or is ~DEFAULT_BRANCH or ~ALL)",
                "conditions",
                "Ruleset",
            )
    for rule in body.get("rules") or []:
        if rule.get("type") not in RULE_TYPES:
            raise _invalid(f"Invalid rule type {rule.get('type')!r}", "rules", "Ruleset")
    for actor in body.get("bypass_actors") or []:
        if actor.get("actor_type") not in BYPASS_ACTOR_TYPES or actor.get("bypass_mode") not in (
            "always",
            "pull_request",
        ):
            raise _invalid(f"Invalid bypass actor {actor!r}", "bypass_actors", "Ruleset")


def _ruleset_json(s: GitHubStandIn, repo: RepoState, ruleset: dict[str, Any]) -> dict[str, Any]:
    return {
        **ruleset,
        "source_type": "Repository",
        "source": f"{s.world.owner}/{repo.name}",
        "node_id": f"RRS_{ruleset['id']}",
        "current_user_can_bypass": "always",
    }


@route("POST", "/repos/{owner}/{repo}/rulesets")
def _create_ruleset(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    body = req.json_object()
    _check_ruleset(repo, body, None)
    ruleset_id = next(s._ids)
    repo.rulesets[ruleset_id] = {"target": "branch", "bypass_actors": [], **body, "id": ruleset_id}
    return 201, _ruleset_json(s, repo, repo.rulesets[ruleset_id])


@route("GET", "/repos/{owner}/{repo}/rulesets")
def _list_rulesets(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    return 200, [_ruleset_json(s, repo, r) for r in repo.rulesets.values()]


def _ruleset(repo: RepoState, req: Request) -> dict[str, Any]:
    rid = req.params["ruleset_id"]
    if not rid.isdigit() or int(rid) not in repo.rulesets:
        raise ApiError(404, "Not Found")
    return repo.rulesets[int(rid)]


@route("GET", "/repos/{owner}/{repo}/rulesets/{ruleset_id}")
def _get_ruleset(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    return 200, _ruleset_json(s, repo, _ruleset(repo, req))


@route("PUT", "/repos/{owner}/{repo}/rulesets/{ruleset_id}")
def _update_ruleset(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    ruleset = _ruleset(repo, req)
    merged = {**ruleset, **req.json_object(), "id": ruleset["id"]}
    _check_ruleset(repo, merged, ruleset["id"])
    repo.rulesets[ruleset["id"]] = merged
    return 200, _ruleset_json(s, repo, merged)


@route("DELETE", "/repos/{owner}/{repo}/rulesets/{ruleset_id}")
def _delete_ruleset(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    del repo.rulesets[_ruleset(repo, req)["id"]]
    return 204, None


# -- branch protection (REST; github_branch_protection_v3) ------------------------------------

PROTECTION_KEYS: Final = (
    "required_status_checks",
    "enforce_admins",
    "required_pull_request_reviews",
    "restrictions",
)


@route("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection")
def _put_protection(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    branch = req.params["branch"]
    if branch not in repo.heads:
        raise ApiError(404, "Branch not found")
    body = req.json_object()
    missing = [key for key in PROTECTION_KEYS if key not in body]
    if missing:
        raise _invalid(
            f"Invalid request. {', '.join(missing)} required (each may be null)", missing[0]
        )
    reviews = body["required_pull_request_reviews"] or {}
    count = reviews.get("required_approving_review_count", 0)
    if not isinstance(count, int) or not 0 <= count <= 6:
        raise _invalid(
            "required_approving_review_count must be between 0 and 6",
            "required_approving_review_count",
        )
    repo.protection[branch] = body
    return 200, _protection_json(s, repo, branch)


def _protection_json(s: GitHubStandIn, repo: RepoState, branch: str) -> dict[str, Any]:
    body = repo.protection[branch]
    url = f"{s.api_url}/repos/{s.world.owner}/{repo.name}/branches/{branch}/protection"
    return {
        "url": url,
        "required_status_checks": body["required_status_checks"],
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": bool(body["enforce_admins"])},
        "required_pull_request_reviews": body["required_pull_request_reviews"],
        "restrictions": body["restrictions"],
        "allow_force_pushes": {"enabled": bool(body.get("allow_force_pushes"))},
        "allow_deletions": {"enabled": bool(body.get("allow_deletions"))},
        "required_conversation_resolution": {
            "enabled": bool(body.get("required_conversation_resolution"))
        },
    }


@route("GET", "/repos/{owner}/{repo}/branches/{branch}/protection")
def _get_protection(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    if req.params["branch"] not in repo.protection:
        raise ApiError(404, "Branch not protected")
    return 200, _protection_json(s, repo, req.params["branch"])


@route("DELETE", "/repos/{owner}/{repo}/branches/{branch}/protection")
def _delete_protection(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    if repo.protection.pop(req.params["branch"], None) is None:
        raise ApiError(404, "Branch not protected")
    return 204, None


# -- repository files -------------------------------------------------------------------------


def _content_json(s: GitHubStandIn, repo: RepoState, branch: str, path: str) -> dict[str, Any]:
    data = repo.files[(branch, path)]
    url = f"{s.api_url}/repos/{s.world.owner}/{repo.name}/contents/{path}?ref={branch}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": base64.b64encode(data).decode(),
        "sha": _blob_sha(data),
        "url": url,
    }


def _commit_json(s: GitHubStandIn, repo: RepoState, sha: str) -> dict[str, Any]:
    commit = repo.commits[sha]
    person = {
        "name": s.world.token_user,
        "email": f"{s.world.token_user}@users.noreply",
        "date": commit.date,
    }
    return {
        "sha": sha,
        "node_id": f"C_{sha[:12]}",
        "commit": {"message": commit.message, "author": person, "committer": person},
        "files": [{"filename": commit.path}] if commit.path else [],
    }


def _ref(repo: RepoState, query: Mapping[str, list[str]]) -> str:
    branch = (query.get("ref") or [repo.default_branch])[0]
    if branch not in repo.heads:
        raise ApiError(404, f"No commit found for the ref {branch}")
    return branch


@route("GET", "/repos/{owner}/{repo}/contents/{path+}")
def _get_contents(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    branch, path = _ref(repo, req.query), req.params["path"]
    if (branch, path) not in repo.files:
        raise ApiError(404, "Not Found")
    return 200, _content_json(s, repo, branch, path)


def _check_protected_commit(s: GitHubStandIn, repo: RepoState, branch: str) -> None:
    protection = repo.protection.get(branch)
    rule = repo.protection_rules.get(branch)
    if protection is None and rule is not None:
        protection = {"enforce_admins": rule.get("isAdminEnforced")}
    if protection is None:
        return
    if s.world.token_is_admin and not protection.get("enforce_admins"):
        return  # classic protection: admins pass unless enforce_admins is on
    raise ApiError(409, f"Protected branch update failed for refs/heads/{branch}.")


@route("PUT", "/repos/{owner}/{repo}/contents/{path+}")
def _put_contents(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    body = req.json_object()
    path = req.params["path"]
    branch = body.get("branch") or repo.default_branch
    if branch not in repo.heads:
        raise ApiError(404, f"Branch {branch} not found")
    if not body.get("message"):
        raise _invalid("message is required", "message", "Commit")
    try:
        data = base64.b64decode(str(body.get("content", "")), validate=True)
    except ValueError as err:
        raise _invalid("content is not valid Base64", "content", "Commit") from err
    existing = repo.files.get((branch, path))
    if existing is not None:
        if not body.get("sha"):
            raise _invalid('"sha" wasn\'t supplied.', "sha", "Commit")
        if body["sha"] != _blob_sha(existing):
            raise ApiError(409, f"{path} does not match {body['sha']}")
    _check_protected_commit(s, repo, branch)
    repo.files[(branch, path)] = data
    sha = s._commit(repo, str(body["message"]), branch, path)
    repo.heads[branch] = sha
    return (201 if existing is None else 200), {
        "content": _content_json(s, repo, branch, path),
        "commit": _commit_json(s, repo, sha),
    }


@route("DELETE", "/repos/{owner}/{repo}/contents/{path+}")
def _delete_contents(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    body = req.json_object()
    path = req.params["path"]
    branch = body.get("branch") or repo.default_branch
    existing = repo.files.get((branch, path))
    if existing is None:
        raise ApiError(404, "Not Found")
    if body.get("sha") != _blob_sha(existing):
        raise ApiError(409, f"{path} does not match {body.get('sha')}")
    _check_protected_commit(s, repo, branch)
    del repo.files[(branch, path)]
    sha = s._commit(repo, str(body.get("message", "")), branch, path)
    repo.heads[branch] = sha
    return 200, {"content": None, "commit": _commit_json(s, repo, sha)}


@route("GET", "/repos/{owner}/{repo}/commits/{sha}")
def _get_commit(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    if req.params["sha"] not in repo.commits:
        raise ApiError(422, f"No commit found for SHA: {req.params['sha']}")
    return 200, _commit_json(s, repo, req.params["sha"])


@route("GET", "/repos/{owner}/{repo}/commits")
def _list_commits(s: GitHubStandIn, req: Request) -> Answer:
    repo = s._repo(req)
    branch = (req.query.get("sha") or [repo.default_branch])[0]
    paths = req.query.get("path")
    path = paths[0] if paths else None
    found = [
        _commit_json(s, repo, c.sha)
        for c in reversed(list(repo.commits.values()))
        if c.branch == branch and (path is None or c.path == path)
    ]
    return 200, found
