"""Steps and shell scripts shared by the CI and deploy workflows.

The scripts are plain bash that read every value from environment variables (the model rejects
``${{`` in a script). The deploy scripts only use what the deployer's Kubernetes Role allows:
get/patch of the Rollout or Deployment, ``rollouts/status`` patches for promote and abort, reads
of pods, replica sets and analysis runs. No kubectl plugin is needed: promote and abort are the
status patches the Argo Rollouts plugin itself sends.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from components.vocabulary import ClusterAccess
from components.workflows import contract, pins
from components.workflows.contract import secret, var
from components.workflows.model import (
    Access,
    Grant,
    Scope,
    Step,
    StepRef,
    always,
    any_of,
    eq,
    expr,
    same,
    template,
)

if TYPE_CHECKING:
    from components.workflows.spec import WorkflowsSpec

KUBECTL_VERSION: Final = "v1.34.1"
"""kubectl installed by azure/setup-kubectl (its ``version`` input is required)."""

KUBECONFIG_PATH: Final = template(expr("runner.temp"), "/kubeconfig")
"""Where the environment's KUBECONFIG secret is written (runner temp, removed at job end)."""

DIGEST_PATTERN: Final = r"^sha256:[0-9a-f]{64}$"
TAG_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
IMAGE_REF_PATTERN: Final = r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(@sha256:[0-9a-f]{64}|:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$"

WORKLOAD_ENV: Final = {
    "NAMESPACE": var("NAMESPACE"),
    "WORKLOAD_NAME": var("WORKLOAD_NAME"),
    "WORKLOAD_KIND": var("WORKLOAD_KIND"),
    "APP_URL": var("APP_URL"),
}
"""Job env of a deploy job: the GitHub environment's variables, written by the stack. Only a
job with ``environment:`` sees them (tests/test_contract.py checks every read)."""


def image_env(spec: WorkflowsSpec) -> dict[str, str]:
    """Workflow-level ``env:`` of the image repository (without tag or digest), as ci.yml has it.

    A literal in the file rather than a GitHub variable: the stack that commits the workflow
    knows it, every job (``verify`` outside the environment included) sees it, and there is no
    scope in which it could be empty.
    """
    return {"IMAGE": spec.image}


SAME_REPOSITORY: Final = any_of(
    eq("github.event_name", "push"),
    same("github.event.pull_request.head.repo.full_name", "github.repository"),
)
"""Secrets and write tokens exist for pushes and same-repository PRs, never for forks."""


SCRIPTS_DIR: Final = Path(__file__).with_name("scripts")
"""Shell scripts the generator embeds in ``run:`` steps (shellchecked by the tests)."""


@cache
def script(name: str) -> str:
    """The body of scripts/``name``: the file without its ``#!`` line, embedded verbatim.

    Scripts live in files so that shellcheck and an editor see real bash; they take every value
    from environment variables, so the embedded text never holds an expression.
    """
    lines = (SCRIPTS_DIR / name).read_text().splitlines(keepends=True)
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    return "".join(lines)


SECRET_STEP: Final = StepRef("secret", ("present",))
"""The step :func:`secret_gate` writes."""


def secret_gate(secret: str) -> Step:
    """Output ``present`` (true/false) of step ``secret``: whether this run has the secret.

    Dependabot's runs get no Actions secrets (same repository, yet empty secrets) and forks get
    none; the steps that need the secret run ``if: steps.secret.outputs.present == 'true'``, and
    the notice says why they did not.
    """
    return run(
        f"Check that {secret} is available",
        script("secret_gate.sh"),
        env={"SECRET_NAME": secret, "SECRET_VALUE": contract.secret(secret)},
        id=SECRET_STEP.id,
    )


HAS_SECRET: Final = eq(SECRET_STEP.output_ref("present"), "true")
"""``if:`` of the steps after a secret_gate."""


def checkout(fetch_depth: int | None = None, ref: str | None = None) -> Step:
    """actions/checkout without leaving the token in .git/config (persist-credentials off)."""
    with_: dict[str, str | int | bool] = {"persist-credentials": False}
    if fetch_depth is not None:
        with_["fetch-depth"] = fetch_depth
    if ref is not None:
        with_["ref"] = ref
    return Step(name="Check out the repository", uses=pins.CHECKOUT, with_=with_)


def upload_artifact(name: str, artifact: str, path: str, retention_days: int) -> Step:
    """Upload ``path`` as ``artifact``; a missing file fails the step rather than passing silently."""
    return Step(
        name=name,
        uses=pins.UPLOAD_ARTIFACT,
        with_={
            "name": artifact,
            "path": path,
            "if-no-files-found": "error",
            "retention-days": retention_days,
        },
    )


def setup_node(version: str, cache: bool) -> Step:
    """Node.js; the npm cache only where no release is built from it (see callers)."""
    with_: dict[str, str | int | bool] = {"node-version": version}
    if cache:
        with_["cache"] = "npm"
    else:
        with_["package-manager-cache"] = False
    return Step(name="Set up Node.js", uses=pins.SETUP_NODE, with_=with_)


def run(name: str, script: str, env: dict[str, str] | None = None, **kwargs: str) -> Step:
    """A bash step; ``kwargs`` are ``id`` and ``if_``."""
    return Step(
        name=name,
        run=script if script.endswith("\n") else script + "\n",
        env=env or {},
        id=kwargs.get("id"),
        if_=kwargs.get("if_"),
    )


def setup_kubectl() -> Step:
    return Step(name="Install kubectl", uses=pins.SETUP_KUBECTL, with_={"version": KUBECTL_VERSION})


# cluster.access githubOidc: a kubeconfig whose user is a kubectl credential plugin that asks
# GitHub for a fresh OIDC token (audience: the cluster's) on every kubectl call, so a token never
# outlives a few minutes, a long rollout wait never runs into an expired one, and nothing is
# stored. The job's GitHub environment puts the environment into the token's sub, which is the
# user the RoleBinding names.
_OIDC_KUBECONFIG: Final = script("kubeconfig_oidc.sh")

# cluster.access inCluster: the job runs on the environment's runner scale set; the kubeconfig
# names the runner pod's own ServiceAccount token file (docs/runners.md).
_IN_CLUSTER_KUBECONFIG: Final = script("kubeconfig_in_cluster.sh")


def cluster_grants(access: ClusterAccess) -> tuple[Grant, ...]:
    """What a job that talks to the cluster needs of its GITHUB_TOKEN: an OIDC token, or nothing."""
    if access is ClusterAccess.GITHUB_OIDC:
        return (Grant(Scope.ID_TOKEN, Access.WRITE, "a short-lived OIDC token for the cluster"),)
    return ()


def write_kubeconfig(access: ClusterAccess = ClusterAccess.TOKEN) -> Step:
    """The deployer kubeconfig in the runner's temp folder.

    token: the environment secret becomes a private file; only this step sees the secret.
    githubOidc: a kubeconfig built from the environment's variables (server, CA, audience)
    around a credential plugin that fetches GitHub OIDC tokens; the job needs ``id-token:
    write`` (:func:`cluster_grants`).
    inCluster: a kubeconfig around the runner pod's ServiceAccount token file and CA; no
    secret, no variable (the job runs on the environment's runner scale set).
    """
    if access is ClusterAccess.IN_CLUSTER:
        return run(
            "Write the deployer kubeconfig (in-cluster ServiceAccount)",
            _IN_CLUSTER_KUBECONFIG,
            env={"KUBECONFIG": KUBECONFIG_PATH},
        )
    if access is ClusterAccess.GITHUB_OIDC:
        return run(
            "Write the deployer kubeconfig (GitHub OIDC)",
            _OIDC_KUBECONFIG,
            env={
                "KUBECONFIG": KUBECONFIG_PATH,
                "KUBE_SERVER": var("KUBE_SERVER"),
                "KUBE_CA_DATA": var("KUBE_CA_DATA"),
                "KUBE_AUDIENCE": var("KUBE_AUDIENCE"),
            },
        )
    return run(
        "Write the deployer kubeconfig",
        'umask 077\nprintf \'%s\\n\' "$KUBECONFIG_CONTENT" > "$KUBECONFIG"',
        env={"KUBECONFIG_CONTENT": secret("KUBECONFIG"), "KUBECONFIG": KUBECONFIG_PATH},
    )


def remove_kubeconfig() -> Step:
    return run(
        "Remove the kubeconfig",
        'rm -f "$KUBECONFIG"',
        env={"KUBECONFIG": KUBECONFIG_PATH},
        if_=always(),
    )


def kube(name: str, script: str, env: dict[str, str] | None = None, **kwargs: str) -> Step:
    """A step that talks to the cluster with the deployer kubeconfig."""
    return run(name, script, {"KUBECONFIG": KUBECONFIG_PATH, **(env or {})}, **kwargs)


# The deploy steps' scripts live in scripts/*.sh (shellchecked, embedded verbatim); each takes its
# values from the env: its helper below (or its caller, for RECORD_STABLE) sets.
SET_IMAGE: Final = script("set_image.sh")

READ_FAILURES_TOLERATED: Final = 3
"""Consecutive failed reads of the Rollout the wait rides out, one loop interval (10 s) apart:
an API server restart or a dropped connection lasts seconds, and a release aborted for one
costs a whole new canary. The next failure in a row fails the wait (about 40 s without an
answer), so a cluster that stays unreachable still ends the run as a failure."""

INCONCLUSIVE_PAUSE_REASON: Final = "InconclusiveAnalysisRun"
"""The pause condition Argo Rollouts sets when a background analysis ends Inconclusive
(``PauseReasonInconclusiveAnalysis`` in pkg/apis/rollouts/v1alpha1/types.go, v1.8.3);
WAIT_HEALTHY spells it in its jq filter, and tests/analysis/test_inconclusive_wait.py checks both
against the controller's source."""

WAIT_HEALTHY: Final = script("wait_healthy.sh")

ABORT_ROLLOUT: Final = script("abort_rollout.sh")

ABORT_RELEASE: Final = script("abort_release.sh")

RECORD_STABLE: Final = script("record_stable.sh")
"""Env: the workload's, and IMAGE_REF_PATTERN (:data:`IMAGE_REF_PATTERN`, set by its caller)."""

PROMOTE: Final = script("promote.sh")

HEALTH_CHECK: Final = script("health_check.sh")


def set_image(new_image: str) -> Step:
    return kube("Set the new image", SET_IMAGE, {"NEW_IMAGE": new_image}, id="set-image")


def wait_healthy(
    timeout_seconds: int, promoted_from: str = "", accept_pause: bool = True, **kwargs: str
) -> Step:
    """Wait up to ``timeout_seconds`` (the release plan's wait); outputs ``state`` and ``step``.

    ``promoted_from`` is the step index a promotion started at: its stale pause is not reported.
    ``accept_pause``: a manual pause ends the wait as ``state=paused`` (a release waiting for a
    person); off for a rollback, which must reach Healthy: a paused rollback leaves traffic split.
    """
    return kube(
        kwargs.pop("name", "Wait until the rollout is healthy or paused"),
        WAIT_HEALTHY,
        {
            "TIMEOUT_SECONDS": str(timeout_seconds),
            "PROMOTED_FROM": promoted_from,
            "ACCEPT_PAUSE": "true" if accept_pause else "false",
            "READ_FAILURES_TOLERATED": str(READ_FAILURES_TOLERATED),
        },
        **kwargs,
    )


def health_check(retries: int, health_path: str) -> Step:
    return run(
        "Check the app's health endpoint",
        HEALTH_CHECK,
        {"RETRIES": str(retries), "HEALTH_PATH": health_path},
    )


def npm_command(name: str, command: str, env: dict[str, str] | None = None) -> Step:
    """A configured command (validated in config: no ``${{``)."""
    return run(name, command, env)
