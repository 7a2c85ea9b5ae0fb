"""Turn a render into the file tree a reviewer reads: resources.json, kubernetes/, github/.

Layout (design section 6):

- ``resources.json``: every registered resource in order: type, name, parent, inputs, options;
- ``kubernetes/<namespace or _cluster>/<kind>-<name>.yaml``: each Kubernetes object;
- ``github/workflows/<file>``: the exact content of each workflow file the stack commits (other
  committed files, such as ``.github/dependabot.yml``, go under ``github/`` by their repo path);
- ``github/settings.yaml``: environments, secret names (never values), variables, branch
  protection and repository secrets;
- ``cluster-admin/authentication-configuration.yaml`` (platform stacks with GitHub OIDC trust):
  what the cluster admin gives the API server (``--authentication-config``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from render.engine import PROJECT_DIR, SECRET, Registration, Rendered, UsageError

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
T_RULESET = GH + "repositoryRuleset:RepositoryRuleset"


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Block-style YAML with multi-line strings as literal blocks, keys in given order.

    libyaml's emitter when PyYAML has it (its wheels do): the pure-Python one is its port and
    writes the same bytes (checked on every stack's render), at a quarter of the CPU. PyYAML
    built without libyaml falls back to the Python emitter.
    """


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
        "rulesets": {
            str(r.inputs["name"]): {
                "target": r.inputs["target"],
                "refs": r.inputs["conditions"]["refName"]["includes"],
                "restricted": sorted(k for k, on in r.inputs["rules"].items() if on is True),
                "bypass": [a["actorId"] for a in r.inputs.get("bypassActors", [])],
            }
            for r in rendered.of_type(T_RULESET)
        },
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
    files.update(cluster_admin_files(rendered))
    return files


def cluster_admin_files(rendered: Rendered) -> dict[str, str]:
    """What a platform stack hands the cluster admin rather than applying itself: the API
    server's authentication configuration (output ``authenticationConfiguration``)."""
    document = rendered.outputs.get("authenticationConfiguration")
    if not isinstance(document, str):
        return {}
    return {"cluster-admin/authentication-configuration.yaml": document}


MANIFEST: Final = ".render-manifest.json"
"""Written into every output folder: the files that render wrote there, and nothing else.

``--out`` replaces a folder only when every file in it is listed in its manifest, so the render
never deletes what it did not write (a mistyped ``--out .`` or ``--out ~`` is refused)."""

_LEGACY_TOP: Final = frozenset({"resources.json", "outputs.json", "kubernetes", "github"})


def _manifest(out_dir: Path) -> set[str] | None:
    """Files a previous render wrote into ``out_dir``, or None when it is not a render."""
    marker = out_dir / MANIFEST
    if marker.is_file() and not marker.is_symlink():
        try:
            data = json.loads(marker.read_text())
        except (ValueError, UnicodeDecodeError):
            return None
        listed = data.get("files") if isinstance(data, dict) else None
        if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
            return set(listed)
        return None
    # A render from before manifests existed: only the render's own top-level entries.
    top = {p.name for p in out_dir.iterdir()}
    if "resources.json" in top and top <= _LEGACY_TOP:
        return {str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if not p.is_dir()}
    return None


def _present(out_dir: Path) -> set[str]:
    return {
        str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if not p.is_dir() or p.is_symlink()
    } - {MANIFEST}


def check_out_dir(out_dir: Path, project_dir: Path) -> None:
    """Refuse an output folder the render may not replace (raises UsageError, exit 2).

    Refused: the project folder and any folder that contains it; a path that is not a folder; a
    non-empty folder that is not a previous render, or a previous render holding files the
    render did not write (someone's notes would be deleted with it).
    """
    target = out_dir.resolve()
    project = project_dir.resolve()
    if project.is_relative_to(target):
        raise UsageError(
            f"--out {out_dir}: refusing the project folder or a folder containing it; "
            "use a new folder such as build/render/<stack>"
        )
    if out_dir.is_symlink():
        raise UsageError(f"--out {out_dir}: is a symbolic link; give the folder itself")
    if not target.exists():
        return
    if not target.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    if not any(target.iterdir()):
        return
    written = _manifest(target)
    if written is None:
        raise UsageError(
            f"--out {out_dir}: not empty and not a previous render (no {MANIFEST}); "
            "the render replaces its output folder, so give it an empty or new folder"
        )
    foreign = sorted(_present(target) - written)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise UsageError(
            f"--out {out_dir}: holds files the render did not write ({shown}); "
            "move them away or give another folder"
        )


def write(files: Mapping[str, str], out_dir: Path, project_dir: Path = PROJECT_DIR) -> None:
    """Replace ``out_dir`` with exactly these files and a manifest listing them.

    :func:`check_out_dir` runs first (again), so only a previous render's own files are deleted.
    """
    check_out_dir(out_dir, project_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for path, text in files.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    manifest = {"written_by": "python -m render", "files": sorted(files)}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


__all__ = ["SECRET", "github_settings", "kubernetes_objects", "to_yaml", "tree", "write"]
