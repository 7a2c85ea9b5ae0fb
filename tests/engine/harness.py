"""The real Pulumi CLI on a copy of this project: a file backend, a passphrase, local plugins.

What runs is real: the Pulumi CLI and engine (tools/gotools.py ``pulumi``), the Kubernetes provider
(``pulumi-resource-kubernetes``) against the cluster tier's control plane, the project's program
with the pinned Python SDK in the project's ``.venv``. Two stand-ins, each with its reason in its
own docstring: the Python language host (:mod:`tests.engine.language_host`: not served by any
registry) and, while the GitHub half of issue 25 is not merged, a state-only GitHub provider
(:mod:`tests.engine.github_off`).

Nothing is downloaded: plugins are found on ``PATH`` (the engine's "ambient" plugins,
``GetPluginPath`` in sdk/go/common/workspace/plugins.go v3.274.0, which uses a plugin found on
PATH whatever version the program asks for), and automatic plugin acquisition and the update
check are off. ``PULUMI_HOME`` is under ``build/engine/``; the backend and the copy of the
project live in a temporary folder per session.

The commands are the README's going-live steps (docs/going-live.md): ``pulumi login file://``,
``pulumi stack init``, ``pulumi config set --secret`` for every secret, platform stacks first,
then ``pulumi up`` of dev, staging and prod. Where the tier must differ, the difference is a
named constant here and listed in docs/engine.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

PROJECT_DIR: Final = Path(__file__).resolve().parent.parent.parent
ENGINE_BUILD: Final = PROJECT_DIR / "build" / "engine"
PASSPHRASE: Final = "engine-tier-passphrase"
"""The test passphrase of every stack's passphrase secrets provider (PULUMI_CONFIG_PASSPHRASE)."""

DIY_ORGANIZATION: Final = "organization"
"""A self-managed backend knows one organization, literally ``organization``
(pkg/backend/diy/store.go v3.274.0: "organization name must be 'organization'"). The stack files
say ``cicd:cluster.platformStack: acme/cicd-platform/...``, which only Pulumi Cloud resolves, so
the tier sets ``organization/cicd-platform/...`` (docs/engine.md lists this for the README)."""

PLATFORM_OF: Final = {"dev": "nonprod", "staging": "nonprod", "prod": "prod"}

NO_DIGEST_PINNING: Final = ("cicd:registry.pinDigest", "false")
"""prod pins its image tag to a digest (``registry.pinDigest: true``) with pulumi-docker's
``get_registry_image``, which needs the Docker provider (``github.com/pulumi/pulumi-docker/
provider``: the module proxy serves no version of it) and asks ghcr.io, which this machine cannot
reach. The tier turns pinning off; docs/engine.md lists it."""


def tier_settings(stack: str) -> list[tuple[str, str]]:
    """The ``--path`` config the tier sets on an environment stack, and the render must use too."""
    settings = [
        ("cicd:cluster.platformStack", f"{DIY_ORGANIZATION}/cicd-platform/{PLATFORM_OF[stack]}")
    ]
    if stack == "prod":
        settings.append(NO_DIGEST_PINNING)
    return settings


ENVIRONMENT_STACKS: Final = ("dev", "staging", "prod")
PLATFORM_STACKS: Final = ("nonprod", "prod")
KUBE_CONTEXTS: Final = ("acme-nonprod", "acme-prod")
"""The contexts the stacks name (``cicd:cluster.kubeContext``), all pointing at the tier's plane."""

HELM_RELEASE: Final = "kubernetes:helm.sh/v3:Release"
"""The platform's Helm releases fetch their charts from the charts' web repositories, which this
machine cannot reach: the tier excludes them (``pulumi up --exclude``) and installs what they
would (the Argo Rollouts CRDs and controller, the ClusterImagePolicy CRD) as the cluster tier
does."""

COPIED_IGNORE: Final = (
    ".git",
    ".venv",
    "build",
    "node_modules",
    "tests",
    "docs",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
)


def secret_value(stack: str, key: str) -> str:
    """The known value the tier sets for a secret key: it must never appear in plain text."""
    return f"engine-tier-secret-{stack}-{key.replace(':', '-')}"


@dataclass(frozen=True)
class Tools:
    """The binaries of the tier: the CLI, and the folder put first on PATH for plugins."""

    pulumi: Path
    bin_dir: Path


def plugin_bin(pulumi: Path, kubernetes_provider: Path, *, github_off: bool) -> Tools:
    """``build/engine/bin``: the plugins the engine finds on PATH, by the names it looks for."""
    bin_dir = ENGINE_BUILD / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = PROJECT_DIR / ".venv" / "bin" / "python"
    links = {"pulumi": pulumi, "pulumi-resource-kubernetes": kubernetes_provider}
    for name, target in links.items():
        # Two pytest workers may lay the folder out at once: each entry is replaced atomically.
        staging = bin_dir / f".{name}.{os.getpid()}"
        staging.unlink(missing_ok=True)
        staging.symlink_to(target)
        staging.replace(bin_dir / name)
    scripts = {"pulumi-language-python": PROJECT_DIR / "tests" / "engine" / "language_host.py"}
    github_script = bin_dir / "pulumi-resource-github"
    if github_off:
        scripts["pulumi-resource-github"] = PROJECT_DIR / "tests" / "engine" / "github_off.py"
    else:
        github_script.unlink(missing_ok=True)
    for name, module in scripts.items():
        staging = bin_dir / f".{name}.{os.getpid()}"
        staging.write_text(f'#!/bin/sh\nexec "{python}" "{module}" "$@"\n')
        staging.chmod(0o755)
        staging.replace(bin_dir / name)
    return Tools(pulumi=pulumi, bin_dir=bin_dir)


def kubeconfig(path: Path, server: str, ca_file: Path, token: str) -> Path:
    """One kubeconfig whose contexts are the stacks' ``kubeContext`` names, all admin."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tier", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "tier", "user": "admin"}} for name in KUBE_CONTEXTS],
        "current-context": KUBE_CONTEXTS[0],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class Run:
    """One CLI run: its command line, exit code, output and wall time."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Workspace:
    """A copy of the project logged in to a file backend, with the tier's environment."""

    tools: Tools
    root: Path
    """The copy of the project (Pulumi.yaml at its top, platform/ below)."""
    backend: Path
    kubeconfig: Path
    timings: list[Run] = field(default_factory=list)
    secrets_set: dict[str, list[str]] = field(default_factory=dict)
    """Environment stack -> the secret keys the tier set (each to :func:`secret_value`)."""

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.tools.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(ENGINE_BUILD / "home"),
            # The session's own backend, whatever the shared PULUMI_HOME's last ``pulumi login``
            # says (two pytest workers each log in to their own).
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "KUBECONFIG": str(self.kubeconfig),
            "NO_COLOR": "1",
        }

    def folder(self, project: str) -> Path:
        return self.root / "platform" if project == "platform" else self.root

    def pulumi(
        self,
        *args: str,
        project: str = "environment",
        check: bool = True,
        timeout: float = 900,
        stdin: str | None = None,
    ) -> Run:
        started = time.monotonic()
        result = subprocess.run(
            [str(self.tools.pulumi), *args, "--non-interactive"],
            cwd=self.folder(project),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )
        run = Run(
            tuple(args),
            result.returncode,
            result.stdout,
            result.stderr,
            time.monotonic() - started,
        )
        self.timings.append(run)
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} ({project}) exited {result.returncode}:\n"
                f"{_tail(result.stdout)}\n{_tail(result.stderr)}"
            )
        return run

    def stack_file(self, project: str, stack: str) -> Path:
        return self.folder(project) / f"Pulumi.{stack}.yaml"

    def secure_keys(self, project: str, stack: str) -> list[str]:
        """The keys the stack file sets with ``secure:`` (the committed example ciphertexts)."""
        config: Mapping[str, Any] = (
            yaml.safe_load(self.stack_file(project, stack).read_text()).get("config") or {}
        )
        return [
            key
            for key, value in config.items()
            if isinstance(value, Mapping) and set(value) == {"secure"}
        ]

    def init_stack(
        self, project: str, stack: str, settings: Sequence[tuple[str, str]] = ()
    ) -> None:
        """``pulumi stack init`` with the passphrase provider, then every secret set again over
        the committed ``secure:`` examples (going-live steps 5 and 7: one left over makes every
        later command fail with ``validating stack config: bad value``, naming no key), then
        ``settings`` (``--path`` keys) the tier must change."""
        keys = self.secure_keys(project, stack)
        self.pulumi("stack", "init", stack, "--secrets-provider=passphrase", project=project)
        if project == "environment":
            self.secrets_set[stack] = keys
        for key in keys:
            self.pulumi(
                "config", "set", "--secret", key, "--stack", stack, project=project,
                stdin=secret_value(stack, key),
            )  # fmt: skip
        for key, value in settings:
            self.pulumi("config", "set", "--path", key, value, "--stack", stack, project=project)

    def export(self, project: str, stack: str) -> dict[str, Any]:
        data: dict[str, Any] = self.pulumi(
            "stack", "export", "--stack", stack, project=project
        ).json()
        return data

    def resources(self, project: str, stack: str) -> list[dict[str, Any]]:
        deployment = self.export(project, stack)["deployment"]
        return list(deployment.get("resources") or [])

    def state_files(self) -> list[Path]:
        return sorted(p for p in self.backend.rglob("*") if p.is_file())


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def copy_project(into: Path) -> Path:
    """The program and platform/ copied with the stack files of examples/webshop (the tests'
    fixture, tests/conftest.py) as its own; ``.venv`` is a link to the project's own."""
    from render.examples import use_example

    root = into / "project"
    shutil.copytree(PROJECT_DIR, root, ignore=shutil.ignore_patterns(*COPIED_IGNORE), symlinks=True)
    use_example("webshop", root)
    (root / ".venv").symlink_to((PROJECT_DIR / ".venv").resolve())
    return root


def login(tools: Tools, root: Path, backend: Path, kube: Path) -> Workspace:
    backend.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(tools=tools, root=root, backend=backend, kubeconfig=kube)
    workspace.pulumi("login", f"file://{backend}")
    return workspace
