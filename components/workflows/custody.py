"""Chain of custody of a release: which digest, who signed it, where it has been.

Steps of the ``verify`` job that stage-deploy.yml and prod-deploy.yml run before their
environment job (so before a reviewer is asked, and before anything touches the cluster):

1. resolve the dispatch input once: a digest is used as given, a tag is resolved to its digest
   with ``docker buildx imagetools inspect``; every later step names ``IMAGE@sha256:...`` only;
2. ``cosign verify`` and ``cosign verify-attestation --type spdxjson`` in the one signature
   format of components/signing.py, with the exact identity that signs in CI
   (``SIGNER_IDENTITY``: the ci.yml file of this repository on the default branch), GitHub's
   OIDC issuer, and the certificate's GitHub workflow repository, ref and commit. The commit is
   the image's revision label, a claim cosign checks against the certificate
   (``--certificate-github-workflow-sha``); nothing is read from cosign's output, whose
   fields differ between signature formats and releases (cosign v3 prints no certificate
   fields for a bundle);
3. promotion order from GitHub's own records, one rule for every environment: a GitHub
   deployment of that digest to the previous environment (staging: development, prod: staging)
   whose latest verdict is the accept job's ``success`` (:data:`ACCEPTED_VERDICT`; dev's comes
   after its integration tests). Only a first environment with no previous one (issue 26's
   configurable chain) falls back to a successful CI run on the default branch;
4. a GitHub deployment (payload: digest, image, source commit, run URL) with status ``queued``
   and a job summary: the page the reviewer approves shows digest, commit and history.

``action=abort`` runs step 1 on a digest only (no registry login, no tag) and skips steps 2 and 3
(:func:`checks`): it stops a canary already in the cluster, which passed them when it was
deployed, so a Sigstore or registry outage cannot block an emergency stop; its deployment is
found by the digest alone. The environment job, with the environment's approval rules, checks
that the canary runs that digest before it aborts (common.ABORT_RELEASE).

The deploy job moves the deployment to ``in_progress`` and to its final state; a rollback marks
it ``failure`` with the digest it went back to, or says the rollback is not healthy. Scripts read
everything from ``env:``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from components.signing import COSIGN_RELEASE, verify_flags
from components.workflows import pins
from components.workflows.common import DIGEST_PATTERN, TAG_PATTERN, run
from components.workflows.contract import branch_ref
from components.workflows.model import Step, condition, expr, template

OIDC_ISSUER: Final = "https://token.actions.githubusercontent.com"
CI_WORKFLOW_PATH: Final = ".github/workflows/ci.yml"
SBOM_PREDICATE: Final = "spdxjson"
"""The attestation type ci.yml attaches (``cosign attest --type spdxjson``)."""


def signer_identity(default_branch: str) -> str:
    """The certificate identity of CI's keyless signature, from trusted run context only."""
    return template(
        expr("github.server_url"),
        "/",
        expr("github.repository"),
        f"/{CI_WORKFLOW_PATH}@{branch_ref(default_branch)}",
    )


RESOLVE: Final = f"""\
if [ "$ACTION" = "abort" ]; then
  # An abort reads nothing from the registry or Sigstore, so their outage cannot block it: it
  # takes the digest the canary runs (the deploy job checks that it does) and no tag.
  if [[ ! "$RELEASE" =~ {DIGEST_PATTERN} ]]; then
    echo "::error::action abort takes the canary's image digest (sha256:<64 hex>), not a tag"
    exit 1
  fi
  echo "digest=$RELEASE" >> "$GITHUB_OUTPUT"
  echo "image=${{IMAGE}}@${{RELEASE}}" >> "$GITHUB_OUTPUT"
  exit 0
fi
# The package is private (the stack gives the cluster a pull secret), so resolving a tag and
# reading signatures (cosign uses docker's credentials) both need the login, digest or not.
docker login "${{IMAGE%%/*}}" --username "$GITHUB_ACTOR" --password-stdin <<<"$GH_TOKEN"
if [[ "$RELEASE" =~ {DIGEST_PATTERN} ]]; then
  digest="$RELEASE"
elif [[ "$RELEASE" =~ {TAG_PATTERN} ]]; then
  # Resolved once, here; every later step names the digest, so a moved tag changes nothing.
  digest="$(docker buildx imagetools inspect "${{IMAGE}}:${{RELEASE}}" --format '{{{{json .Manifest}}}}' \\
    | jq --raw-output '.digest')"
  if [[ ! "$digest" =~ {DIGEST_PATTERN} ]]; then
    echo "::error::tag $RELEASE of $IMAGE does not resolve to a digest"
    exit 1
  fi
else
  echo "::error::input release must be an image digest (sha256:<64 hex>) or a tag"
  exit 1
fi
echo "digest=$digest" >> "$GITHUB_OUTPUT"
echo "image=${{IMAGE}}@${{digest}}" >> "$GITHUB_OUTPUT"
"""

REVISION_LABEL: Final = "org.opencontainers.image.revision"
"""The label docker/metadata-action puts on CI's image: the commit it claims to be built from."""

VERIFY: Final = f"""\
ref="${{IMAGE}}@${{DIGEST}}"
# The image's revision label is only a claim about its source commit: cosign accepts the
# signature below only if CI's certificate names that same commit, this repository and the
# default branch (Fulcio's GitHub workflow extensions), so a wrong label fails verification.
commit="$(docker buildx imagetools inspect "$ref" --format '{{{{json .Image}}}}' \\
  | jq --raw-output '.config.Labels["{REVISION_LABEL}"] // ""')"
if [[ ! "$commit" =~ ^[0-9a-f]{{40}}$ ]]; then
  echo "::error::$ref has no {REVISION_LABEL} label naming its source commit"
  exit 1
fi
identity=(--certificate-identity "$SIGNER_IDENTITY" --certificate-oidc-issuer "$OIDC_ISSUER"
  --certificate-github-workflow-repository "$GITHUB_REPOSITORY"
  --certificate-github-workflow-ref "$SIGNER_REF" --certificate-github-workflow-sha "$commit")
if ! cosign verify "$ref" {verify_flags()} "${{identity[@]}}" > /dev/null; then
  echo "::error::$ref is not signed by $SIGNER_IDENTITY from commit $commit: refusing to deploy it"
  exit 1
fi
if ! cosign verify-attestation "$ref" --type {SBOM_PREDICATE} {verify_flags()} \\
    "${{identity[@]}}" > /dev/null; then
  echo "::error::$ref has no SBOM attestation by $SIGNER_IDENTITY: refusing to deploy it"
  exit 1
fi
echo "signed by $SIGNER_IDENTITY, built from $commit"
echo "commit=$commit" >> "$GITHUB_OUTPUT"
"""

PASSED_CI: Final = """\
# Staging takes only what passed CI on the default branch: GitHub's record of the CI run.
runs="$(gh api --method GET "repos/$GITHUB_REPOSITORY/actions/workflows/ci.yml/runs" \\
  -f head_sha="$COMMIT" -f branch="$DEFAULT_BRANCH" -f status=success -f per_page=1 \\
  --jq '.total_count')"
if [ "${runs:-0}" -lt 1 ]; then
  echo "::error::commit $COMMIT has no successful CI run on $DEFAULT_BRANCH: refusing it"
  exit 1
fi
echo "commit $COMMIT passed CI on $DEFAULT_BRANCH"
"""

_RAN: Final = """\
# ran ID: deployment ID has an in_progress status, so its deploy job started (one rejected at
# approval or cancelled while it waited never did, and has no say in what the environment runs).
ran() {
  [ "$(gh api "repos/$GITHUB_REPOSITORY/deployments/$1/statuses?per_page=100" \\
    --jq 'any(.[]; .state == "in_progress")')" = "true" ]
}
"""

ACCEPTED_VERDICT: Final = "healthy; acceptance passed"
"""The description of the status staging's accept job writes when every acceptance job passed.
Prod's promotion check asks for exactly this: a deployment marked success by anything else (the
deploy job of a workflow from before the acceptance gate, on an old branch or an old run) does
not count."""

DEPLOYED_BEFORE: Final = """\
# One rule for every environment (staging after dev, prod after staging): only a digest accepted
# in PREVIOUS, judged by its newest deployment there that ran (one with an in_progress status:
# its deploy job started; one rejected at approval or cancelled while waiting never ran and has
# no say). Its latest verdict must be success with the accept job's description
# (ACCEPTED_VERDICT: after dev's integration tests, staging's e2e, k6 and scan); a later deploy
# of the same digest to PREVIOUS that
# failed acceptance or was rolled back withdraws an older acceptance. GitHub marks older
# successful deployments `inactive` when a newer one succeeds (auto_inactive), so `inactive` is
# no verdict: the status before it is. A payload may be a string (another tool's deployment).
ids="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" -f environment="$PREVIOUS" \\
  -f sha="$COMMIT" -f per_page=100 \\
  --jq "[.[] | select((.payload | objects | .digest) == \\"$DIGEST\\") | .id] | .[]")"
for id in $ids; do
  statuses="$(gh api "repos/$GITHUB_REPOSITORY/deployments/$id/statuses?per_page=100" \\
    --jq '[.[] | select(.state != "inactive")]')"
  if [ "$(jq 'any(.[]; .state == "in_progress")' <<<"$statuses")" != "true" ]; then
    continue
  fi
  state="$(jq --raw-output '.[0].state // ""' <<<"$statuses")"
  description="$(jq --raw-output '.[0].description // ""' <<<"$statuses")"
  if [ "$state" = "success" ] && [ "$description" = "$ACCEPTED_VERDICT" ]; then
    echo "$DIGEST was accepted in $PREVIOUS (deployment $id)"
    exit 0
  fi
  echo "::error::the newest deployment of $DIGEST to $PREVIOUS ($id) is not accepted: ${state:-no status}${description:+ ($description)}: refusing to promote it"
  exit 1
done
echo "::error::$DIGEST was never deployed successfully to $PREVIOUS: refusing to promote it"
exit 1
"""

RECORD: Final = (
    _RAN
    + """\
# An abort skips verification (COMMIT is empty): its deployment names the source commit.
history=""
if [ -n "$COMMIT" ]; then
  history="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" -f sha="$COMMIT" \\
    -f per_page=100 \\
    --jq "[.[] | select((.payload | objects | .digest) == \\"$DIGEST\\") | .environment] | unique | join(\\", \\")")"
fi
if [ "$ACTION" = "deploy" ] || [ "$ACTION" = "retry" ]; then
  # A retry is a new release of the same digest: the aborted deployment keeps its failure.
  payload="$(jq --null-input --arg ref "$COMMIT" --arg env "$ENVIRONMENT" \\
    --arg digest "$DIGEST" --arg image "$IMAGE_REF" --arg run "$RUN_URL" \\
    --argjson production "$PRODUCTION" \\
    '{ref: $ref, environment: $env, task: "deploy", auto_merge: false, required_contexts: [],
      production_environment: $production, description: $digest,
      payload: {digest: $digest, image: $image, source_commit: $ref, run_url: $run}}')"
  id="$(gh api --method POST "repos/$GITHUB_REPOSITORY/deployments" --input - --jq '.id' \\
    <<<"$payload")"
  gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$id/statuses" \\
    -f state=queued -f log_url="$RUN_URL" -f description="waiting for approval" > /dev/null
else
  # promote/abort continue the newest deployment that set this digest in this environment and
  # ran (has an in_progress status; a later one rejected at approval never did). A digest has one
  # source commit, so the digest alone finds it when the abort verified no commit.
  filter=(-f environment="$ENVIRONMENT" -f per_page=100)
  if [ -n "$COMMIT" ]; then
    filter+=(-f sha="$COMMIT")
  fi
  found="$(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" "${filter[@]}" \\
    --jq "[.[] | select((.payload | objects | .digest) == \\"$DIGEST\\") | {id, sha}]")"
  id=""
  for candidate in $(jq --raw-output '.[].id' <<<"$found"); do
    if ran "$candidate"; then
      id="$candidate"
      break
    fi
  done
  if [ -z "$COMMIT" ]; then
    COMMIT="$(jq --raw-output --arg id "$id" \\
      '[.[] | select((.id | tostring) == $id)][0].sha // ""' <<<"$found")"
  fi
fi
if [ "$ACTION" = "abort" ]; then
  SIGNER_IDENTITY="not re-verified: an abort only stops a canary verified when it was deployed"
fi
echo "deployment-id=$id" >> "$GITHUB_OUTPUT"
{
  echo "### Release to $ENVIRONMENT: $ACTION"
  echo "| | |"
  echo "|---|---|"
  echo "| digest | \\`$DIGEST\\` |"
  echo "| image | \\`$IMAGE_REF\\` |"
  echo "| source commit | $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/commit/$COMMIT |"
  echo "| signed by | $SIGNER_IDENTITY |"
  echo "| deployed before to | ${history:-nowhere yet} |"
  echo "| GitHub deployment | ${id:-none} |"
} >> "$GITHUB_STEP_SUMMARY"
"""
)

FINAL_STATUS: Final = """\
# One final state per deployment: success, failure (aborted or rolled back), or in_progress
# while a canary waits for a person.
if [ -z "$DEPLOYMENT_ID" ]; then
  echo "::warning::no GitHub deployment to update"
  exit 0
fi
# A promote or abort refused before it touched the cluster (not this release's canary, not
# paused, already stable) changed nothing: the deployment keeps its verdict, which may well be an
# accepted release's success.
if { [ "$ACTION" = "promote" ] || [ "$ACTION" = "abort" ]; } && [ "$ACTED" != "true" ]; then
  echo "::notice::this $ACTION changed nothing in the cluster: deployment $DEPLOYMENT_ID keeps its status"
  exit 0
fi
if [ "$ROLLBACK" = "success" ] && [ "$ROLLBACK_WAIT" != "success" ]; then
  state=failure; description="health check failed; the rollback to $STABLE_IMAGE is not healthy"
elif [ "$ROLLBACK" = "success" ]; then
  state=failure; description="health check failed: rolled back to $STABLE_IMAGE"
elif [ "$JOB_STATUS" = "failure" ] && [ "${ACTED:-}" = "false" ]; then
  # A deploy or retry refused before it touched the cluster (the step's error says why).
  state=failure; description="refused before it changed the cluster; see the run"
elif [ "$JOB_STATUS" = "success" ] && [ "$WAIT_STATE" = "paused" ]; then
  state=in_progress; description="canary paused for a person: promote or abort"
elif [ "$JOB_STATUS" = "success" ] && [ "$ACTION" = "abort" ]; then
  state=failure; description="aborted by a person; traffic on the stable version"
elif [ "$JOB_STATUS" = "success" ] && [ -n "${ACCEPTANCE:-}" ]; then
  # Healthy, but not yet accepted: the acceptance jobs after this one record the verdict, and
  # only then may a later stage count this deployment as a success.
  state=in_progress; description="healthy; acceptance pending: $ACCEPTANCE"
elif [ "$JOB_STATUS" = "success" ]; then
  state=success; description="healthy"
elif [ "$JOB_STATUS" = "cancelled" ]; then
  state=error; description="run cancelled; canary aborted"
else
  state=failure; description="release failed; canary aborted"
fi
gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \\
  -f state="$state" -f description="$description" -f log_url="$RUN_URL" \\
  -f environment_url="$APP_URL" > /dev/null
echo "deployment $DEPLOYMENT_ID: $state ($description)"
"""

ACCEPTED: Final = (
    _RAN
    + """\
# The deployment's verdict once the acceptance jobs have run: success only when every one of
# them succeeded. A later stage (prod) counts only a successful deployment, so a release whose
# e2e, performance or security scan failed here cannot be promoted; it keeps running in this
# environment for people to look at. Env: RESULTS ("job=result ..."), DEPLOYMENT_ID,
# ENVIRONMENT, ACCEPTED_VERDICT.
failed=""
for pair in $RESULTS; do
  if [ "${pair#*=}" != "success" ]; then
    failed="$failed ${pair%%=*} (${pair#*=})"
  fi
done
newer=""
if [ -z "$failed" ]; then
  # The tests hit the environment's URL, so they tested this release only if no newer one has
  # replaced it since (a re-run of a failed test or of this job after another deploy): a newer
  # deployment of a digest that ran (has an in_progress status) means they did not.
  for id in $(gh api --method GET "repos/$GITHUB_REPOSITORY/deployments" \\
      -f environment="$ENVIRONMENT" -f per_page=100 \\
      --jq '[.[] | select(.payload | objects | has("digest")) | .id] | .[]'); do
    if [ "$id" = "$DEPLOYMENT_ID" ]; then
      break
    fi
    if ran "$id"; then
      newer="$id"
      break
    fi
  done
fi
if [ -n "$newer" ]; then
  failed=" deployment $newer replaced this release in $ENVIRONMENT before the verdict"
  state=failure; description="not accepted:$failed; deploy it again to test it"
  echo "::error::not accepted:$failed, so the tests did not test it"
elif [ -z "$failed" ]; then
  state=success; description="$ACCEPTED_VERDICT"
else
  state=failure; description="deployed, but acceptance failed:$failed; not promotable"
  echo "::error::acceptance failed:$failed: this release will not be promoted"
fi
gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \\
  -f state="$state" -f description="$description" -f log_url="$RUN_URL" \\
  -f environment_url="$APP_URL" > /dev/null
echo "deployment $DEPLOYMENT_ID: $state ($description)"
[ -z "$failed" ]
"""
)

MARK_IN_PROGRESS: Final = """\
if [ -n "$DEPLOYMENT_ID" ]; then
  gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \\
    -f state=in_progress -f log_url="$RUN_URL" > /dev/null
fi
"""

NOT_DEPLOYED: Final = """\
# The environment job never ran (approval rejected, switched off, cancelled while waiting):
# close the queued deployment so that GitHub's record says so.
latest="$(gh api "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses?per_page=1" \\
  --jq '.[0].state // ""')"
if [ "$latest" = "queued" ]; then
  gh api --method POST "repos/$GITHUB_REPOSITORY/deployments/$DEPLOYMENT_ID/statuses" \\
    -f state=error -f description="not deployed: deploy job $DEPLOY_RESULT" \\
    -f log_url="$RUN_URL" > /dev/null
fi
"""


ABORT: Final = "abort"
"""The action that only stops a canary already in the cluster."""


def resolve(input_name: str, action_input: str) -> Step:
    """One digest for the release; an abort takes a digest as given (no registry call)."""
    return run(
        "Resolve the release to one digest",
        RESOLVE,
        {
            "RELEASE": expr(f"inputs.{input_name}"),
            "ACTION": expr(f"inputs.{action_input}"),
            "GH_TOKEN": expr("github.token"),
        },
        id="release",
    )


def checks(
    default_branch: str, previous_environment: str | None, action_input: str
) -> tuple[Step, ...]:
    """Install cosign, verify signature and attestation, check the promotion order.

    Skipped for an abort: it only stops a canary already in the cluster, which went through
    these checks when it was deployed, and an emergency stop must not wait on Sigstore, the
    registry or GitHub's release downloads. The deploy job (in the environment, so with its
    approval rules) checks that the canary runs the named digest before it aborts anything.
    """
    not_abort = condition(f"inputs.{action_input} != '{ABORT}'")
    return tuple(
        replace(step, if_=not_abort)
        for step in (
            install_cosign(),
            _verify(default_branch),
            _promotion_order(default_branch, previous_environment),
        )
    )


def install_cosign() -> Step:
    """sigstore/cosign-installer with the release stated, so the signature format cannot change
    with the installer's default (components/signing.py)."""
    return Step(
        name="Install cosign",
        uses=pins.COSIGN_INSTALLER,
        with_={"cosign-release": COSIGN_RELEASE},
    )


def _verify(default_branch: str) -> Step:
    return run(
        "Verify signature and SBOM attestation",
        VERIFY,
        {
            "DIGEST": expr("steps.release.outputs.digest"),
            "SIGNER_IDENTITY": signer_identity(default_branch),
            "SIGNER_REF": branch_ref(default_branch),
            "OIDC_ISSUER": OIDC_ISSUER,
        },
        id="signature",
    )


def _promotion_order(default_branch: str, previous_environment: str | None) -> Step:
    """Accepted in ``previous_environment`` (the same rule for every pair); with no previous
    environment, a successful CI run on the default branch."""
    env = {
        "GH_TOKEN": expr("github.token"),
        "COMMIT": expr("steps.signature.outputs.commit"),
        "DIGEST": expr("steps.release.outputs.digest"),
    }
    if previous_environment is None:
        return run(
            "Check it passed CI on the default branch",
            PASSED_CI,
            {**env, "DEFAULT_BRANCH": default_branch},
        )
    return run(
        f"Check it was accepted in {previous_environment}",
        DEPLOYED_BEFORE,
        {**env, "PREVIOUS": previous_environment, "ACCEPTED_VERDICT": ACCEPTED_VERDICT},
    )
