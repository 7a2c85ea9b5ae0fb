"""The one signature format that signing (ci.yml), verification (stage-/prod-deploy.yml) and
admission (the ClusterImagePolicy) agree on, and the cosign release that makes it.

Why a decision is needed: cosign v3 (``sigstore/cosign-installer`` v4.1.2 installs v3.0.6; its
action.yml, input ``cosign-release``, default ``v3.0.6``) signs and attests in the Sigstore
*bundle* format by default (cmd/cosign/cli/options/sign.go and attest.go at v3.0.6:
``--new-bundle-format`` defaults to true), stored as OCI referrers of the image. The pinned
policy-controller (Helm chart 0.6.5, app v0.8.2, built against cosign v2.1.1) reads only the
*legacy* layout: ``sha256-<digest>.sig`` and ``.att`` tags next to the image. Its
ClusterImagePolicy has no ``signatureFormat`` field at all (pkg/apis/policy/v1beta1/
clusterimagepolicy_types.go gains it in v0.13.0, default ``legacy``), and its CIP webhook decodes
with unknown fields disallowed (cmd/webhook/main.go at v0.8.2), so the only format all three
read is legacy. Bundle needs a policy-controller of v0.13.0 or later (chart 0.10+) with
``signatureFormat: bundle``; switching is a change of :data:`SIGNATURE_FORMAT` plus that chart.

Legacy signing with cosign v3 takes ``--new-bundle-format=false`` and
``--use-signing-config=false`` (a TUF signing config requires the bundle format:
cmd/cosign/cli/signcommon/common.go, LoadTrustedMaterialAndSigningConfig, v3.0.6). Verification
states the format too (``--new-bundle-format=false``), so the pipeline refuses what admission
could not see rather than accept a bundle the cluster would then refuse.

The signer is named here once too: the certificate identity of CI's keyless signature (GitHub's
OIDC issuer, the workflow file ``.github/workflows/ci.yml`` and the default branch's ref) is what
release.yml and the deploy workflows verify (components/workflows/custody.py imports it from
here, :func:`~components.workflows.custody.signer_identity` writes it from the run's context) and
what the ClusterImagePolicy admits (tests/test_signing.py renders both sides and compares them).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from components.vocabulary import GITHUB_OIDC_ISSUER


class SignatureFormat(StrEnum):
    """Where cosign keeps a signature: the values are policy-controller's ``signatureFormat``."""

    LEGACY = "legacy"
    """``.sig``/``.att`` tags in the image's repository (cosign v1/v2 layout)."""
    BUNDLE = "bundle"
    """A Sigstore bundle attached with the OCI referrers API (cosign v3's default)."""


COSIGN_RELEASE: Final = "v3.0.6"
"""The cosign the workflows install (``cosign-release`` of sigstore/cosign-installer v4.1.2,
stated explicitly so that a new installer default cannot change the format under us); the
supply-chain tier builds this same release (tools/gotools.py)."""

SIGNATURE_FORMAT: Final = SignatureFormat.LEGACY
"""The format CI signs and attests in, the deploy workflows verify and admission accepts."""

ADMISSION_FORMATS: Final = frozenset({SignatureFormat.LEGACY})
"""Formats the pinned policy-controller (chart 0.6.5, app v0.8.2) can read."""


def sign_flags(fmt: SignatureFormat = SIGNATURE_FORMAT) -> str:
    """``cosign sign``/``attest`` flags that write ``fmt`` (cosign v3)."""
    if fmt is SignatureFormat.LEGACY:
        return "--new-bundle-format=false --use-signing-config=false"
    return "--new-bundle-format=true"


def new_bundle_format(fmt: SignatureFormat = SIGNATURE_FORMAT) -> str:
    """The value of cosign v3's ``--new-bundle-format`` for ``fmt``."""
    return "true" if fmt is SignatureFormat.BUNDLE else "false"


def verify_flags(fmt: SignatureFormat = SIGNATURE_FORMAT) -> str:
    """``cosign verify``/``verify-attestation`` flags that read ``fmt`` only (cosign v3)."""
    return f"--new-bundle-format={new_bundle_format(fmt)}"


def admission_fields(fmt: SignatureFormat = SIGNATURE_FORMAT) -> dict[str, str]:
    """What a ClusterImagePolicy authority says about ``fmt``.

    Legacy: nothing. It is the only format policy-controller v0.8.2 reads, the field does not
    exist there (its CIP webhook refuses unknown fields), and v0.13.0+ defaults to it. Bundle:
    ``signatureFormat: bundle``, which needs v0.13.0 or later.
    """
    return {"signatureFormat": fmt.value} if fmt is SignatureFormat.BUNDLE else {}


OIDC_ISSUER: Final = GITHUB_OIDC_ISSUER
"""The issuer of CI's signing certificate: GitHub Actions' OIDC token issuer."""

CI_WORKFLOW_PATH: Final = ".github/workflows/ci.yml"
"""The workflow that signs: its path is in the certificate's identity (the job_workflow_ref)."""

SBOM_PREDICATE: Final = "spdxjson"
"""The attestation type ci.yml attaches (``cosign attest --type spdxjson``) and admission asks
for (the ClusterImagePolicy's ``predicateType``)."""

GITHUB_URL: Final = "https://github.com"


def signer_ref(default_branch: str) -> str:
    """The git ref in the signing certificate: CI signs only on the default branch."""
    return f"refs/heads/{default_branch}"


def signer_identity_suffix(default_branch: str) -> str:
    """The identity after the repository URL: ``/<workflow path>@<ref>``."""
    return f"/{CI_WORKFLOW_PATH}@{signer_ref(default_branch)}"


def signer_identity(repository: str, default_branch: str, server: str = GITHUB_URL) -> str:
    """The certificate subject of CI's keyless signature for ``owner/name`` ``repository``:
    ``https://github.com/<owner>/<name>/.github/workflows/ci.yml@refs/heads/<branch>``."""
    return f"{server}/{repository}{signer_identity_suffix(default_branch)}"
