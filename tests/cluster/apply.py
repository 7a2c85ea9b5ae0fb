"""Apply a stack's render to the tier's API server the way pulumi-kubernetes 4.x does.

What pulumi-kubernetes does, and this module repeats (provider/pkg/provider/provider.go and
provider/pkg/await/await.go, pulumi-kubernetes v4.x):

- every object is created and updated by **server-side apply** (SSA is the default since v4), one
  ``PATCH`` with ``application/apply-patch+yaml`` of the whole input object. Here: ``kubectl apply
  --server-side`` of the rendered object, which sends exactly that request;
- the **field manager** is per resource: ``fieldManagerName`` takes the
  ``pulumi.com/patchFieldManager`` annotation if set, else the name in state, else
  ``resource.NewUniqueName(seed, "pulumi-kubernetes-", 0, 0, nil)``: the prefix and 8 hex
  characters drawn from the resource's seed, kept in state for later updates. Here: the prefix and
  8 hex characters of sha256(stack, resource name), stable across re-applies like the state's;
- **Patch resources** (``*Patch`` types) are applied the same way under their own manager;
  conflicts are forced only where ``patchForce`` says so (annotation ``pulumi.com/patchForce:
  "true"``; ``PULUMI_K8S_ENABLE_PATCH_FORCE`` is not set here). Ordinary resources are never
  forced: a conflict fails the update;
- **ignore_changes** on an update (``handleSSAIgnoreFields``): the path is split on dots
  (array indexes are not followed: its own TODO); where another manager owns the path and this
  one does not, the field is dropped from the request; otherwise the live value is put in.
  (The engine first puts the old input back at the ignored path; a re-apply of one render has
  old == new, so that step changes nothing here.)

Two things cannot be applied as rendered and are replaced, both said here: a Helm ``Release``
(the render records the release, not its manifests) is replaced by the chart's CRDs, read from
the Go module of the controller at the chart's app version; ``"[secret]"`` placeholders in
Secrets (the render never holds secret values) become test values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

from render.engine import SECRET, Registration, Rendered
from tests.cluster.plane import ControlPlane, go_module_dir

K8S_NOT_OBJECTS: Final = ("kubernetes:helm.sh/", "kubernetes:yaml", "pulumi:providers:")
PATCH_FORCE: Final = "pulumi.com/patchForce"
PATCH_FIELD_MANAGER: Final = "pulumi.com/patchFieldManager"

ROLLOUTS_APP_VERSION: Final = {"2.40.5": "v1.8.3"}
"""argo-rollouts chart version -> the controller version it installs (``appVersion`` of
charts/argo-rollouts/Chart.yaml in argoproj/argo-helm at tag argo-rollouts-2.40.5)."""

NOT_APPLIED: Final = {
    "ClusterImagePolicy": "the sigstore policy-controller's CRD comes with its Helm chart, whose "
    "manifests the render does not hold; the supplychain tier runs policy-controller",
}
"""Kinds this tier cannot apply, and why (asserted to be the only ones skipped)."""


class ApplyError(Exception):
    """The API server refused an apply: the resource and kubectl's message."""


@dataclass(frozen=True)
class Step:
    """One resource of the render, as pulumi-kubernetes would send it."""

    name: str
    type: str
    obj: dict[str, Any]
    manager: str
    force: bool
    ignore_changes: tuple[str, ...]

    @property
    def label(self) -> str:
        meta = self.obj["metadata"]
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{self.type.rsplit(':', 1)[-1]} {where}{meta['name']} ({self.name})"


def field_manager(stack: str, resource: Registration) -> str:
    annotations = (resource.inputs.get("metadata") or {}).get("annotations") or {}
    if annotations.get(PATCH_FIELD_MANAGER):
        return str(annotations[PATCH_FIELD_MANAGER])
    digest = hashlib.sha256(f"{stack}\0{resource.name}".encode()).hexdigest()
    return f"pulumi-kubernetes-{digest[:8]}"


def _test_secret_values(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Secret":
        return obj
    obj = copy.deepcopy(obj)
    for key in ("stringData", "data"):
        for name, value in (obj.get(key) or {}).items():
            if value == SECRET:
                text = '{"auths":{}}' if name == ".dockerconfigjson" else "cluster-tier-value"
                obj.setdefault("stringData", {})[name] = text
                if key == "data":
                    del obj["data"][name]
    return obj


def steps(stack: str, rendered: Rendered) -> list[Step]:
    """Every Kubernetes resource of the render in registration order (dependencies first)."""
    out = []
    for resource in rendered.resources:
        if not resource.type.startswith("kubernetes:") or resource.type.startswith(K8S_NOT_OBJECTS):
            continue
        obj = _test_secret_values(resource.inputs)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        is_patch = resource.type.endswith("Patch")
        out.append(
            Step(
                name=resource.name,
                type=resource.type,
                obj=obj,
                manager=field_manager(stack, resource),
                force=is_patch and str(annotations.get(PATCH_FORCE, "")).lower() == "true",
                ignore_changes=tuple(resource.options.get("ignore_changes") or ()),
            )
        )
    return out


def _has(fields: Mapping[str, Any], path: list[str]) -> bool:
    """fieldpath.Set.Has after ensureFieldsAreMembers: the path or anything below it is owned."""
    node: Any = fields
    for part in path:
        if not isinstance(node, Mapping) or f"f:{part}" not in node:
            return False
        node = node[f"f:{part}"]
    return True


def ignore_for_update(
    obj: dict[str, Any], live: Mapping[str, Any], manager: str, paths: Iterable[str]
) -> dict[str, Any]:
    """``handleSSAIgnoreFields`` on the request ``obj`` against the ``live`` object."""
    obj = copy.deepcopy(obj)
    ours: dict[str, Any] = {}
    theirs: list[Mapping[str, Any]] = []
    for entry in live.get("metadata", {}).get("managedFields", []):
        if entry.get("manager") == manager:
            ours = _merge(ours, entry.get("fieldsV1", {}))
        else:
            theirs.append(entry.get("fieldsV1", {}))
    for path in paths:
        parts = path.split(".")
        if any(_has(f, parts) for f in theirs) and not _has(ours, parts):
            _remove(obj, parts)
            continue
        found, value = _lookup(live, parts)
        if found:
            _put(obj, parts, copy.deepcopy(value))
    return obj


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, Mapping) else value
    return out


def _lookup(obj: Mapping[str, Any], parts: list[str]) -> tuple[bool, Any]:
    node: Any = obj
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _remove(obj: dict[str, Any], parts: list[str]) -> None:
    found, parent = _lookup(obj, parts[:-1])
    if found and isinstance(parent, dict):
        parent.pop(parts[-1], None)


def _put(obj: dict[str, Any], parts: list[str], value: Any) -> None:
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def live_object(plane: ControlPlane, obj: Mapping[str, Any]) -> dict[str, Any] | None:
    meta = obj["metadata"]
    args = ["get", _resource_arg(obj), meta["name"], "--output=json", "--show-managed-fields"]
    if meta.get("namespace"):
        args.append(f"--namespace={meta['namespace']}")
    result = plane.kubectl(*args, check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise ApplyError(result.stderr.strip())
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _resource_arg(obj: Mapping[str, Any]) -> str:
    """``kind.version.group`` so that kubectl resolves exactly this API (no short-name guess)."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return f"{obj['kind']}.{version}.{group}" if group else str(obj["kind"])


def server_side_apply(
    plane: ControlPlane, obj: Mapping[str, Any], manager: str, *, force: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ["apply", "--server-side", f"--field-manager={manager}", "--filename=-"]
    if force:
        args.append("--force-conflicts")
    return plane.kubectl(*args, stdin=yaml.safe_dump(dict(obj)), check=False)


def apply_step(plane: ControlPlane, step: Step, *, update: bool) -> None:
    """Create (``update`` False: not in Pulumi's state yet) or update the step's object.
    ``ignore_changes`` applies to updates only, as in the engine."""
    obj = step.obj
    if update and step.ignore_changes:
        live = live_object(plane, obj)
        if live is not None:
            obj = ignore_for_update(obj, live, step.manager, step.ignore_changes)
    result = server_side_apply(plane, obj, step.manager, force=step.force)
    if result.returncode != 0:
        raise ApplyError(f"{step.label}: {result.stderr.strip()}")


def apply_render(
    plane: ControlPlane, stack: str, rendered: Rendered, state: set[str]
) -> tuple[list[str], list[str]]:
    """Apply every step in order; returns (refusals, skipped kinds). Never stops at a refusal, so
    that one run lists every one (like ``pulumi up --continue-on-error``). ``state`` stands for
    Pulumi's state: the resources created so far (``stack/name``), updated in place."""
    refusals: list[str] = []
    skipped: list[str] = []
    for step in steps(stack, rendered):
        kind = str(step.obj.get("kind"))
        if kind in NOT_APPLIED:
            skipped.append(kind)
            continue
        key = f"{stack}/{step.name}"
        try:
            apply_step(plane, step, update=key in state)
        except ApplyError as err:
            refusals.append(str(err))
        else:
            state.add(key)
    return refusals, skipped


def rollouts_crds(chart_version: str) -> list[dict[str, Any]]:
    """The Argo Rollouts CRDs the chart installs: manifests/crds of the controller's module."""
    version = ROLLOUTS_APP_VERSION[chart_version]
    folder = go_module_dir("github.com/argoproj/argo-rollouts", version) / "manifests" / "crds"
    return [yaml.safe_load(path.read_text()) for path in sorted(folder.glob("*-crd.yaml"))]
