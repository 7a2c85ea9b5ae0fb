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
   after its integration tests);
4. a GitHub deployment (payload: digest, image, source commit, run URL) with status ``queued``
   and a job summary: the page the reviewer approves shows digest, commit and history.

``action=abort`` runs step 1 on a digest only (no registry login, no tag) and skips steps 2 and 3
(:func:`checks`): it stops a canary already in the cluster, which passed them when it was
deployed, so a Sigstore or registry outage cannot block an emergency stop; its deployment is
found by the digest alone. The environment job, with the environment's approval rules, checks
that the canary runs that digest before it aborts (common.ABORT_RELEASE).

``action=retry`` (run an aborted canary again) is a new release of that digest: every step,
and a new deployment; the aborted one keeps its failure (docs/release-edges.md).

The deploy job moves the deployment to ``in_progress`` and to its final state; a rollback marks
it ``failure`` with the digest it went back to, or says the rollback is not healthy. Scripts read
everything from ``env:``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from components.signing import (
    COSIGN_RELEASE,
    OIDC_ISSUER,
    SBOM_PREDICATE,
    signer_identity_suffix,
    signer_ref,
    verify_flags,
)
from components.workflows import pins
from components.workflows.common import DIGEST_PATTERN, TAG_PATTERN, run, script
from components.workflows.model import (
    Step,
    StepRef,
    expr,
    ne,
    template,
)

RELEASE_STEP: Final = StepRef("release", ("digest", "image"))
"""The step that names the one digest of a release (:func:`resolve`; dev's digest check)."""
SIGNATURE_STEP: Final = StepRef("signature", ("commit",))
"""The signature check: the source commit CI's certificate names."""
RECORD_STEP: Final = StepRef("record", ("deployment-id",))
"""The step that opens (or finds) the run's GitHub deployment (:data:`RECORD`)."""


def signer_identity(default_branch: str) -> str:
    """The certificate identity of CI's keyless signature (components/signing.py, the one
    definition the ClusterImagePolicy uses too) from trusted run context only: the server and
    repository the run sees, so a fork or GitHub Enterprise Server gets its own."""
    return template(
        expr("github.server_url"),
        "/",
        expr("github.repository"),
        signer_identity_suffix(default_branch),
    )


RESOLVE: Final = script("deploy_resolve.sh")

REVISION_LABEL: Final = "org.opencontainers.image.revision"
"""The label docker/metadata-action puts on CI's image: the commit it claims to be built from."""

VERIFY: Final = script("deploy_verify.sh")


_RAN: Final = script("deployment_ran.sh")
"""``ran ID``: the deployment has an in_progress status (its deploy job started); the scripts
that need it get it embedded before their own text."""

ACCEPTED_VERDICT: Final = "healthy; acceptance passed"
"""The description of the status staging's accept job writes when every acceptance job passed.
Prod's promotion check asks for exactly this: a deployment marked success by anything else (the
deploy job of a workflow from before the acceptance gate, on an old branch or an old run) does
not count."""

DEPLOYED_BEFORE: Final = script("accepted_before.sh")

RECORD: Final = _RAN + script("deployment_record.sh")

FINAL_STATUS: Final = script("deployment_final_status.sh")

ACCEPTED: Final = _RAN + script("deployment_accept.sh")

MARK_IN_PROGRESS: Final = script("deployment_in_progress.sh")

NOT_DEPLOYED: Final = script("deployment_not_deployed.sh")


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
            "DIGEST_PATTERN": DIGEST_PATTERN,
            "TAG_PATTERN": TAG_PATTERN,
        },
        id=RELEASE_STEP.id,
    )


def checks(default_branch: str, previous_environment: str, action_input: str) -> tuple[Step, ...]:
    """Install cosign, verify signature and attestation, check the promotion order.

    Skipped for an abort: it only stops a canary already in the cluster, which went through
    these checks when it was deployed, and an emergency stop must not wait on Sigstore, the
    registry or GitHub's release downloads. The deploy job (in the environment, so with its
    approval rules) checks that the canary runs the named digest before it aborts anything.
    """
    not_abort = ne(f"inputs.{action_input}", ABORT)
    return tuple(
        replace(step, if_=not_abort)
        for step in (
            install_cosign(),
            _verify(default_branch),
            _promotion_order(previous_environment),
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
            "DIGEST": RELEASE_STEP.output("digest"),
            "SIGNER_IDENTITY": signer_identity(default_branch),
            "SIGNER_REF": signer_ref(default_branch),
            "OIDC_ISSUER": OIDC_ISSUER,
            "VERIFY_FLAGS": verify_flags(),
            "PREDICATE_TYPE": SBOM_PREDICATE,
            "REVISION_LABEL": REVISION_LABEL,
        },
        id=SIGNATURE_STEP.id,
    )


def _promotion_order(previous_environment: str) -> Step:
    """Accepted in ``previous_environment``: the one rule for every pair (staging after
    development, prod after staging). The first environment, dev, is fed by CI itself."""
    return run(
        f"Check it was accepted in {previous_environment}",
        DEPLOYED_BEFORE,
        {
            "GH_TOKEN": expr("github.token"),
            "COMMIT": SIGNATURE_STEP.output("commit"),
            "DIGEST": RELEASE_STEP.output("digest"),
            "PREVIOUS": previous_environment,
            "ACCEPTED_VERDICT": ACCEPTED_VERDICT,
        },
    )
