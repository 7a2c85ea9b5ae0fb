"""Run the real Pulumi program for one stack inside the Pulumi runtime, with mocks for the engine.

This is the offline render: no Pulumi CLI, no provider plugins, no cluster, no GitHub token. It
follows Pulumi's unit-testing guide (``pulumi.runtime.set_mocks``) but records what a provider
would receive: every ``RegisterResource`` request is captured as sent, with secrets still marked,
so that secret values can be replaced by ``"[secret]"`` and never reach a rendered file.

Stack config is read the way the Pulumi CLI reads it: ``Pulumi.<stack>.yaml`` on top of the
defaults declared in ``Pulumi.yaml``. A ``secure:`` value cannot be decrypted here (no
passphrase, no backend), so it counts as set and enters the program as a secret placeholder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pulumi
from google.protobuf import json_format
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks

from render.stackfile import config_mapping, read_mapping
from render.stackref import STACK_REFERENCE, stack_reference_state

PROJECT_DIR = Path(__file__).resolve().parent.parent
_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
SECRET = "[secret]"
UNKNOWN = "[unknown]"


class UsageError(Exception):
    """The command was called wrongly (unknown stack, missing file): exit 2."""


class DuplicateUrnError(Exception):
    """The program registered two resources with one URN; the Pulumi engine would refuse it.

    The mock monitor would silently merge them, so the render checks instead: exit 1, one line
    per URN.
    """

    def __init__(self, urns: list[str]) -> None:
        self.lines = tuple(
            f"render: two resources have the URN {urn}; the Pulumi engine refuses duplicate "
            "URNs: give them distinct names"
            for urn in sorted(set(urns))
        )
        super().__init__("\n".join(self.lines))


# --------------------------------------------------------------------------------------------
# The private Pulumi SDK surface: the only place the render uses names the SDK does not export
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateSdk:
    """What the render needs from the Pulumi SDK beyond its public API, in one place.

    Public APIs cover the rest: ``pulumi.runtime.set_mocks`` and ``Mocks`` for providers,
    ``MockMonitor`` for what the engine would receive, ``set_all_config`` for stack config. What
    is left has no public equivalent:

    - the wire markers of serialised properties (secret, resource reference, unknown), which
      tell a secret input apart in a ``RegisterResource`` request; they are protocol constants
      (sdk/go/common/resource/properties.go), read here from the SDK's ``rpc`` module;
    - running a program inside a Stack resource and waiting for it, as the real entry point does
      (``run_in_stack`` with ``_sync_await``), so that ``pulumi.export`` works;
    - resetting the runtime's root resource and pending RPC state between two renders in one
      process (the test suite renders many variations).

    tests/test_render_engine.py checks each piece against the installed SDK: an SDK upgrade that
    renames or changes one fails there, by name, rather than quietly changing a render.
    """

    sig_key: str
    secret_sig: str
    resource_sig: str
    unknown: str
    run_program: Callable[[Callable[[], None]], None]
    reset_root: Callable[[], None]
    reset_pending: Callable[[], None]


def private_sdk() -> PrivateSdk:
    """The one function that reaches into the SDK's private modules (see :class:`PrivateSdk`)."""
    from pulumi.runtime import rpc, settings
    from pulumi.runtime.stack import run_in_stack
    from pulumi.runtime.sync_await import _sync_await

    def run_program(program: Callable[[], None]) -> None:
        _sync_await(run_in_stack(program))

    def reset_root() -> None:
        settings.ROOT.set(None)

    def reset_pending() -> None:
        settings.SETTINGS.rpc_manager.clear()
        settings.SETTINGS.outputs.clear()

    return PrivateSdk(
        sig_key=rpc._special_sig_key,
        secret_sig=rpc._special_secret_sig,
        resource_sig=rpc._special_resource_sig,
        unknown=rpc.UNKNOWN,
        run_program=run_program,
        reset_root=reset_root,
        reset_pending=reset_pending,
    )


_SDK = private_sdk()
_SIG_KEY = _SDK.sig_key
_SECRET_SIG = _SDK.secret_sig
_RESOURCE_SIG = _SDK.resource_sig
_UNKNOWN_VALUE = _SDK.unknown


@dataclass(frozen=True)
class StackFiles:
    """The project and stack files as the Pulumi CLI would combine them."""

    project: str
    config: dict[str, Any]
    secret_keys: frozenset[str]


@dataclass
class Registration:
    """One registered resource, as its provider would receive it."""

    type: str
    name: str
    parent: dict[str, str] | None
    custom: bool
    inputs: dict[str, Any]
    options: dict[str, Any]
    urn: str

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
            "options": self.options,
        }


@dataclass
class Rendered:
    """What one stack declares: resources in the order the program declares them, outputs and warnings."""

    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str) -> Registration:
        found = [r for r in self.resources if r.type == type_token and r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {type_token} named {name}")
        return found[0]


# --------------------------------------------------------------------------------------------
# Stack files
# --------------------------------------------------------------------------------------------


def secret_placeholder(key: str) -> str:
    """The value a ``secure:`` key takes in the render: recognisable, never a real secret."""
    return f"offline-render-placeholder-for-{key}"


def read_stack_files(
    stack: str,
    project_dir: Path = PROJECT_DIR,
    stack_config: Mapping[str, Any] | None = None,
    stacks_dir: Path | None = None,
) -> StackFiles:
    """Combine Pulumi.yaml defaults with Pulumi.<stack>.yaml (or the given stack ``config:``).

    The stack file is read from ``stacks_dir`` (default: the project folder), so the program of
    ``project_dir`` can render another set of stack files, such as an example's (examples/).
    """
    if not _STACK_NAME.fullmatch(stack):
        raise UsageError(
            f"{stack!r} is not a stack name (letters, digits, '-', '_', '.'; at most 100)"
        )
    project_file = project_dir / "Pulumi.yaml"
    if not project_file.is_file():
        raise UsageError(f"{project_file} not found")
    project = read_mapping(project_file, "the project's name and config declarations")
    if stack_config is None:
        folder = project_dir if stacks_dir is None else stacks_dir
        stack_file = folder / f"Pulumi.{stack}.yaml"
        if not stack_file.is_file():
            known = sorted(
                p.name[len("Pulumi.") : -len(".yaml")] for p in folder.glob("Pulumi.*.yaml")
            )
            raise UsageError(
                f"unknown stack '{stack}': no {stack_file.name} (stacks: {', '.join(known)})"
            )
        stack_config = config_mapping(stack_file)
    name = str(project["name"])
    config: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, declaration in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(declaration, dict) and "value" in declaration:
            config[full_key] = declaration["value"]
        elif isinstance(declaration, dict) and "default" in declaration:
            config[full_key] = declaration["default"]
        elif not isinstance(declaration, dict):
            config[full_key] = declaration
    for key, value in stack_config.items():
        full_key = key if ":" in key else f"{name}:{key}"
        if _contains_secure(value):
            secret_keys.add(full_key)
            value = _replace_secure(value, full_key)
        config[full_key] = value
    return StackFiles(project=name, config=config, secret_keys=frozenset(secret_keys))


def _contains_secure(value: Any) -> bool:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return True
        return any(_contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secure(v) for v in value)
    return False


def _replace_secure(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return secret_placeholder(key.partition(":")[2])
        return {k: _replace_secure(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, key) for v in value]
    return value


def _as_config_string(value: Any) -> str:
    """Pulumi hands structured values to the program as JSON and scalars as strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


# --------------------------------------------------------------------------------------------
# Mocks: deterministic stand-ins for what providers and the GitHub API would return
# --------------------------------------------------------------------------------------------


def stable_id(*parts: str) -> int:
    """A fixed positive number for a name, standing in for an id GitHub would assign."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return int(digest[:8], 16) % 90_000_000 + 10_000_000


class RenderMocks(mocks.Mocks):
    """Provider and function results: inputs echoed back, plus the outputs programs read."""

    def __init__(self, project_dir: Path = PROJECT_DIR, stacks_dir: Path | None = None) -> None:
        self.project_dir = project_dir
        self.stacks_dir = stacks_dir

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            state = stack_reference_state(self.project_dir, args.inputs, self.stacks_dir)
            return str(args.inputs["name"]), state
        state = dict(args.inputs)
        if args.typ == "kubernetes:core/v1:Secret" and state.get("type") == (
            "kubernetes.io/service-account-token"
        ):
            # The token controller fills data.token; a fixed fake stands in for it.
            fake = f"offline-render-sa-token-{args.name}".encode()
            state["data"] = {"token": base64.b64encode(fake).decode()}
        if args.typ.startswith("kubernetes:"):
            meta = state.get("metadata") or {}
            resource_id = "/".join(
                p for p in (meta.get("namespace"), meta.get("name", args.name)) if p
            )
        else:
            resource_id = f"{args.name}-id"
        if args.typ.startswith("github:"):
            state.setdefault("nodeId", f"R_{stable_id(args.typ, args.name)}")
        return resource_id, state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        token, a = args.token, args.args
        if token == "github:index/getTeam:getTeam":
            slug = str(a["slug"])
            return {
                "id": str(stable_id("team", slug)),
                "slug": slug,
                "name": slug,
                "nodeId": f"T_{stable_id('team', slug)}",
            }, []
        if token == "github:index/getUser:getUser":
            login = str(a["username"])
            return {
                "id": str(stable_id("user", login)),
                "login": login,
                "nodeId": f"U_{stable_id('user', login)}",
            }, []
        if token == "docker:index/getRegistryImage:getRegistryImage":
            name = str(a["name"])
            digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
            return {"id": name, "name": name, "sha256Digest": digest}, []
        raise NotImplementedError(f"the offline render has no mock for the function {token}")


STACK_OUTPUTS_WAIT_SECONDS: Final = 30


class RecordingMonitor(mocks.MockMonitor):
    """MockMonitor that keeps each RegisterResource request as the provider would receive it."""

    def __init__(self, mocks_: mocks.Mocks) -> None:
        super().__init__(mocks_)
        self.requests: list[Any] = []
        self.stack_outputs: Any = None
        self.stack_outputs_arrived = threading.Event()
        self.stack_urn: str | None = None
        self.duplicates: list[str] = []
        self._urns: set[str] = set()
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type == "pulumi:pulumi:Stack":
            response = super().RegisterResource(request)
            self.stack_urn = response.urn
            return response
        urn = self.make_urn(request.parent, request.type, request.name)
        with self._lock:
            # The engine refuses a second registration of a URN; the mock would merge the two.
            if urn in self._urns:
                self.duplicates.append(urn)
            self._urns.add(urn)
            self.requests.append(request)
        return super().RegisterResource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.urn == self.stack_urn:
            self.stack_outputs = request.outputs
            self.stack_outputs_arrived.set()
        return super().RegisterResourceOutputs(request)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# --------------------------------------------------------------------------------------------
# Running the program
# --------------------------------------------------------------------------------------------


@contextmanager
def _program_path(project_dir: Path) -> Iterator[None]:
    path = str(project_dir)
    sys.path.insert(0, path)
    try:
        yield
    finally:
        sys.path.remove(path)


def render(
    stack: str,
    project_dir: Path = PROJECT_DIR,
    stack_config: Mapping[str, Any] | None = None,
    stacks_dir: Path | None = None,
) -> Rendered:
    """Run ``__main__.py`` for ``stack`` under mocks and return what it registered.

    ``stack_config`` replaces the ``config:`` mapping of ``Pulumi.<stack>.yaml`` (tests use it for
    variations). ``stacks_dir`` is the folder of the stack files (default ``project_dir``); a
    StackReference to a platform stack then reads that project's stack files from the folder of
    the same name under it (examples/webshop/platform). Raises
    ``components.config.ConfigError`` for bad config, before anything is registered, and
    ``UsageError`` for an unknown stack.
    """
    files = read_stack_files(stack, project_dir, stack_config, stacks_dir)
    monitor = RecordingMonitor(RenderMocks(project_dir, stacks_dir))
    logger = logging.getLogger(f"render.{stack}")
    logger.propagate = False
    collect = _Collect()
    logger.handlers = [collect]

    _SDK.reset_root()
    mocks.set_mocks(
        monitor.mocks,
        project=files.project,
        stack=stack,
        preview=False,
        logger=logger,
        monitor=monitor,
    )
    _SDK.reset_root()  # run_program makes the Stack, as the real entry point does
    # The Pulumi CLI hands the program its project's root directory (pulumi.get_root_directory),
    # where the program reads the sibling stack files of its chain (components/config/
    # siblings.py); set_mocks leaves it unset. A render of another folder's stack files (an
    # example) points it there, so the chain is that folder's.
    pulumi.runtime.settings.SETTINGS.root_directory = str(stacks_dir or project_dir)
    runtime_config.set_all_config(
        {k: _as_config_string(v) for k, v in files.config.items()}, sorted(files.secret_keys)
    )
    _SDK.reset_pending()

    # Registrations reach the monitor from worker threads as their inputs resolve, so their
    # arrival order varies from run to run. A stack transformation runs inside each resource's
    # constructor, in program order: resources.json uses that order, so two renders of the same
    # program are byte-identical.
    constructed: dict[tuple[str, str], int] = {}

    def record_order(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        constructed.setdefault((args.type_, args.name), len(constructed))
        return None

    def program() -> None:
        pulumi.runtime.register_stack_transformation(record_order)
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

    with _program_path(project_dir):
        _SDK.run_program(program)
    if monitor.duplicates:
        raise DuplicateUrnError(monitor.duplicates)

    # The Stack registers its outputs exactly once, even with no exports, in a call that can
    # reach the monitor after run_program returns; reading before it arrived would render an
    # empty outputs.json (and a StackReference to this stack would find nothing).
    if monitor.stack_urn is not None and not monitor.stack_outputs_arrived.wait(
        STACK_OUTPUTS_WAIT_SECONDS
    ):
        raise RuntimeError("render: the stack's outputs never reached the mock engine")
    by_urn = {req_urn(monitor, r): r for r in monitor.requests}
    requests = sorted(
        monitor.requests, key=lambda r: constructed.get((r.type, r.name), len(constructed))
    )
    resources = [_registration(monitor, request, by_urn) for request in requests]
    outputs = _plain(_to_dict(monitor.stack_outputs), by_urn) if monitor.stack_outputs else {}
    return Rendered(stack=stack, resources=resources, outputs=outputs, warnings=collect.messages)


def req_urn(monitor: RecordingMonitor, request: Any) -> str:
    return monitor.make_urn(request.parent, request.type, request.name)


def _urn_type(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1]


def _urn_name(urn: str) -> str:
    return urn.split("::")[3]


def _to_dict(struct: Any) -> dict[str, Any]:
    data: dict[str, Any] = json_format.MessageToDict(struct, preserving_proto_field_name=True)
    return data


def _plain(value: Any, by_urn: Mapping[str, Any]) -> Any:
    """Turn serialised properties into plain data, replacing secrets and resource references."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return _redact(value.get("value"))
        if sig == _RESOURCE_SIG:
            urn = str(value.get("urn", ""))
            return {"resource": {"type": _urn_type(urn), "name": _urn_name(urn)}}
        return {k: _plain(v, by_urn) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, by_urn) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == _UNKNOWN_VALUE:
        return UNKNOWN
    return value


def _redact(value: Any) -> Any:
    """A secret's shape with every value replaced: map keys (``.dockerconfigjson``) stay readable."""
    if isinstance(value, dict) and value and value.get(_SIG_KEY) is None:
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list) and value:
        return [_redact(v) for v in value]
    return SECRET


def _registration(
    monitor: RecordingMonitor, request: Any, by_urn: Mapping[str, Any]
) -> Registration:
    parent = None
    if request.parent and request.parent != monitor.stack_urn:
        parent = {"type": _urn_type(request.parent), "name": _urn_name(request.parent)}
    # Everything the engine orders this resource after: explicit depends_on and resources whose
    # outputs feed its inputs (the SDK sends both as one list).
    waits_for = set(request.dependencies)
    for deps in request.propertyDependencies.values():
        waits_for.update(deps.urns)
    options = {
        "protect": bool(request.protect),
        "retain_on_delete": bool(request.retainOnDelete),
        "ignore_changes": list(request.ignoreChanges),
        "depends_on": sorted({_urn_name(u) for u in waits_for}),
        "delete_before_replace": bool(request.deleteBeforeReplace),
        "aliases": [a.name or a.urn for a in request.aliasSpecs] if request.aliasSpecs else [],
        "additional_secret_outputs": sorted(request.additionalSecretOutputs),
        "provider": _provider_name(request.provider),
    }
    return Registration(
        type=request.type,
        name=request.name,
        parent=parent,
        custom=bool(request.custom),
        inputs=_plain(_to_dict(request.object), by_urn),
        options=options,
        urn=req_urn(monitor, request),
    )


def _provider_name(reference: str) -> str | None:
    """A provider reference is ``<urn>::<id>``; keep the provider resource's name."""
    if not reference:
        return None
    urn = reference.rsplit("::", 1)[0]
    return _urn_name(urn)
