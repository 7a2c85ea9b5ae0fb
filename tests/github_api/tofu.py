"""Run the GitHub provider's own code against the stand-in: terraform-provider-github v6.13.0
driven by OpenTofu, on the GitHub resources of a stack's offline render.

pulumi-github v6.15.0 is terraform-provider-github v6.13.0 behind the Pulumi bridge (its
``upstream`` submodule is that tag), and its provider binary cannot be built from the Go module
proxy (docs/github-api.md). The Terraform provider can (tools/gotools.py), and OpenTofu runs it
through the same plugin protocol the bridge implements: its Create, Read and plan (diff) are the
code a ``pulumi up``/``pulumi preview`` would run, with the HTTP requests they send.

The rendered inputs become a ``main.tf.json``: the resource type is the Terraform name the
bridge maps to the Pulumi token (``github:index/repositoryEnvironment:RepositoryEnvironment`` is
``github_repository_environment``; pulumi-github v6.15.0 ``provider/resources.go`` renames no
field of these resources), camelCase keys become the schema's snake_case, and the two list
attributes the bridge pluralised are singular again (``includes``/``excludes`` of a ruleset's
``ref_name`` are ``include``/``exclude``). ``depends_on`` carries the render's dependencies.
``BranchProtection`` goes through GitHub's GraphQL API (tests/github_api/graphql.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from render.engine import SECRET, Registration

GH: Final = "github:index/"
SINGULAR: Final = {"includes": "include", "excludes": "exclude"}
"""List attributes pulumi-github's bridge pluralised (tfbridge's automatic list pluralisation)."""
PROVIDER_SOURCE: Final = "integrations/github"


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def tf_type(token: str) -> str:
    """``github:index/repositoryFile:RepositoryFile`` -> ``github_repository_file``."""
    module = token.split("/", 1)[1].split(":", 1)[0]
    return "github_" + snake(module)


def tf_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _value(value: Any, secret: str) -> Any:
    if isinstance(value, dict):
        return {SINGULAR.get(k, snake(k)): _value(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v, secret) for v in value]
    if value == SECRET:
        value = secret
    if isinstance(value, str):
        # JSON syntax reads every string as a template: ${ and %{ (GitHub's ${{ }} expressions in
        # the workflow files) are escaped as $${ and %%{ to stay literal.
        return value.replace("${", "$${").replace("%{", "%%{")
    return value


def main_tf(
    resources: Iterable[Registration],
    *,
    owner: str,
    base_url: str,
    token: str,
    secret_values: Mapping[str, str],
) -> dict[str, Any]:
    """The ``main.tf.json`` of a stack's GitHub resources; a secret
    the render shows as ``[secret]`` gets its value from ``secret_values`` by secret name, else
    ``test-value-of-NAME``."""
    chosen = [r for r in resources if r.type.startswith(GH)]
    addresses = {r.name: f"{tf_type(r.type)}.{tf_name(r.name)}" for r in chosen}
    blocks: dict[str, dict[str, Any]] = {}
    for r in chosen:
        name = str(r.inputs.get("secretName", ""))
        body = _value(dict(r.inputs), secret_values.get(name, f"test-value-of-{name}"))
        depends = [addresses[d] for d in r.options.get("depends_on") or [] if d in addresses]
        if depends:
            body["depends_on"] = depends
        blocks.setdefault(tf_type(r.type), {})[tf_name(r.name)] = body
    return {
        "terraform": {"required_providers": {"github": {"source": PROVIDER_SOURCE}}},
        "provider": {
            "github": {
                "owner": owner,
                "base_url": base_url,
                "token": token,
                # No pause between writes (the provider's default is 1 s, for GitHub's abuse
                # limits) and no retries: a refused request fails at once.
                "write_delay_ms": 0,
                "max_retries": 0,
            }
        },
        "resource": blocks,
    }


@dataclass(frozen=True)
class Tofu:
    """``tofu`` in ``workdir`` with the Go-built provider installed as a development override."""

    tofu: Path
    provider: Path
    workdir: Path

    def env(self) -> dict[str, str]:
        cli_config = self.workdir / "tofu.rc"
        cli_config.write_text(
            "provider_installation {\n"
            f'  dev_overrides {{ "{PROVIDER_SOURCE}" = "{self.provider.parent}" }}\n'
            "  direct {}\n"
            "}\n"
        )
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
        return {
            **keep,
            "HOME": str(self.workdir),
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.tofu), *args, "-input=false", "-no-color"],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def write(self, config: Mapping[str, Any]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "main.tf.json").write_text(json.dumps(config, indent=2))

    def apply(self) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-auto-approve", "-parallelism=4")

    def plan(self) -> subprocess.CompletedProcess[str]:
        """``plan -detailed-exitcode``: 0 no changes, 2 changes, 1 an error."""
        return self.run("plan", "-detailed-exitcode", "-parallelism=4")
