"""The supply-chain tier's set-up: real cosign, a real OCI registry, real buildx, a test CA.

- ``registry``: ``crane registry serve`` on a free loopback port (one per test session; plain
  HTTP, which crane, cosign and buildx use for 127.0.0.1 without being told).
- ``tools``: cosign v3.0.6, crane, buildx (tools/gotools.py, built once and cached by version)
  and the docker CLI with buildx as its plugin (``DOCKER_CONFIG/cli-plugins/docker-buildx``);
  ``docker buildx imagetools`` and ``docker login`` need no daemon.
- A test certificate authority stands in for Fulcio: :func:`issue` makes a key pair and a code
  signing certificate with the extensions Fulcio writes for a GitHub Actions token (SAN URI =
  the workflow identity; 1.3.6.1.4.1.57264.1.1 issuer, .1.3 commit, .1.5 repository, .1.6 ref;
  raw strings as in sigstore/fulcio pkg/certificate/extensions.go). cosign signs with that key
  and attaches the certificate (``--certificate``, ``--certificate-chain``), so verification
  runs every identity check a keyless signature gets (identity, issuer, workflow commit,
  repository, ref), against this CA instead of Fulcio's.
- ``bin/cosign`` wraps the real binary and adds only what offline needs: for sign/attest the
  test key, certificate and chain and ``--tlog-upload=false``; for verify ``--ca-roots`` (the
  test CA), ``--insecure-ignore-tlog`` and ``--insecure-ignore-sct``. Every other flag is the
  workflow's own.

The documented gap: Fulcio's issuance (OIDC token in, certificate out), the Rekor inclusion
proof and the certificate transparency SCT are not exercised; cosign's checks of them are
switched off by the two ``--insecure-ignore-*`` flags.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import real_tool

OIDC_ISSUER: Final = "https://token.actions.githubusercontent.com"
REVISION_LABEL: Final = "org.opencontainers.image.revision"
"""The source commit docker/metadata-action labels CI's image with."""
REPOSITORY: Final = "acme/webshop"
CI_IDENTITY: Final = f"https://github.com/{REPOSITORY}/.github/workflows/ci.yml@refs/heads/develop"
COMMIT: Final = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT: Final = "89abcdef0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Tools:
    cosign: str
    crane: str
    docker: str
    bin: Path
    """Folder first on PATH: the offline cosign wrapper."""
    docker_config: Path
    """DOCKER_CONFIG: buildx as the docker CLI's plugin, the registry login."""


@dataclass(frozen=True)
class Signer:
    """A key pair with a Fulcio-like certificate for ``identity`` (the CA's ``ca.pem``)."""

    folder: Path
    identity: str

    @property
    def env(self) -> dict[str, str]:
        """What the cosign wrapper reads to sign as this signer."""
        return {"TEST_SIGNER": str(self.folder)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("supplychain")


@pytest.fixture(scope="session")
def tools(workdir: Path) -> Tools:
    cosign = real_tool("cosign", install="python tools/gotools.py cosign")
    crane = real_tool("crane", install="python tools/gotools.py crane")
    buildx = real_tool("buildx", install="python tools/gotools.py buildx")
    docker = real_tool("docker", install="apt-get install -y docker-cli (the CLI only)")
    for tool in ("jq", "openssl"):
        real_tool(tool, install=f"apt-get install -y {tool}")
    docker_config = workdir / "docker"
    (docker_config / "cli-plugins").mkdir(parents=True)
    shutil.copy2(buildx, docker_config / "cli-plugins" / "docker-buildx")
    ca = workdir / "ca"
    ca.mkdir()
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca / "ca.key"))
    config = ca / "ca.cnf"
    config.write_text(
        "[req]\ndistinguished_name = dn\n[dn]\n[ca_ext]\n"
        "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier = hash\n"
    )
    _openssl(
        "req", "-x509", "-new", "-key", str(ca / "ca.key"), "-subj", "/O=test/CN=test-fulcio",
        "-days", "2", "-config", str(config), "-extensions", "ca_ext", "-out", str(ca / "ca.pem"),
    )  # fmt: skip
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "cosign"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# The real cosign, offline: the test CA instead of Fulcio, no Rekor or CT log.\n"
        'case "$1" in\n'
        "  sign|attest)\n"
        f'    exec "{cosign}" "$@" --key "$TEST_SIGNER/signer.key" '
        '--certificate "$TEST_SIGNER/signer.pem" '
        f'--certificate-chain "{ca}/ca.pem" --tlog-upload=false ;;\n'
        "  verify|verify-attestation)\n"
        f'    exec "{cosign}" "$@" --ca-roots "{ca}/ca.pem" --insecure-ignore-tlog=true '
        "--insecure-ignore-sct=true ;;\n"
        "esac\n"
        f'exec "{cosign}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return Tools(cosign, crane, docker, bin_dir, docker_config)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _raw(value: str) -> str:
    """An extension whose value is the raw string, as Fulcio writes its 1.1-1.6 extensions."""
    return "DER:" + value.encode().hex()


def issue(
    tools: Tools,
    folder: Path,
    identity: str = CI_IDENTITY,
    *,
    commit: str = COMMIT,
    repository: str = REPOSITORY,
    ref: str = "refs/heads/develop",
    issuer: str = OIDC_ISSUER,
) -> Signer:
    """A signer whose certificate says what Fulcio would say for that GitHub workflow run."""
    folder.mkdir(parents=True)
    ca = tools.bin.parent / "ca"
    config = folder / "leaf.cnf"
    config.write_text(
        "[req]\ndistinguished_name = dn\n[dn]\n[leaf]\n"
        "keyUsage = critical,digitalSignature\nextendedKeyUsage = codeSigning\n"
        f"subjectAltName = critical,URI:{identity}\nauthorityKeyIdentifier = keyid\n"
        f"1.3.6.1.4.1.57264.1.1 = {_raw(issuer)}\n"
        f"1.3.6.1.4.1.57264.1.3 = {_raw(commit)}\n"
        f"1.3.6.1.4.1.57264.1.5 = {_raw(repository)}\n"
        f"1.3.6.1.4.1.57264.1.6 = {_raw(ref)}\n"
    )
    ec, key, csr = folder / "leaf.ec", folder / "leaf.key", folder / "leaf.csr"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ec))
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", str(ec), "-out", str(key))
    _openssl(
        "req", "-new", "-key", str(key), "-subj", "/", "-config", str(config), "-out", str(csr)
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca / "ca.pem"), "-CAkey", str(ca / "ca.key"),
        "-CAcreateserial", "-days", "1", "-extfile", str(config), "-extensions", "leaf",
        "-out", str(folder / "signer.pem"),
    )  # fmt: skip
    subprocess.run(
        [tools.cosign, "import-key-pair", "--key", str(key), "--output-key-prefix", "signer"],
        cwd=folder,
        env={**os.environ, "COSIGN_PASSWORD": ""},
        check=True,
        capture_output=True,
    )
    return Signer(folder, identity)


@pytest.fixture(scope="session")
def registry(tools: Tools) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a registry that lives as long as the test session."""
    port = _free_port()
    server = subprocess.Popen(
        [tools.crane, "registry", "serve", "--address", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def environment(tools: Tools, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a workflow step here: wrapper first on PATH, the test's docker."""
    return {
        **os.environ,
        "PATH": f"{tools.bin}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_CONFIG": str(tools.docker_config),
        "COSIGN_PASSWORD": "",
        **(extra or {}),
    }


def crane(tools: Tools, *args: str) -> str:
    """crane's standard output (it fails the test on a non-zero exit)."""
    done = subprocess.run([tools.crane, *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def push_image(
    tools: Tools, workdir: Path, repository: str, tag: str, *, revision: str, content: str
) -> str:
    """A one-layer image labelled as docker/metadata-action labels CI's; its digest."""
    layer = workdir / f"layer-{tag}.tar"
    data = content.encode()
    with tarfile.open(layer, "w") as archive:
        entry = tarfile.TarInfo("app.txt")
        entry.size = len(data)
        archive.addfile(entry, io.BytesIO(data))
    ref = f"{repository}:{tag}"
    crane(tools, "append", "-f", str(layer), "-t", ref)
    crane(tools, "mutate", ref, "-t", ref, "--label", f"{REVISION_LABEL}={revision}")
    return crane(tools, "digest", ref)
