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
from components.workflows.model import Access, Grant, Scope, Step, condition, expr, template

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


SAME_REPOSITORY: Final = (
    "(github.event_name == 'push' || "
    "github.event.pull_request.head.repo.full_name == github.repository)"
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
        id="secret",
    )


HAS_SECRET: Final = condition("steps.secret.outputs.present == 'true'")
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
_OIDC_KUBECONFIG: Final = """\
umask 077
plugin="$RUNNER_TEMP/github-oidc-token"
cat > "$plugin" <<'PLUGIN'
#!/usr/bin/env bash
set -euo pipefail
token="$(curl --fail --silent --show-error --max-time 10 --get \\
  --header "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \\
  --data-urlencode "audience=$KUBE_AUDIENCE" "$ACTIONS_ID_TOKEN_REQUEST_URL" \\
  | jq --raw-output '.value')"
jq --null-input --arg token "$token" \\
  '{apiVersion: "client.authentication.k8s.io/v1beta1", kind: "ExecCredential",
    status: {token: $token}}'
PLUGIN
chmod 700 "$plugin"
printf '%s' "$KUBE_CA_DATA" | base64 --decode > "$RUNNER_TEMP/cluster-ca.crt"
kubectl config set-cluster cluster --server="$KUBE_SERVER" \\
  --certificate-authority="$RUNNER_TEMP/cluster-ca.crt" --embed-certs=true
kubectl config set-credentials deployer --exec-api-version=client.authentication.k8s.io/v1beta1 \\
  --exec-command="$plugin" --exec-env="KUBE_AUDIENCE=$KUBE_AUDIENCE"
kubectl config set-context deployer --cluster=cluster --user=deployer --namespace="$NAMESPACE"
kubectl config use-context deployer
"""


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
    """
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
        if_=condition("always()"),
    )


def kube(name: str, script: str, env: dict[str, str] | None = None, **kwargs: str) -> Step:
    """A step that talks to the cluster with the deployer kubeconfig."""
    return run(name, script, {"KUBECONFIG": KUBECONFIG_PATH, **(env or {})}, **kwargs)


def validate_release(input_name: str) -> Step:
    """Check a dispatch input is a digest or a tag before it names an image (output ``image``)."""
    return run(
        "Validate the release to deploy",
        f"""\
if [[ "$RELEASE" =~ {DIGEST_PATTERN} ]]; then
  ref="${{IMAGE}}@${{RELEASE}}"
elif [[ "$RELEASE" =~ {TAG_PATTERN} ]]; then
  ref="${{IMAGE}}:${{RELEASE}}"
else
  echo "::error::input {input_name} must be an image digest (sha256:<64 hex>) or a tag"
  exit 1
fi
echo "image=$ref" >> "$GITHUB_OUTPUT"
""",
        env={"RELEASE": expr(f"inputs.{input_name}")},
        id="release",
    )


SET_IMAGE: Final = """\
# Deployments take `kubectl set image`; a Rollout is a custom resource, so its container is
# found by name and replaced with a JSON patch (the deployer may patch, never create).
case "$WORKLOAD_KIND" in
  Deployment)
    kubectl --namespace "$NAMESPACE" set image "deployment/$WORKLOAD_NAME" \\
      "$WORKLOAD_NAME=$NEW_IMAGE"
    ;;
  Rollout)
    index="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json \\
      | jq --arg name "$WORKLOAD_NAME" '.spec.template.spec.containers | map(.name) | index($name)')"
    if [ "$index" = "null" ]; then
      echo "::error::rollout $WORKLOAD_NAME has no container named $WORKLOAD_NAME"
      exit 1
    fi
    patch="$(jq --compact-output --null-input --arg image "$NEW_IMAGE" --argjson index "$index" \\
      '[{op: "replace", path: "/spec/template/spec/containers/\\($index)/image", value: $image}]')"
    kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --type=json --patch "$patch"
    ;;
  *)
    echo "::error::WORKLOAD_KIND must be Rollout or Deployment"
    exit 1
    ;;
esac
"""

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

WAIT_HEALTHY: Final = """\
# Deployment: kubectl rollout status. Rollout: poll .status.phase for the current generation until
# Healthy (state=healthy) or a manual pause is reached (state=paused; with ACCEPT_PAUSE=false, as
# for a rollback, a manual pause fails instead). Degraded or an abort fails. A manual pause is
# never promoted here: a person promotes it (docs/release.md).
if [ "$WORKLOAD_KIND" = "Deployment" ]; then
  kubectl --namespace "$NAMESPACE" rollout status "deployment/$WORKLOAD_NAME" \\
    --timeout="${TIMEOUT_SECONDS}s"
  echo "state=healthy" >> "$GITHUB_OUTPUT"
  exit 0
fi
deadline=$(( $(date +%s) + TIMEOUT_SECONDS ))
failures=0
phase=unknown
while :; do
  if ! rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
  then
    failures=$(( failures + 1 ))
    if [ "$failures" -gt "$READ_FAILURES_TOLERATED" ]; then
      echo "::error::cannot read rollout $WORKLOAD_NAME: $failures reads in a row failed"
      exit 1
    fi
    echo "::warning::reading rollout $WORKLOAD_NAME failed ($failures in a row): trying again"
  else
    failures=0
    phase="$(jq --raw-output '.status.phase // "Progressing"' <<<"$rollout")"
    observed="$(jq --raw-output \\
      '((.status.observedGeneration // "") | tostring) == (.metadata.generation | tostring)' \\
      <<<"$rollout")"
    aborted="$(jq --raw-output '.status.abort // false' <<<"$rollout")"
    step="$(jq --raw-output '.status.currentStepIndex // 0' <<<"$rollout")"
    echo "phase=$phase step=$step observed=$observed"
    # Status of an older generation (an abort before this patch) says nothing about this one.
    if [ "$observed" = "true" ] && { [ "$aborted" = "true" ] || [ "$phase" = "Degraded" ]; }; then
      echo "::error::rollout $WORKLOAD_NAME failed: $(jq --raw-output '.status.message // ""' <<<"$rollout")"
      exit 1
    fi
    # An Inconclusive analysis (no data past inconclusiveLimit) pauses the Rollout: nobody can
    # judge this canary, so the run fails and its abort step sends traffic back (docs/analysis.md).
    if [ "$observed" = "true" ] && [ "$(jq --raw-output \
      'any(.status.pauseConditions[]?; .reason == "InconclusiveAnalysisRun")' <<<"$rollout")" = "true" ]
    then
      echo "::error::rollout $WORKLOAD_NAME: the canary analysis is inconclusive (no data from Prometheus): aborting"
      echo "### Canary analysis inconclusive: no measurable traffic; the canary is aborted" >> "$GITHUB_STEP_SUMMARY"
      exit 1
    fi
    if [ "$observed" = "true" ] && [ "$phase" = "Healthy" ]; then
      echo "rollout $WORKLOAD_NAME is healthy"
      echo "state=healthy" >> "$GITHUB_OUTPUT"
      exit 0
    fi
    if [ "$observed" = "true" ] && [ "$phase" = "Paused" ] && [ "$step" != "$PROMOTED_FROM" ]; then
      manual="$(jq --raw-output '
        (.status.currentStepIndex // 0) as $i
        | (.spec.strategy.canary.steps[$i].pause // null) as $pause
        | $pause != null and ($pause.duration // null) == null
          and any(.status.pauseConditions[]?; .reason == "CanaryPauseStep")' <<<"$rollout")"
      if [ "$manual" = "true" ]; then
        weight="$(jq --raw-output '.status.canary.weights.canary.weight // .status.currentStepIndex' \\
          <<<"$rollout")"
        if [ "$ACCEPT_PAUSE" != "true" ]; then
          echo "::error::rollout $WORKLOAD_NAME stopped at a manual pause at step $step (canary weight $weight) instead of becoming healthy"
          exit 1
        fi
        echo "::notice::rollout $WORKLOAD_NAME paused for a person at step $step: promote or abort"
        {
          echo "### Paused for a person at step $step (canary weight $weight)"
          echo "Run this workflow again with action **promote** (or **abort**) and the same release."
        } >> "$GITHUB_STEP_SUMMARY"
        echo "state=paused" >> "$GITHUB_OUTPUT"
        echo "step=$step" >> "$GITHUB_OUTPUT"
        exit 0
      fi
    fi
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "::error::rollout $WORKLOAD_NAME not healthy after ${TIMEOUT_SECONDS}s (phase $phase)"
    exit 1
  fi
  sleep 10
done
"""

ABORT_ROLLOUT: Final = """\
if [ "$WORKLOAD_KIND" = "Rollout" ]; then
  kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --subresource=status \\
    --type=merge --patch '{"status":{"abort":true}}'
  echo "rollout $WORKLOAD_NAME aborted: traffic is back on the stable version"
fi
"""

ABORT_RELEASE: Final = """\
# action=abort stops the canary of the release this run was approved for and nothing else: a
# newer release someone started since, or a release already promoted to stable, is refused.
if [ "$WORKLOAD_KIND" != "Rollout" ]; then
  echo "::error::$WORKLOAD_KIND $WORKLOAD_NAME has no canary to abort"
  exit 1
fi
rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
canary="$(jq --raw-output --arg name "$WORKLOAD_NAME" \\
  '.spec.template.spec.containers[] | select(.name == $name) | .image' <<<"$rollout")"
if [ "$canary" != "$NEW_IMAGE" ]; then
  echo "::error::the canary runs $canary, not $NEW_IMAGE: refusing to abort another release"
  exit 1
fi
# Both hashes are read, never assumed: a status without them is no reason to refuse a stop.
current="$(jq --raw-output '.status.currentPodHash // ""' <<<"$rollout")"
if [ -n "$current" ] && [ "$current" = "$(jq --raw-output '.status.stableRS // ""' <<<"$rollout")" ]
then
  echo "::error::$NEW_IMAGE is the stable release, not a canary: nothing to abort"
  exit 1
fi
kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --subresource=status \\
  --type=merge --patch '{"status":{"abort":true}}'
echo "rollout $WORKLOAD_NAME aborted: traffic is back on the stable version"
"""

RECORD_STABLE: Final = f"""\
# The stable digest is what serves now: the Rollout's stable ReplicaSet (status.stableRS is its
# pod-template hash), never the spec, which may already name a canary that has not been promoted.
# A Deployment is either fully rolled out or failed, so its spec is what runs.
case "$WORKLOAD_KIND" in
  Rollout)
    hash="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json \\
      | jq --raw-output '.status.stableRS // ""')"
    if [ -z "$hash" ]; then
      echo "::error::rollout $WORKLOAD_NAME reports no stable ReplicaSet"
      exit 1
    fi
    stable="$(kubectl --namespace "$NAMESPACE" get replicasets \\
      --selector "rollouts-pod-template-hash=$hash" --output json \\
      | jq --raw-output --arg name "$WORKLOAD_NAME" \\
        '[.items[].spec.template.spec.containers[] | select(.name == $name) | .image][0] // ""')"
    ;;
  Deployment)
    stable="$(kubectl --namespace "$NAMESPACE" get deployment "$WORKLOAD_NAME" --output json \\
      | jq --raw-output --arg name "$WORKLOAD_NAME" \\
        '.spec.template.spec.containers[] | select(.name == $name) | .image')"
    ;;
  *)
    echo "::error::WORKLOAD_KIND must be Rollout or Deployment"
    exit 1
    ;;
esac
if [[ ! "$stable" =~ {IMAGE_REF_PATTERN} ]]; then
  echo "::error::cannot read the stable image of $WORKLOAD_KIND $WORKLOAD_NAME"
  exit 1
fi
echo "stable image: $stable"
echo "image=$stable" >> "$GITHUB_OUTPUT"
"""

PROMOTE: Final = """\
# What the Argo Rollouts plugin's promote sends, after checking that the paused canary is the
# release this run was approved for.
rollout="$(kubectl --namespace "$NAMESPACE" get rollout "$WORKLOAD_NAME" --output json)"
canary="$(jq --raw-output --arg name "$WORKLOAD_NAME" \\
  '.spec.template.spec.containers[] | select(.name == $name) | .image' <<<"$rollout")"
if [ "$canary" != "$NEW_IMAGE" ]; then
  echo "::error::the canary runs $canary, not $NEW_IMAGE: nothing of this release to promote"
  exit 1
fi
if [ "$(jq --raw-output '.status.phase // ""' <<<"$rollout")" != "Paused" ]; then
  echo "::error::rollout $WORKLOAD_NAME is not paused: nothing to promote"
  exit 1
fi
step="$(jq --raw-output '.status.currentStepIndex // 0' <<<"$rollout")"
kubectl --namespace "$NAMESPACE" patch rollout "$WORKLOAD_NAME" --subresource=status \\
  --type=merge --patch '{"status":{"pauseConditions":null}}'
echo "promoted rollout $WORKLOAD_NAME from step $step"
echo "step=$step" >> "$GITHUB_OUTPUT"
"""

HEALTH_CHECK: Final = """\
url="${APP_URL%/}${HEALTH_PATH}"
for attempt in $(seq 1 "$RETRIES"); do
  if curl --fail --silent --show-error --max-time 10 --output /dev/null "$url"; then
    echo "healthy after $attempt attempt(s)"
    exit 0
  fi
  echo "attempt $attempt of $RETRIES failed"
  sleep 10
done
echo "::error::$url did not answer healthy after $RETRIES attempts"
exit 1
"""


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
