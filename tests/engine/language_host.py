"""A stand-in for ``pulumi-language-python``, the Python language host the Pulumi CLI starts.

Why a stand-in: the real host is the Go module
``github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3``, and the module proxy serves
it at no version at all (every ``@v/list`` and ``.info`` answers 403), nor does PyPI, npm or
Debian ship it; its source may not be copied into this project. So the engine tier runs this
host, and everything the host talks to is real: the Pulumi CLI and engine, the resource monitor,
the Python SDK the project pins (which ships the gRPC stubs used here, ``pulumi.runtime.proto``),
the providers and the control plane.

Behaviour assumed, checked against ``sdk/python/cmd/pulumi-language-python/main.go`` and
``sdk/python/cmd/pulumi-language-python-exec`` of pulumi/pulumi (commit 1b5949891b, v3.259.0 plus
five commits; the parts used here are unchanged in the CLI's v3.274.0 protocol,
``pulumi/runtime/proto/language_pb2.pyi`` of the SDK 3.272.0):

- started as ``pulumi-language-python [-flags] ENGINE_ADDRESS``, it serves ``LanguageRuntime``
  on a free loopback port and prints that port as the first line of stdout;
- ``Handshake`` records the engine's address; ``GetPluginInfo`` reports the host's version;
- ``Run`` starts the program with the ``python`` of the project's ``virtualenv`` runtime option
  (relative to the project's root directory), passing ``--monitor --engine --project
  --root_directory --stack --pwd --dry_run --parallel --organization`` then the entry point, the
  config as JSON in ``PULUMI_CONFIG`` and the secret keys as a JSON list in
  ``PULUMI_CONFIG_SECRET_KEYS``; exit code 32 means the program already showed its error
  (``bail``), any other non-zero exit is reported as ``program exited with non-zero exit code``;
- ``GetRequiredPackages`` lists nothing here, where the real host lists every installed package
  with a ``pulumi-plugin.json``: the engine then loads each provider when the program first
  registers it (from PATH), and never tries to download the plugins of SDKs the stacks import but
  do not use (pulumi-docker, whose provider only a ``registry.pinDigest`` stack needs).

The program itself is run by :mod:`tests.engine.program_exec`, which does what the real
``pulumi-language-python-exec`` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Final

import grpc  # type: ignore[import-untyped]
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

HOST_VERSION: Final = "3.272.0"
"""The SDK version requirements.txt pins: the host ships with the SDK it runs."""

BAIL_EXIT_CODE: Final = 32
"""``pythonProcessExitedAfterShowingUserActionableMessage`` in the real host."""

EXEC_SCRIPT: Final = Path(__file__).resolve().parent / "program_exec.py"


def _python(info: language_pb2.ProgramInfo) -> str:
    """The interpreter of the ``virtualenv`` runtime option, as the pip toolchain resolves it."""
    options: dict[str, Any] = dict(struct_pb2.Struct.items(info.options)) if info.options else {}
    virtualenv = options.get("virtualenv")
    if not isinstance(virtualenv, str) or not virtualenv:
        return sys.executable
    root = Path(info.root_directory)
    venv = Path(virtualenv) if Path(virtualenv).is_absolute() else root / virtualenv
    return str(venv / "bin" / "python")


class PythonLanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    """The ``LanguageRuntime`` methods ``pulumi up``/``preview``/``destroy`` call."""

    def __init__(self, engine_address: str) -> None:
        self.engine_address = engine_address
        self._running: list[subprocess.Popen[bytes]] = []

    def Handshake(  # noqa: N802 (gRPC method name)
        self, request: language_pb2.LanguageHandshakeRequest, context: grpc.ServicerContext
    ) -> language_pb2.LanguageHandshakeResponse:
        self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(  # noqa: N802
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=HOST_VERSION)

    def GetRequiredPackages(  # noqa: N802
        self, request: language_pb2.GetRequiredPackagesRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetRequiredPackagesResponse:
        return language_pb2.GetRequiredPackagesResponse(packages=[])

    def GetRequiredPlugins(  # noqa: N802
        self, request: language_pb2.GetRequiredPluginsRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetRequiredPluginsResponse:
        return language_pb2.GetRequiredPluginsResponse(plugins=[])

    def InstallDependencies(  # noqa: N802
        self, request: language_pb2.InstallDependenciesRequest, context: grpc.ServicerContext
    ) -> Any:
        """The virtualenv is the project's own, installed by ``make``: nothing to install."""
        return iter(())

    def Run(  # noqa: N802
        self, request: language_pb2.RunRequest, context: grpc.ServicerContext
    ) -> language_pb2.RunResponse:
        args = [_python(request.info), str(EXEC_SCRIPT)]
        flags = {
            "monitor": request.monitor_address,
            "engine": self.engine_address,
            "project": request.project,
            "root_directory": request.info.root_directory,
            "stack": request.stack,
            "pwd": request.pwd,
            "dry_run": "true" if request.dryRun else "false",
            "parallel": str(request.parallel),
            "organization": request.organization,
        }
        for key, value in flags.items():
            if value:
                args += [f"--{key}", value]
        args.append(request.info.entry_point or ".")
        args += list(request.args)
        env = {
            **os.environ,
            "PULUMI_CONFIG": json.dumps(dict(request.config)),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(request.configSecretKeys)),
        }
        process = subprocess.Popen(args, env=env, cwd=request.pwd or None)
        self._running.append(process)
        code = process.wait()
        self._running.remove(process)
        if code == 0:
            return language_pb2.RunResponse()
        if code == BAIL_EXIT_CODE:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"program exited with non-zero exit code: {code}")

    def Cancel(  # noqa: N802
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        for process in list(self._running):
            process.terminate()
        return empty_pb2.Empty()


def exit_when_engine_goes(engine_address: str, on_exit: Any) -> None:
    """The real host's ``rpcutil.Healthcheck`` of the engine: when the engine's address stops
    answering (the CLI was killed), the host ends too, with what it started, instead of staying
    behind as an orphan."""
    host, _, port = engine_address.rpartition(":")
    misses = 0
    while misses < 3:
        time.sleep(2)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            misses = 0
        except OSError:
            misses += 1
    on_exit()
    os._exit(1)


def main(argv: list[str]) -> int:
    positional = [arg for arg in argv if not arg.startswith("-")]
    engine_address = positional[0] if positional else ""
    if "-version" in argv or "--version" in argv:
        print(HOST_VERSION)
        return 0
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    host = PythonLanguageHost(engine_address)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    if engine_address:
        threading.Thread(
            target=exit_when_engine_goes,
            args=(engine_address, lambda: host.Cancel(empty_pb2.Empty(), None)),
            daemon=True,
        ).start()
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    stop = threading.Event()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.stop(grace=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
