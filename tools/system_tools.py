"""The Debian tools the test tiers run, installed when missing.

``python tools/system_tools.py fast|full`` checks each command the tier needs. Missing ones are
installed with apt-get when this runs as root (CI and a fresh machine of this project's kind);
otherwise it prints the one command that installs them and exits 1 (it never calls sudo: a
developer's machine is changed only by the developer). It needs only the standard library, so
GitHub's runners call it as ``sudo python3 tools/system_tools.py full`` before ``make check``. Go-built tools are not here:
tools/gotools.py builds those from the Go module proxy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

FAST: Final = {
    "git": "git",
    "jq": "jq",
    "promtool": "prometheus",
}
"""Command -> Debian package, for ``make test``: the workflows' own scripts use jq and git (run
by the contract and script tests); promtool checks the metrics exposition and canary queries."""

FULL: Final = {
    **FAST,
    "prometheus": "prometheus",
    "etcd": "etcd-server",
    "openssl": "openssl",
    "docker": "docker.io",
}
"""For ``make check``: also a real Prometheus, etcd for the control plane, openssl for its test
certificates, and a docker CLI (buildx runs as its plugin; no daemon is used). kubectl is built
with the control plane at the server's version (tools/gotools.py), as is everything else the
tiers run from the Go module proxy; Go itself ships with this project's kind of machine (Debian's
is too old for those builds)."""

TIERS: Final = {"fast": FAST, "full": FULL}


def missing(tier: str) -> list[str]:
    """Debian packages providing the tier's commands that are not on PATH, in a stable order."""
    packages = [package for command, package in TIERS[tier].items() if not shutil.which(command)]
    return sorted(set(packages))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in TIERS:
        print("usage: tools/system_tools.py fast|full", file=sys.stderr)
        return 2
    packages = missing(args[0])
    if not packages:
        return 0
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if os.geteuid() != 0:
        print(
            f"missing system tools; run: sudo apt-get update && sudo {' '.join(install)}",
            file=sys.stderr,
        )
        return 1
    print(f"installing {' '.join(packages)} (Debian)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(install, check=True, env=env, stdout=subprocess.DEVNULL)
    still = missing(args[0])
    if still:
        print(f"still missing after apt-get install: {' '.join(still)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
