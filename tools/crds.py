"""CustomResourceDefinitions the cluster tier installs, taken from their Go modules at pinned
versions, as tools/gotools.py takes the tools' sources.

Each set is files of one module at an exact version: ``go mod download -json MODULE@VERSION``
(the module proxy Go is configured with; nothing else is downloaded), then the listed files are
copied into ``build/tools/<name>-<version>/`` (the version is in the path, so a pin change fetches
anew) and read from there after that. ``python tools/crds.py NAME ...`` fetches and prints each
folder; ``--list`` prints the table. Only ``CustomResourceDefinition`` documents are returned.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

PROJECT_DIR: Final = Path(__file__).resolve().parent.parent
TOOLS_DIR: Final = PROJECT_DIR / "build" / "tools"


@dataclass(frozen=True)
class CrdSet:
    """The CRD files (globs relative to the module root) of ``module`` at ``version``."""

    name: str
    module: str
    version: str
    files: tuple[str, ...]
    why: str

    @property
    def folder(self) -> Path:
        return TOOLS_DIR / f"{self.name}-{self.version}"


CRD_SETS: Final = {
    crd_set.name: crd_set
    for crd_set in (
        CrdSet(
            name="traefik-crds",
            module="github.com/traefik/traefik/v3",
            version="v3.7.13",
            files=(
                "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml",
            ),
            why="cluster tier: Traefik v3's CRDs (traefik.io: IngressRoute, TraefikService...), "
            "the file its docs install them from; the newest v3 release on the module proxy",
        ),
        CrdSet(
            name="gateway-api-crds",
            module="sigs.k8s.io/gateway-api",
            version="v1.6.3",
            files=("config/crd/standard/gateway.networking.k8s.io_*.yaml",),
            why="cluster tier: Gateway API's standard channel (HTTPRoute, Gateway...); v1.6.3, "
            "the newest release whose go.mod the machine's Go 1.26 accepts (v1.7.0 needs 1.27)",
        ),
        CrdSet(
            name="cert-manager-crds",
            module="github.com/cert-manager/cert-manager",
            version="v1.21.2",
            files=("deploy/crds/cert-manager.io_certificates.yaml",),
            why="cluster tier: cert-manager's Certificate, which the traefik router's route "
            "asks for (cert-manager never reads IngressRoutes)",
        ),
    )
}


def _module_dir(crd_set: CrdSet) -> Path:
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{crd_set.module}@{crd_set.version}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    info = json.loads(done.stdout or "{}")
    if "Dir" not in info:  # Go prints an Error field (and may still exit 0) when it fails
        raise RuntimeError(
            f"go mod download {crd_set.module}@{crd_set.version}: "
            f"{info.get('Error') or done.stderr.strip()}"
        )
    return Path(info["Dir"])


def fetch(name: str) -> Path:
    """The folder holding the set's files, fetched on first use."""
    crd_set = CRD_SETS[name]
    folder = crd_set.folder
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    module_dir = _module_dir(crd_set)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for pattern in crd_set.files:
        matched = sorted(module_dir.glob(pattern))
        if not matched:
            raise RuntimeError(f"{crd_set.module}@{crd_set.version} has no {pattern}")
        for path in matched:
            shutil.copyfile(path, staging / path.name)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def crds(name: str) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition of the set, in file order."""
    found: list[dict[str, Any]] = []
    for path in sorted(fetch(name).iterdir()):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                found.append(document)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="sets to fetch (default: all)")
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    args = parser.parse_args(argv)
    if args.list:
        for crd_set in CRD_SETS.values():
            print(f"{crd_set.name}\t{crd_set.module}@{crd_set.version}\t{crd_set.why}")
        return 0
    for name in args.names or list(CRD_SETS):
        if name not in CRD_SETS:
            print(f"unknown CRD set {name!r} (known: {', '.join(CRD_SETS)})", file=sys.stderr)
            return 2
        print(fetch(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
