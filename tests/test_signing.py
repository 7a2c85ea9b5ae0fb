"""Signing, verification and admission agree (components/signing.py); attestation and SARIF
upload follow the repository's GitHub plan (``cicd:pipeline.github``).

The real binaries run in tests/supplychain (marker ``supplychain``); these fast tests read the
rendered workflows and policies.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import jsonschema
import pytest
import yaml

from components.signing import (
    ADMISSION_FORMATS,
    COSIGN_RELEASE,
    OIDC_ISSUER,
    SBOM_PREDICATE,
    SIGNATURE_FORMAT,
    SignatureFormat,
    admission_fields,
    sign_flags,
    signer_identity,
    verify_flags,
)
from components.workflows.common import script
from render.tree import tree
from tests.conftest import DELETE, config_problems, render_variant, rendered
from tests.test_image_policy import _strict, policies
from tests.test_workflows import step_named, steps, wf
from tools.gotools import TOOLS

CHART_CRD: Final = (
    Path(__file__).parent
    / "fixtures"
    / "policy-controller"
    / "clusterimagepolicy-crd-chart-0.6.5.yaml"
)
COSIGN_LINE: Final = re.compile(
    r"^\s*(?:if ! )?cosign (sign|attest|verify|verify-attestation) (.*)$"
)


def _cosign_calls(job: dict[str, Any]) -> list[tuple[str, str]]:
    """(subcommand, the rest of its line and continuation lines) of each cosign call in a job."""
    calls = []
    for step in steps(job):
        lines = str(step.get("run", "")).replace("\\\n", " ").splitlines()
        calls += [(m[1], m[2]) for m in map(COSIGN_LINE.match, lines) if m]
    return calls


def test_ci_signs_in_the_format_the_deploys_verify_and_admission_reads() -> None:
    assert SIGNATURE_FORMAT in ADMISSION_FORMATS
    publish = wf("dev", "ci.yml")["jobs"]["publish"]
    calls = _cosign_calls(publish)
    written = [rest for command, rest in calls if command in ("sign", "attest")]
    assert len(written) == 2
    # the flags come from env, set from the constant, and reach cosign as words
    assert all('"${flags[@]}"' in rest for rest in written), written
    signers = [s for s in steps(publish) if "cosign sign" in s.get("run", "")]
    signers += [s for s in steps(publish) if "cosign attest" in s.get("run", "")]
    assert [s["env"]["SIGN_FLAGS"] for s in signers] == [sign_flags()] * 2
    # the release verifies the same format (its flag comes from env, set from the constant)
    release = step_named(
        wf("dev", "release.yml")["jobs"]["release"], "Find the digest the default branch published"
    )
    assert '--new-bundle-format="$NEW_BUNDLE_FORMAT"' in release["run"]
    assert release["env"]["NEW_BUNDLE_FORMAT"] == "false"
    for stack, file in (("staging", "stage-deploy.yml"), ("prod", "prod-deploy.yml")):
        verify = wf(stack, file)["jobs"]["verify"]
        read = [rest for command, rest in _cosign_calls(verify) if command.startswith("verify")]
        assert len(read) == 2, read
        # the flags come from env, set from the constant, and reach cosign as words
        assert all('"${flags[@]}"' in rest for rest in read), read
        (verifier,) = [s for s in steps(verify) if "cosign verify" in s.get("run", "")]
        assert verifier["env"]["VERIFY_FLAGS"] == verify_flags()
        assert 'read -r -a flags <<<"$VERIFY_FLAGS"' in verifier["run"]
        (policy,) = policies(stack)
        (authority,) = policy["spec"]["authorities"]
        assert authority.get("signatureFormat", SignatureFormat.LEGACY) == SIGNATURE_FORMAT


def test_the_cosign_release_is_pinned_where_it_is_installed() -> None:
    assert TOOLS["cosign"].version == COSIGN_RELEASE
    installs = [
        step
        for stack, file in (("dev", "ci.yml"), ("staging", "stage-deploy.yml"))
        for job in wf(stack, file)["jobs"].values()
        for step in steps(job)
        if "sigstore/cosign-installer" in step.get("uses", "")
    ]
    assert len(installs) == 2
    assert all(step["with"] == {"cosign-release": COSIGN_RELEASE} for step in installs)


def test_the_deploy_verifies_the_commit_with_certificate_flags_not_cosign_output() -> None:
    verify = step_named(
        wf("staging", "stage-deploy.yml")["jobs"]["verify"], "Verify signature and SBOM attestation"
    )
    run = verify["run"]
    for flag, value in (
        ("--certificate-github-workflow-sha", '"$commit"'),
        ("--certificate-github-workflow-repository", '"$GITHUB_REPOSITORY"'),
        ("--certificate-github-workflow-ref", '"$SIGNER_REF"'),
    ):
        assert f"{flag} {value}" in run, flag
    assert "--output" not in run and ".optional" not in run
    assert verify["env"]["REVISION_LABEL"] == "org.opencontainers.image.revision"
    assert ".config.Labels[$key]" in run and '--arg key "$REVISION_LABEL"' in run


def test_the_release_retag_keeps_the_signed_digest() -> None:
    run = step_named(wf("dev", "release.yml")["jobs"]["release"], "Name the release")["run"]
    (create,) = [
        line for line in run.splitlines() if line.startswith("docker buildx imagetools create")
    ]
    assert "--prefer-index=false" in create
    assert 'if [ "$tagged" != "$DIGEST" ]; then' in run


def test_admission_fields_per_format() -> None:
    assert admission_fields(SignatureFormat.LEGACY) == {}
    assert admission_fields(SignatureFormat.BUNDLE) == {"signatureFormat": "bundle"}
    assert sign_flags(SignatureFormat.BUNDLE) == "--new-bundle-format=true"
    assert verify_flags(SignatureFormat.BUNDLE) == "--new-bundle-format=true"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_policy_fits_the_pinned_chart_crd(stack: str) -> None:
    """The CRD chart 0.6.5 installs (policy-controller v0.8.2): no unknown field, so the
    webhook (which refuses unknown fields) takes the policy; ``signatureFormat`` would be one."""
    crd = yaml.safe_load(CHART_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    validator = jsonschema.Draft7Validator(
        _strict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])
    )
    (policy,) = policies(stack)
    assert [e.message for e in validator.iter_errors(policy["spec"])] == []
    with_format = {
        **policy["spec"],
        "authorities": [{**policy["spec"]["authorities"][0], "signatureFormat": "legacy"}],
    }
    assert any("signatureFormat" in e.message for e in validator.iter_errors(with_format))


# ---------------------------------------------------------------------------------------------
# The plan decides build provenance and SARIF upload
# ---------------------------------------------------------------------------------------------

PLAN: Final = "cicd:pipeline.github"


def _ci(changes: dict[str, Any]) -> dict[str, Any]:
    return dict(yaml.safe_load(tree(render_variant("dev", changes))["github/workflows/ci.yml"]))


def _notices(job: dict[str, Any]) -> list[str]:
    return [s["env"]["NOTICE"] for s in steps(job) if s.get("run") == script("notice.sh")]


def test_without_plan_settings_ci_uses_neither_attestations_nor_code_scanning() -> None:
    """Defaults: a private repository on GitHub Free; CI stays green and says why."""
    jobs = _ci({PLAN: DELETE})["jobs"]
    publish, scan = jobs["publish"], jobs["build"]
    uses = [s.get("uses", "") for job in (publish, scan) for s in steps(job)]
    assert not any("attest-build-provenance" in u or "upload-sarif" in u for u in uses)
    assert "attestations" not in publish["permissions"]
    assert scan["permissions"] == {"contents": "read"}  # build: Trivy runs where it was built
    (provenance,) = _notices(publish)
    assert "needs artifact attestations" in provenance and "enterpriseCloud" in provenance
    assert "a private repository on plan free" in provenance
    (sarif,) = _notices(scan)
    assert "needs code scanning" in sarif and "codeSecurity" in sarif
    assert step_named(scan, "Trivy image scan")["with"]["format"] == "table"


def test_a_stack_without_plan_settings_warns_what_it_assumes() -> None:
    warned = render_variant("dev", {PLAN: DELETE}).warnings
    assert [w for w in warned if "pipeline.github" in w] == [
        "cicd:pipeline.github not set: assuming a private repository on plan free, so ci.yml "
        "runs no build provenance attestation and no SARIF upload (docs/supply-chain.md)"
    ]
    assert not [w for w in rendered("dev").warnings if "pipeline.github" in w]


def test_a_public_repository_attests_and_uploads_on_any_plan() -> None:
    jobs = _ci({PLAN: {"visibility": "public", "plan": "free"}})["jobs"]
    assert step_named(jobs["publish"], "Build provenance attestation")["uses"].startswith(
        "actions/attest-build-provenance@"
    )
    assert jobs["publish"]["permissions"]["attestations"] == "write"
    assert step_named(jobs["build"], "Upload the Trivy report to code scanning")
    assert _notices(jobs["publish"]) == [] and _notices(jobs["build"]) == []


def test_a_private_repository_on_team_with_code_security_uploads_but_does_not_attest() -> None:
    jobs = _ci({PLAN: {"visibility": "private", "plan": "team", "codeSecurity": True}})["jobs"]
    assert step_named(jobs["build"], "Upload the Trivy report to code scanning")
    assert "attestations" not in jobs["publish"]["permissions"]
    (notice,) = _notices(jobs["publish"])
    assert "a private repository on plan team, codeSecurity" in notice


def test_switched_off_by_hand_says_so() -> None:
    jobs = _ci(
        {
            PLAN: {"visibility": "public"},
            "cicd:pipeline.scanners.sarifUpload": False,
            "cicd:pipeline.buildProvenance": False,
        }
    )["jobs"]
    assert _notices(jobs["build"]) == [
        "SARIF upload to code scanning (Trivy's exit code still gates) is off "
        "(cicd:pipeline.scanners.sarifUpload: false)"
    ]
    assert _notices(jobs["publish"]) == [
        "Build provenance attestation is off (cicd:pipeline.buildProvenance: false)"
    ]


def test_features_the_plan_lacks_are_config_errors() -> None:
    problems = config_problems(
        "dev",
        {
            PLAN: {"visibility": "private", "plan": "pro", "codeSecurity": True},
            "cicd:pipeline.scanners.sarifUpload": True,
            "cicd:pipeline.buildProvenance": True,
        },
    )
    assert problems == [
        "Pulumi.dev.yaml: cicd:pipeline.github.codeSecurity needs plan enterpriseCloud, "
        "enterpriseServer, team: GitHub sells Code Security for those only (got true on plan pro)",
        "Pulumi.dev.yaml: cicd:pipeline.buildProvenance needs artifact attestations, which GitHub "
        "offers for public repositories on every plan and for private or internal ones only on "
        "plan enterpriseCloud; set it false or leave it out (got true for a private repository "
        "on plan pro, codeSecurity)",
    ]
    (sarif,) = config_problems(
        "dev", {PLAN: {"plan": "team"}, "cicd:pipeline.scanners.sarifUpload": True}
    )
    assert sarif.startswith(
        "Pulumi.dev.yaml: cicd:pipeline.scanners.sarifUpload needs code scanning"
    )
    (unknown,) = config_problems("dev", {PLAN: {"plan": "business"}})
    assert unknown.startswith("Pulumi.dev.yaml: cicd:pipeline.github.plan ")


# --------------------------------------------------------------------------------------------
# The signing identity, defined once (components/signing.py), agrees on both sides
# --------------------------------------------------------------------------------------------

_RUN_CONTEXT: Final = {
    "${{ github.server_url }}": "https://github.com",
    "${{ github.repository }}": "acme/webshop",
}
"""What GitHub puts in those expressions for the stacks' repository (github:owner acme,
cicd:app.repository webshop)."""


def _evaluated(value: str) -> str:
    for expression, answer in _RUN_CONTEXT.items():
        value = value.replace(expression, answer)
    assert "${{" not in value, value
    return value


def _verifiers(stack: str, file: str) -> list[dict[str, Any]]:
    """Every step of ``file`` that checks CI's signature (it sets SIGNER_IDENTITY to a URL)."""
    return [
        step
        for job in wf(stack, file)["jobs"].values()
        for step in steps(job)
        if str(step.get("env", {}).get("SIGNER_IDENTITY", "")).startswith("${{")
    ]


@pytest.mark.parametrize(
    ("stack", "file"), [("staging", "stage-deploy.yml"), ("prod", "prod-deploy.yml")]
)
def test_the_verify_step_and_the_cluster_image_policy_name_the_same_signer(
    stack: str, file: str
) -> None:
    """Parse the rendered ClusterImagePolicy and the rendered verify steps: the identity the
    cluster admits is exactly the one the deploy verifies and the one release.yml checks."""
    (policy,) = policies(stack)
    (authority,) = policy["spec"]["authorities"]
    (identity,) = authority["keyless"]["identities"]
    admitted = (identity["subject"], identity["issuer"])
    assert admitted == (
        signer_identity("acme/webshop", "develop"),
        OIDC_ISSUER,
    )
    verifiers = _verifiers(stack, file) + _verifiers("dev", "release.yml")
    assert len(verifiers) >= 2
    checked = 0
    for step in verifiers:
        env = step["env"]
        assert _evaluated(env["SIGNER_IDENTITY"]) == admitted[0], step["name"]
        if "OIDC_ISSUER" in env:  # the steps that run cosign verify (others only report it)
            checked += 1
            assert env["OIDC_ISSUER"] == admitted[1], step["name"]
            assert admitted[0].endswith("@" + env["SIGNER_REF"])
    assert checked >= 2  # the deploy's verify and release.yml's
    # the attestation the cluster asks for is the one CI attaches
    (attestation,) = authority["attestations"]
    attest = step_named(
        wf("dev", "ci.yml")["jobs"]["publish"], "Attest the SBOM to the pushed digest (keyless)"
    )
    assert attestation["predicateType"] == attest["env"]["PREDICATE_TYPE"] == SBOM_PREDICATE


def test_a_changed_identity_would_be_caught() -> None:
    """The comparison above is not vacuous: another branch's identity differs from the policy's."""
    (policy,) = policies("staging")
    (identity,) = policy["spec"]["authorities"][0]["keyless"]["identities"]
    assert identity["subject"] != signer_identity("acme/webshop", "main")
    assert (
        _evaluated(
            "${{ github.server_url }}/${{ github.repository }}/.github/workflows/ci.yml@refs/heads/main"
        )
        != identity["subject"]
    )
