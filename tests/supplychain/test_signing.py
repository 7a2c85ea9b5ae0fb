"""Signing and promotion with the real tools: the steps the generated workflows run, for real.

cosign v3.0.6 (what sigstore/cosign-installer v4.1.2 installs), buildx v0.38.2 as the docker
CLI's plugin and crane's registry on loopback (tests/supplychain/conftest.py). Each test takes
the ``run:`` script of a step out of the rendered workflow (ci.yml of dev, stage-deploy.yml of
staging), gives it the env the runner would, runs it with bash as GitHub does
(``bash --noprofile --norc -eo pipefail``) and reads what it wrote to GITHUB_OUTPUT. Offline
flags are added by the cosign wrapper only (conftest.py says which and why).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.signing import COSIGN_RELEASE, SBOM_PREDICATE, new_bundle_format, sign_flags
from tests.pipeline.harness import stack_files
from tests.supplychain.conftest import (
    CI_IDENTITY,
    COMMIT,
    OIDC_ISSUER,
    OTHER_COMMIT,
    REPOSITORY,
    Signer,
    Tools,
    crane,
    environment,
    issue,
    push_image,
)
from tools.gotools import TOOLS

pytestmark = pytest.mark.supplychain

CI: Final = ".github/workflows/ci.yml"
STAGE: Final = ".github/workflows/stage-deploy.yml"
SIGN: Final = ("publish", "Sign the pushed digest (keyless)")
ATTEST: Final = ("publish", "Attest the SBOM to the pushed digest (keyless)")
RELEASE: Final = ".github/workflows/release.yml"
FIND: Final = ("release", "Find the digest the default branch published")
RETAG: Final = ("release", "Name the release")
RESOLVE: Final = ("verify", "Resolve the release to one digest")
VERIFY: Final = ("verify", "Verify signature and SBOM attestation")


@cache
def _workflow(stack: str, path: str) -> dict[str, Any]:
    return dict(yaml.safe_load(stack_files(stack)[path]))


def _step(path: str, job_and_name: tuple[str, str]) -> dict[str, Any]:
    stack = "dev" if path in (CI, RELEASE) else "staging"
    job, name = job_and_name
    steps = _workflow(stack, path)["jobs"][job]["steps"]
    (step,) = [s for s in steps if s.get("name") == name]
    return dict(step)


@pytest.fixture
def runner(tmp_path: Path) -> dict[str, str]:
    """The runner's own variables (GITHUB_OUTPUT and friends) in a fresh folder."""
    temp = tmp_path / "runner"
    temp.mkdir()
    return {
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(temp / "output"),
        "GITHUB_STEP_SUMMARY": str(temp / "summary"),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_ACTOR": "ci-bot",
    }


def run_step(
    tools: Tools,
    path: str,
    job_and_name: tuple[str, str],
    env: Mapping[str, str],
    *,
    edit: tuple[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a rendered step's script. ``env`` gives the values of the step's ``env:`` entries
    that are expressions GitHub evaluates (every one must be given); literal entries (a pattern,
    cosign's flags) are taken as rendered unless ``env`` overrides them. ``edit`` (old, new)
    changes the script first, to show what a defect did."""
    step = _step(path, job_and_name)
    declared = {str(k): str(v) for k, v in step.get("env", {}).items()}
    missing = {name for name, value in declared.items() if "${{" in value} - set(env)
    assert not missing, f"the test gives no value for {missing}"
    env = {**{k: v for k, v in declared.items() if "${{" not in v}, **env}
    script = str(step["run"])
    if edit is not None:
        assert edit[0] in script
        script = script.replace(*edit)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=environment(tools, env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def outputs(runner: Mapping[str, str]) -> dict[str, str]:
    out = Path(runner["GITHUB_OUTPUT"])
    lines = out.read_text().splitlines() if out.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("::error::")]


@pytest.fixture(scope="session")
def ci_signer(tools: Tools, workdir: Path) -> Signer:
    return issue(tools, workdir / "signers" / "ci")


def sign_as_ci(
    tools: Tools, runner: dict[str, str], signer: Signer, image: str, digest: str
) -> None:
    """ci.yml's publish: its sign and SBOM attest steps, as written in the rendered file."""
    sbom = Path(runner["RUNNER_TEMP"]) / "sbom.spdx.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "webshop"}))
    env = {
        **runner,
        **signer.env,
        "IMAGE": image,
        "DIGEST": digest,
        "SIGN_FLAGS": sign_flags(),
        "PREDICATE_TYPE": SBOM_PREDICATE,
    }
    for step in (SIGN, ATTEST):
        done = run_step(tools, CI, step, env)
        assert done.returncode == 0, done.stderr


def deploy_env(runner: dict[str, str], image: str, release: str) -> dict[str, str]:
    """stage-deploy.yml's verify job: what its steps' env: evaluates to on the runner."""
    return {
        **runner,
        "IMAGE": image,
        "RELEASE": release,
        "ACTION": "deploy",
        "GH_TOKEN": "not-a-secret",
        "SIGNER_IDENTITY": CI_IDENTITY,
        "SIGNER_REF": "refs/heads/develop",
        "OIDC_ISSUER": OIDC_ISSUER,
    }


def resolve_and_verify(
    tools: Tools, runner: dict[str, str], image: str, release: str
) -> subprocess.CompletedProcess[str]:
    """The verify job's first two steps: one digest for the release, then its signature."""
    env = deploy_env(runner, image, release)
    resolved = run_step(tools, STAGE, RESOLVE, env)
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    return run_step(tools, STAGE, VERIFY, {**env, "DIGEST": outputs(runner)["digest"]})


def test_the_tier_runs_the_cosign_the_workflows_install() -> None:
    assert TOOLS["cosign"].version == COSIGN_RELEASE
    installs = [
        s
        for s in _workflow("dev", CI)["jobs"]["publish"]["steps"]
        if "sigstore/cosign-installer" in s.get("uses", "")
    ]
    assert [s["with"]["cosign-release"] for s in installs] == [COSIGN_RELEASE]


def test_cosign_v3_default_format_hides_the_commit_and_the_signature_from_admission(
    tools: Tools, registry: str, ci_signer: Signer, workdir: Path
) -> None:
    """The defect, on the real binary: signed with cosign v3's defaults (a Sigstore bundle as
    an OCI referrer), there is no ``.sig`` tag for policy-controller v0.8.2 to find, and
    ``verify --output json`` names no commit (the old verify step's jq read
    ``.optional.githubWorkflowSha`` and stopped with "names no source commit")."""
    image = f"{registry}/acme/webshop-bundle"
    digest = push_image(tools, workdir, image, "sha-x", revision=COMMIT, content="bundle")
    ca = workdir / "ca" / "ca.pem"
    folder = workdir / "bundle"
    folder.mkdir()
    subprocess.run(
        [tools.cosign, "signing-config", "create", "--no-default-fulcio", "--no-default-oidc",
         "--no-default-rekor", "--no-default-tsa", "--out", str(folder / "signing.json")],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [tools.cosign, "trusted-root", "create",
         f"--fulcio=url=https://fulcio.test,certificate-chain={ca},start-time=2020-01-01T00:00:00Z",
         "--out", str(folder / "trusted-root.json")],
        check=True, capture_output=True,
    )  # fmt: skip
    ref = f"{image}@{digest}"
    signed = subprocess.run(
        [tools.cosign, "sign", "--yes", "--key", f"{ci_signer.folder}/signer.key",
         "--certificate", f"{ci_signer.folder}/signer.pem", "--certificate-chain", str(ca),
         "--signing-config", str(folder / "signing.json"), ref],
        env=environment(tools), capture_output=True, text=True,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    tags = crane(tools, "ls", image).split()
    hexdigest = digest.removeprefix("sha256:")
    assert f"sha256-{hexdigest}.sig" not in tags  # what policy-controller v0.8.2 looks for
    assert f"sha256-{hexdigest}" in tags  # the referrers fallback tag holding the bundle
    verified = subprocess.run(
        [tools.cosign, "verify", ref, "--certificate-identity", CI_IDENTITY,
         "--certificate-oidc-issuer", OIDC_ISSUER, "--trusted-root",
         str(folder / "trusted-root.json"), "--insecure-ignore-tlog=true",
         "--insecure-ignore-sct=true", "--output", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    (result,) = json.loads(verified.stdout)
    assert result["optional"] == {}  # no githubWorkflowSha, no certificate field at all
    old_verify_step = subprocess.run(  # how the verify step read the commit before
        ["jq", "--raw-output", '[.[].optional.githubWorkflowSha // empty][0] // ""'],
        input=verified.stdout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert old_verify_step.stdout.strip() == ""  # -> "the signature ... names no source commit"
    # and the verify step, which reads the legacy format only, refuses it as admission would
    runner = {
        "RUNNER_TEMP": str(folder),
        "GITHUB_OUTPUT": str(folder / "output"),
        "GITHUB_REPOSITORY": REPOSITORY,
    }
    done = run_step(tools, STAGE, VERIFY, {**deploy_env(runner, image, digest), "DIGEST": digest})
    assert done.returncode == 1
    assert any("is not signed by" in e for e in errors(done)), done.stdout


def test_ci_signs_in_the_format_admission_reads_and_the_deploy_verifies_it(
    tools: Tools, registry: str, ci_signer: Signer, workdir: Path, runner: dict[str, str]
) -> None:
    image = f"{registry}/acme/webshop"
    digest = push_image(tools, workdir, image, f"sha-{COMMIT}", revision=COMMIT, content="v1")
    sign_as_ci(tools, runner, ci_signer, image, digest)
    hexdigest = digest.removeprefix("sha256:")
    tags = set(crane(tools, "ls", image).split())
    assert {f"sha256-{hexdigest}.sig", f"sha256-{hexdigest}.att"} <= tags
    assert new_bundle_format() == "false"
    for release in (digest, f"sha-{COMMIT}"):  # a digest, or a tag resolved once
        done = resolve_and_verify(tools, runner, image, release)
        assert done.returncode == 0, done.stdout + done.stderr
        assert outputs(runner)["commit"] == COMMIT
        assert outputs(runner)["digest"] == digest
        Path(runner["GITHUB_OUTPUT"]).unlink()


@pytest.mark.parametrize(
    ("case", "cosign_says"),
    [
        ("unsigned", "no signatures found"),
        ("another workflow", "none of the expected identities matched"),
        ("another repository", "expected GitHub Workflow Repository not found in certificate"),
        ("label names another commit", "expected GitHub Workflow SHA not found in certificate"),
    ],
)
def test_the_deploy_verify_step_refuses(
    case: str, cosign_says: str, tools: Tools, registry: str, workdir: Path, runner: dict[str, str]
) -> None:
    image = f"{registry}/acme/webshop-refused-{case.replace(' ', '-')}"
    label = OTHER_COMMIT if case == "label names another commit" else COMMIT
    digest = push_image(tools, workdir, image, "sha-x", revision=label, content=case)
    folder = workdir / "signers" / case.replace(" ", "-")
    signer: Signer | None = None
    if case == "another workflow":
        signer = issue(tools, folder, CI_IDENTITY.replace("ci.yml", "release.yml"))
    elif case == "another repository":
        signer = issue(tools, folder, repository="acme/fork-of-webshop")
    elif case == "label names another commit":
        signer = issue(tools, folder)
    if signer is not None:
        sign_as_ci(tools, runner, signer, image, digest)
    done = resolve_and_verify(tools, runner, image, digest)
    assert done.returncode == 1, done.stdout + done.stderr
    assert any("is not signed by" in e and "refusing to deploy it" in e for e in errors(done))
    assert cosign_says in done.stderr
    assert "commit" not in outputs(runner)


def _release_env(runner: dict[str, str], image: str, tag: str) -> dict[str, str]:
    return {
        **runner,
        "IMAGE": image,
        "SIGNER_IDENTITY": CI_IDENTITY,
        "SIGNER_REF": "refs/heads/develop",
        "OIDC_ISSUER": OIDC_ISSUER,
        "NEW_BUNDLE_FORMAT": new_bundle_format(),
        "GITHUB_SHA": COMMIT,
        "GITHUB_REF_NAME": tag,
        # read only when the tagged commit has no image of its own (a squash merge asks GitHub
        # for its pull request); these tags are on built commits, so no gh call is made
        "GH_TOKEN": "unused-by-these-tags",
    }


def release(
    tools: Tools,
    runner: dict[str, str],
    image: str,
    tag: str,
    edit: tuple[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """release.yml's two steps around its Trivy scan: find the built digest (and verify its
    signature), then name it; ``edit`` changes the naming step's script."""
    env = _release_env(runner, image, tag)
    found = run_step(tools, RELEASE, FIND, env)
    assert found.returncode == 0, found.stdout + found.stderr
    source = outputs(runner)
    named = {**env, "DIGEST": source["digest"], "COMMIT": source["commit"]}
    return run_step(tools, RELEASE, RETAG, named, edit=edit)


def test_a_release_tag_names_the_signed_digest_and_staging_verifies_it(
    tools: Tools, registry: str, ci_signer: Signer, workdir: Path, runner: dict[str, str]
) -> None:
    """v* tag: release.yml names the default branch's digest (release_*.sh), the tag resolves
    to exactly that digest, and the deploy's resolve + verify accept the tag."""
    image = f"{registry}/acme/webshop-release"
    digest = push_image(tools, workdir, image, f"sha-{COMMIT}", revision=COMMIT, content="rel")
    sign_as_ci(tools, runner, ci_signer, image, digest)
    done = release(tools, runner, image, "v1.4.3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs(runner)["digest"] == digest
    assert crane(tools, "digest", f"{image}:1.4.3") == digest
    Path(runner["GITHUB_OUTPUT"]).unlink()
    verified = resolve_and_verify(tools, runner, image, "1.4.3")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert outputs(runner)["digest"] == digest and outputs(runner)["commit"] == COMMIT


def test_buildx_default_retag_makes_an_unsigned_index_and_the_release_step_says_so(
    tools: Tools, registry: str, ci_signer: Signer, workdir: Path, runner: dict[str, str]
) -> None:
    """The defect, on the real buildx: without ``--prefer-index=false`` imagetools create
    wraps the single-platform manifest in a new index; the tag then names a digest nobody
    signed. The release step checks the tag and fails, and the new digest fails verify."""
    image = f"{registry}/acme/webshop-index"
    digest = push_image(tools, workdir, image, f"sha-{COMMIT}", revision=COMMIT, content="idx")
    sign_as_ci(tools, runner, ci_signer, image, digest)
    done = release(tools, runner, image, "v1.4.4", edit=("--prefer-index=false ", ""))
    assert done.returncode == 1
    assert any(f"not the signed {digest}" in e for e in errors(done)), done.stdout
    wrapped = crane(tools, "digest", f"{image}:1.4.4")
    assert wrapped != digest
    manifest = json.loads(crane(tools, "manifest", f"{image}:1.4.4"))
    assert [m["digest"] for m in manifest["manifests"]] == [digest]
    verified = resolve_and_verify(tools, runner, image, "1.4.4")
    assert verified.returncode == 1
    assert any("is not signed by" in e for e in errors(verified))


def test_the_tools_are_the_pinned_versions(tools: Tools) -> None:
    version = subprocess.run(
        [tools.cosign, "version", "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(version.stdout)["gitVersion"] == COSIGN_RELEASE
    buildx = subprocess.run(
        [tools.docker, "buildx", "version"],
        env={**os.environ, "DOCKER_CONFIG": str(tools.docker_config)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert TOOLS["buildx"].version in buildx.stdout
