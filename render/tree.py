"""Turn a render into the file tree a reviewer reads: resources.json, kubernetes/, github/.

Layout (design section 6):

- ``resources.json``: every registered resource in order: type, name, parent, inputs, options;
- ``kubernetes/<namespace or _cluster>/<kind>-<name>.yaml``: each Kubernetes object;
- ``github/workflows/<file>``: the exact content of each workflow file the stack commits (other
  committed files, such as ``.github/dependabot.yml``, go under ``github/`` by their repo path);
- ``github/settings.yaml``: environments, secret names (never values), variables, branch
  protection and repository secrets.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from render.engine import SECRET, Registration, Rendered

K8S_NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml", "pulumi:providers:")
GH = "github:index/"
T_ENVIRONMENT = GH + "repositoryEnvironment:RepositoryEnvironment"
T_POLICY = GH + "repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
T_ENV_SECRET = GH + "actionsEnvironmentSecret:ActionsEnvironmentSecret"
T_ENV_VARIABLE = GH + "actionsEnvironmentVariable:ActionsEnvironmentVariable"
T_REPO_SECRET = GH + "actionsSecret:ActionsSecret"
T_REPO_VARIABLE = GH + "actionsVariable:ActionsVariable"
T_PROTECTION = GH + "branchProtection:BranchProtection"
T_FILE = GH + "repositoryFile:RepositoryFile"


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings as literal blocks, keys in given order."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


_FIRST = ("apiVersion", "kind", "metadata")


def _ordered(value: Any) -> Any:
    """Keys sorted for stable diffs, with apiVersion, kind and metadata first as people expect."""
    if isinstance(value, dict):
        keys = [k for k in _FIRST if k in value] + sorted(k for k in value if k not in _FIRST)
        return {k: _ordered(value[k]) for k in keys}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def to_yaml(data: Any) -> str:
    return yaml.dump(
        _ordered(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
    )


def is_kubernetes_object(resource: Registration) -> bool:
    # A *Patch resource changes fields of an object declared elsewhere; it is not an object.
    return (
        resource.type.startswith("kubernetes:")
        and not resource.type.startswith(K8S_NOT_OBJECTS)
        and not resource.type.endswith("Patch")
    )


def kubernetes_path(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "_cluster"
    return f"{namespace}/{obj.get('kind', 'Unknown')}-{meta.get('name', 'unnamed')}.yaml"


def kubernetes_objects(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Relative path under kubernetes/ -> the object as the API server would receive it."""
    out: dict[str, dict[str, Any]] = {}
    for resource in rendered.resources:
        if is_kubernetes_object(resource):
            out[kubernetes_path(resource.inputs)] = resource.inputs
    return out


def committed_files(rendered: Rendered) -> dict[str, str]:
    """Repository path -> content of every file the stack commits with RepositoryFile."""
    return {str(r.inputs["file"]): str(r.inputs["content"]) for r in rendered.of_type(T_FILE)}


def workflow_files(rendered: Rendered) -> dict[str, str]:
    """Path under github/ -> content; workflows by file name, other files by repo path."""
    out: dict[str, str] = {}
    for path, content in committed_files(rendered).items():
        if path.startswith(".github/workflows/"):
            out["workflows/" + path.rsplit("/", 1)[1]] = content
        else:
            out[path.removeprefix(".github/")] = content
    return out


def github_settings(rendered: Rendered) -> dict[str, Any]:
    """What the stack sets in GitHub, secrets by name only."""
    environments: dict[str, Any] = {}
    for env in rendered.of_type(T_ENVIRONMENT):
        i = env.inputs
        reviewers = (i.get("reviewers") or [{}])[0]
        policy = i.get("deploymentBranchPolicy") or {}
        environments[str(i["environment"])] = {
            "reviewers": {"teams": reviewers.get("teams", []), "users": reviewers.get("users", [])},
            "wait_timer": i.get("waitTimer", 0),
            "prevent_self_review": i.get("preventSelfReview", False),
            "can_admins_bypass": i.get("canAdminsBypass", True),
            "protected_branches": policy.get("protectedBranches", False),
            "custom_branch_policies": policy.get("customBranchPolicies", False),
            "branch_patterns": [],
            "tag_patterns": [],
            "secrets": [],
            "variables": {},
        }
    for policy in rendered.of_type(T_POLICY):
        env = environments.setdefault(str(policy.inputs["environment"]), {})
        if "branchPattern" in policy.inputs:
            env.setdefault("branch_patterns", []).append(policy.inputs["branchPattern"])
        if "tagPattern" in policy.inputs:
            env.setdefault("tag_patterns", []).append(policy.inputs["tagPattern"])
    for secret in rendered.of_type(T_ENV_SECRET):
        env = environments.setdefault(str(secret.inputs["environment"]), {})
        env.setdefault("secrets", []).append(secret.inputs["secretName"])
        env["secrets"].sort()
    for variable in rendered.of_type(T_ENV_VARIABLE):
        env = environments.setdefault(str(variable.inputs["environment"]), {})
        env.setdefault("variables", {})[variable.inputs["variableName"]] = variable.inputs["value"]
    protection = {
        str(p.inputs["pattern"]): {
            k: v for k, v in p.inputs.items() if k not in {"pattern", "repositoryId"}
        }
        for p in rendered.of_type(T_PROTECTION)
    }
    return {
        "environments": environments,
        "repository_secrets": sorted(
            str(s.inputs["secretName"]) for s in rendered.of_type(T_REPO_SECRET)
        ),
        "repository_variables": {
            str(v.inputs["variableName"]): v.inputs["value"]
            for v in rendered.of_type(T_REPO_VARIABLE)
        },
        "branch_protection": protection,
    }


def tree(rendered: Rendered) -> dict[str, str]:
    """Every file of the render, relative path -> text."""
    files = {
        "resources.json": json.dumps([_ordered(r.as_json()) for r in rendered.resources], indent=2)
        + "\n",
        "outputs.json": json.dumps(rendered.outputs, indent=2, sort_keys=True) + "\n",
    }
    for path, obj in kubernetes_objects(rendered).items():
        files[f"kubernetes/{path}"] = to_yaml(obj)
    for path, content in workflow_files(rendered).items():
        files[f"github/{path}"] = content
    files["github/settings.yaml"] = to_yaml(github_settings(rendered))
    return files


def write(files: Mapping[str, str], out_dir: Path) -> None:
    """Replace ``out_dir`` with exactly these files."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for path, text in files.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


__all__ = ["SECRET", "github_settings", "kubernetes_objects", "to_yaml", "tree", "write"]
