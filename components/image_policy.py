"""Admission of signed images only: a sigstore policy-controller ``ClusterImagePolicy``.

Why policy-controller and not Kyverno ``verifyImages``: the signatures are made by keyless
cosign in CI, and policy-controller is sigstore's own verifier of exactly that (Fulcio
certificate identity, Rekor transparency log, cosign attestations), with nothing else to run;
Kyverno would bring a general policy engine to a cluster that needs one rule.

The controller is cluster-scoped and lives in the ``platform/`` project (one stack per cluster);
an environment stack renders only its policy and labels its namespace
``policy.sigstore.dev/include: "true"``, the controller's opt-in. The policy admits an image of
the app's repository only when it carries an SPDX SBOM attestation signed by this repository's
CI workflow on the default branch, with GitHub's OIDC issuer: the identity the deploy workflows
verify (components/workflows/custody.py), so the cluster refuses what CI did not vouch for even
when someone bypasses the pipeline. What the pinned controller checks is the attestation only:
an authority that lists ``attestations`` is verified on that path alone (policy-controller
v0.8.2 pkg/webhook/validator.go), so the ``.sig`` signature beside it is checked by the deploy
workflows, not at admission (tests/admission pins this; requiring both would take a second
policy, since all matching policies must pass).

Signature format: the one of components/signing.py, which ci.yml signs in and the deploy
workflows verify. The pinned controller (chart 0.6.5, policy-controller v0.8.2) reads only legacy
``.sig``/``.att`` signatures and its ClusterImagePolicy has no ``signatureFormat`` field (added in
v0.13.0, default ``legacy``); :func:`components.signing.admission_fields` adds the field only for
the bundle format, which needs that newer controller.

Private repositories: public-good Sigstore (Fulcio, Rekor) records the repository and workflow
names in a public log; docs/security.md, "Chain of custody", says how to switch to a private instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components.namespace import recommended_labels
from components.signing import OIDC_ISSUER, SBOM_PREDICATE, admission_fields, signer_identity

API_VERSION: Final = "policy.sigstore.dev/v1beta1"
INCLUDE_LABEL: Final = "policy.sigstore.dev/include"
FULCIO_URL: Final = "https://fulcio.sigstore.dev"
REKOR_URL: Final = "https://rekor.sigstore.dev"


@dataclass(frozen=True)
class SignedImagePolicyArgs:
    """``image`` without tag; ``signer`` the CI workflow identity (a URL with @refs/heads/...)."""

    app: str
    environment: str
    image: str
    signer: str


def ci_identity(owner: str, repository: str, default_branch: str) -> str:
    """The certificate subject of CI's keyless signature (components/signing.py)."""
    return signer_identity(f"{owner}/{repository}", default_branch)


def policy_spec(args: SignedImagePolicyArgs) -> dict[str, Any]:
    return {
        "mode": "enforce",
        "images": [{"glob": f"{args.image}**"}],
        "authorities": [
            {
                "name": "ci-keyless",
                "keyless": {
                    "url": FULCIO_URL,
                    "identities": [{"issuer": OIDC_ISSUER, "subject": args.signer}],
                },
                "ctlog": {"url": REKOR_URL},
                "attestations": [{"name": "sbom", "predicateType": SBOM_PREDICATE}],
                **admission_fields(),
            }
        ],
    }


def signed_image_policy(
    name: str, args: SignedImagePolicyArgs, opts: pulumi.ResourceOptions | None = None
) -> k8s.apiextensions.CustomResource:
    """The environment's ClusterImagePolicy (cluster-scoped, so named after app and environment)."""
    return k8s.apiextensions.CustomResource(
        f"{name}-image-policy",
        api_version=API_VERSION,
        kind="ClusterImagePolicy",
        metadata={
            "name": f"{args.app}-{args.environment}-signed-by-ci",
            "labels": recommended_labels(args.app, args.environment),
        },
        spec=policy_spec(args),
        opts=opts,
    )
