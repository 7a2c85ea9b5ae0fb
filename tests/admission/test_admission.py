"""Admission with the real sigstore policy-controller: the environment's ClusterImagePolicy, as
the stack renders it, decides which pods the API server accepts.

What runs (tests/admission/webhook.py and conftest.py say how): the ``cluster`` tier's control
plane (etcd, kube-apiserver v1.36.3, controller-manager, scheduler, kwok), policy-controller
v0.8.2's webhook (chart 0.6.5's app version) registered as that chart registers it, the
``supplychain`` tier's crane registry on loopback, and cosign v3.0.6 running ci.yml's own sign
and SBOM-attest steps from the dev render.

The policy is the staging or prod render's ClusterImagePolicy with one documented change
(:func:`tests.admission.webhook.key_authority_policy`): the keyless authority becomes a key
authority holding CI's public key (no Fulcio, Rekor or CT log offline), and the image glob's
registry is the loopback one. Mode, images path, authority name and the SBOM attestation
requirement are as rendered. Both webhooks of the chart take part: the mutating one resolves a
tag to its digest, the validating one fetches the SBOM attestation from the registry and checks
it against CI's key (with ``attestations`` listed, v0.8.2 checks those and not the ``.sig``:
:func:`test_the_policy_checks_the_attestation_not_the_signature`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from render.tree import kubernetes_objects
from tests.admission.webhook import (
    CHART_VERSION,
    FULLNAME,
    NAMESPACE,
    VERSION,
    Webhook,
    apply,
    key_authority_policy,
    wait_until,
)
from tests.cluster.conftest import platform_render, wait_for
from tests.cluster.plane import ControlPlane
from tests.conftest import rendered
from tests.supplychain.conftest import REPOSITORY, Signer, Tools, issue, push_image
from tests.supplychain.test_signing import ATTEST, CI, SIGN, run_step

pytestmark = [pytest.mark.cluster, pytest.mark.supplychain]

GUARDED: Final = ("staging", "prod")
"""The stacks whose namespace opts in to admission (``policy.sigstore.dev/include``)."""
RENDERED_REGISTRY: Final = "ghcr.io/"
IMAGE_PATH: Final = "acme/webshop"
OTHER_WORKFLOW: Final = (
    f"https://github.com/{REPOSITORY}/.github/workflows/other.yml@refs/heads/develop"
)
DENIED: Final = 'admission webhook "policy.sigstore.dev" denied the request'


def _objects(stack: str, kind: str) -> list[dict[str, Any]]:
    return [
        dict(obj)
        for path, obj in kubernetes_objects(rendered(stack)).items()
        if path.startswith("_cluster/") and obj["kind"] == kind
    ]


def rendered_policy(stack: str) -> dict[str, Any]:
    (policy,) = _objects(stack, "ClusterImagePolicy")
    return policy


def rendered_namespace(stack: str) -> dict[str, Any]:
    (namespace,) = _objects(stack, "Namespace")
    return namespace


@dataclass(frozen=True)
class Images:
    """Digests in the loopback registry, each signed (or not) as its name says."""

    repository: str
    signed: str
    unsigned: str
    other_key: str
    not_attested: str
    attested_only: str
    tag: str
    """A tag of ``signed``."""


def run_ci_steps(
    tools: Tools,
    signer: Signer,
    image: str,
    digest: str,
    folder: Path,
    steps: tuple[tuple[str, str], ...] = (SIGN, ATTEST),
) -> None:
    """ci.yml's sign and SBOM attest steps (or some of them) from the dev render, as written."""
    folder.mkdir(parents=True)
    sbom = folder / "sbom.spdx.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "webshop"}))
    runner = {
        "RUNNER_TEMP": str(folder),
        "GITHUB_OUTPUT": str(folder / "output"),
        "GITHUB_STEP_SUMMARY": str(folder / "summary"),
        "GITHUB_REPOSITORY": REPOSITORY,
    }
    env = {**runner, **signer.env, "IMAGE": image, "DIGEST": digest}
    for step in steps:
        done = run_step(tools, CI, step, env)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def ci_signer(tools: Tools, workdir: Path) -> Signer:
    return issue(tools, workdir / "admission-signers" / "ci")


@pytest.fixture(scope="module")
def images(tools: Tools, registry: str, workdir: Path, ci_signer: Signer) -> Images:
    other = issue(tools, workdir / "admission-signers" / "other", OTHER_WORKFLOW)
    repository = f"{registry}/{IMAGE_PATH}"
    folder = workdir / "admission-images"
    folder.mkdir()

    def push(tag: str) -> str:
        return push_image(tools, folder, repository, tag, revision="0" * 40, content=tag)

    signed, unsigned, other_key, not_attested, attested_only = (
        push(tag) for tag in ("signed", "unsigned", "other-key", "not-attested", "attested-only")
    )
    run_ci_steps(tools, ci_signer, repository, signed, folder / "ci")
    run_ci_steps(tools, other, repository, other_key, folder / "other")
    run_ci_steps(tools, ci_signer, repository, not_attested, folder / "sign-only", (SIGN,))
    run_ci_steps(tools, ci_signer, repository, attested_only, folder / "attest-only", (ATTEST,))
    return Images(
        repository, signed, unsigned, other_key, not_attested, attested_only, f"{repository}:signed"
    )


@pytest.fixture(scope="module")
def guarded(
    admission_plane: ControlPlane,
    policy_controller: Webhook,
    registry: str,
    ci_signer: Signer,
) -> Iterator[dict[str, dict[str, Any]]]:
    """Each guarded stack's Namespace as rendered and its policy with CI's key, applied; waits
    until the webhook has compiled every policy into its ConfigMap."""
    public_key = (ci_signer.folder / "signer.pub").read_text()
    policies: dict[str, dict[str, Any]] = {}
    for stack in GUARDED:
        apply(admission_plane, rendered_namespace(stack))
        policies[stack] = key_authority_policy(
            rendered_policy(stack), public_key, (RENDERED_REGISTRY, f"{registry}/")
        )

    refusals: list[str] = []

    def accepted(policy: dict[str, Any]) -> bool:
        # refused until the webhook serves (its CIP webhooks are failurePolicy: Fail)
        done = admission_plane.kubectl(
            "apply", "--server-side", "--field-manager=pulumi-kubernetes", "--filename=-",
            stdin=yaml.safe_dump(policy), check=False,
        )  # fmt: skip
        refusals.append(done.stderr.strip())
        return done.returncode == 0

    def compiled() -> bool:
        data = admission_plane.get("configmap", "config-image-policies", f"-n={NAMESPACE}")
        return all(p["metadata"]["name"] in (data.get("data") or {}) for p in policies.values())

    for policy in policies.values():
        wait_until(f"policy {policy['metadata']['name']} accepted", partial(accepted, policy),
                   policy_controller, detail=lambda: refusals[-1] if refusals else "")  # fmt: skip
    wait_until("policies compiled into config-image-policies", compiled, policy_controller)
    yield policies


def pod(name: str, namespace: str, image: str) -> dict[str, Any]:
    """A pod that passes Pod Security ``restricted`` (the stacks' namespaces enforce it)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def create(plane: ControlPlane, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return plane.kubectl("create", "--filename=-", stdin=yaml.safe_dump(obj), check=False)


def namespace_of(stack: str) -> str:
    return str(rendered_namespace(stack)["metadata"]["name"])


def test_the_webhook_is_the_app_version_of_the_chart_the_platform_pins() -> None:
    for cluster in ("nonprod", "prod"):
        (release,) = [
            r for r in platform_render(cluster).resources
            if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart") == FULLNAME
        ]  # fmt: skip
        assert release.inputs["version"] == CHART_VERSION
        assert release.inputs["name"] == FULLNAME
        assert release.inputs["namespace"] == NAMESPACE
        assert release.inputs["values"]["webhook"]["failurePolicy"] == "Fail"
    assert VERSION == "v0.8.2"  # Chart.yaml of chart 0.6.5: appVersion 0.8.2


@pytest.mark.parametrize("stack", GUARDED)
def test_the_policy_differs_from_the_render_only_in_its_authority_and_registry(
    stack: str, guarded: dict[str, dict[str, Any]], admission_plane: ControlPlane
) -> None:
    """What the cluster stored (through the CIP webhooks and v1beta1 -> v1alpha1 conversion)
    is the render's policy except the documented key authority and loopback registry."""
    original = rendered_policy(stack)
    stored = admission_plane.get("clusterimagepolicies.v1beta1.policy.sigstore.dev",
                                 original["metadata"]["name"])  # fmt: skip
    assert stored["metadata"]["labels"] == original["metadata"]["labels"]
    spec, want = stored["spec"], original["spec"]
    assert spec["mode"] == want["mode"] == "enforce"
    assert [i["glob"].split("/", 1)[1] for i in spec["images"]] == [
        i["glob"].removeprefix(RENDERED_REGISTRY) for i in want["images"]
    ]
    assert len(spec["authorities"]) == len(want["authorities"]) == 1
    for got, rendered_authority in zip(spec["authorities"], want["authorities"], strict=True):
        assert set(rendered_authority) - set(got) == {"keyless", "ctlog"}
        assert set(got) - set(rendered_authority) == {"key"}
        for field in set(got) & set(rendered_authority):
            assert got[field] == rendered_authority[field], field
        assert got["key"]["data"].startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize("stack", GUARDED)
def test_ci_signed_and_attested_digest_is_admitted_and_runs(
    stack: str, guarded: object, images: Images, admission_plane: ControlPlane
) -> None:
    namespace = namespace_of(stack)
    done = create(admission_plane, pod("signed", namespace, f"{images.repository}@{images.signed}"))
    assert done.returncode == 0, done.stderr

    def running() -> bool:
        status = admission_plane.get("pod", "signed", f"-n={namespace}").get("status") or {}
        return status.get("phase") == "Running"

    wait_for(f"kwok runs the admitted pod in {namespace}", running)


@pytest.mark.parametrize("stack", GUARDED)
def test_a_tag_is_resolved_to_the_signed_digest(
    stack: str, guarded: object, images: Images, admission_plane: ControlPlane
) -> None:
    """The chart's mutating webhook pins a tag to the digest it verified."""
    namespace = namespace_of(stack)
    done = create(admission_plane, pod("by-tag", namespace, images.tag))
    assert done.returncode == 0, done.stderr
    stored = admission_plane.get("pod", "by-tag", f"-n={namespace}")
    assert stored["spec"]["containers"][0]["image"] == f"{images.repository}@{images.signed}"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unsigned", "no matching attestations"),
        ("other_key", "no matching attestations"),
        ("not_attested", "no matching attestations"),
    ],
)
@pytest.mark.parametrize("stack", GUARDED)
def test_refused(
    stack: str,
    case: str,
    reason: str,
    guarded: object,
    images: Images,
    admission_plane: ControlPlane,
    policy_controller: Webhook,
) -> None:
    """Unsigned, signed and attested by another workflow's key, or signed by CI without its
    SBOM attestation. The reason is always the attestation: an authority with
    ``attestations`` is checked on that path only (pkg/webhook/validator.go at v0.8.2,
    ``case len(authority.Attestations) > 0``), see the next test."""
    digest = getattr(images, case)
    name = case.replace("_", "-")
    done = create(admission_plane, pod(name, namespace_of(stack), f"{images.repository}@{digest}"))
    assert done.returncode != 0, f"{case} admitted in {stack}"
    assert DENIED in done.stderr, done.stderr + policy_controller.log_tail()
    assert reason in done.stderr, done.stderr


@pytest.mark.parametrize("stack", GUARDED)
def test_the_policy_checks_the_attestation_not_the_signature(
    stack: str, guarded: object, images: Images, admission_plane: ControlPlane
) -> None:
    """What v0.8.2 does with the rendered policy, pinned so that a change shows: CI's SBOM
    attestation without its ``.sig`` signature is admitted. An authority that lists
    ``attestations`` verifies only those (validator.go, ``case len(authority.Attestations) > 0``;
    authorities of one policy are alternatives). The attestation is itself signed by CI's
    identity, so what is admitted is still only what CI vouched for; the deploy workflows
    verify both (docs/supply-chain.md)."""
    namespace = namespace_of(stack)
    image = f"{images.repository}@{images.attested_only}"
    done = create(admission_plane, pod("attested-only", namespace, image))
    assert done.returncode == 0, done.stderr


def test_a_namespace_without_the_label_is_not_judged(
    guarded: object, images: Images, admission_plane: ControlPlane
) -> None:
    """The control case: the same unsigned digest is admitted where the stack did not opt in,
    so the refusals above come from the policy and not from, say, an unreachable webhook."""
    labels = dict(rendered_namespace("staging")["metadata"]["labels"])
    del labels["policy.sigstore.dev/include"]
    apply(admission_plane, {"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": "not-included", "labels": labels}})  # fmt: skip
    done = create(admission_plane,
                  pod("unsigned", "not-included", f"{images.repository}@{images.unsigned}"))  # fmt: skip
    assert done.returncode == 0, done.stderr
