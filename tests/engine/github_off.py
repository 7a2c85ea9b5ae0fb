"""``pulumi-resource-github`` for the engine tier while the GitHub side is off: it keeps state only.

Why it exists: the environment stacks always declare their GitHub resources (environments,
secrets, workflow files, protection) through an explicit ``github.Provider``, and the engine loads
every provider a program registers, even under ``--target``/``--exclude`` (providers are
"implicitly targeted": ``pkg/resource/deploy/step_generator.go`` of pulumi/pulumi v3.274.0). The
real GitHub provider and a stand-in of GitHub's REST API are built on the branch of issue 25's
GitHub half (``tests/github_api/``); until that branch is merged, this plugin stands in for the
provider so that the Kubernetes half can run against the real engine. It talks to no GitHub at
all: it is "GitHub off", and no test of this tier asserts anything about GitHub.

Behaviour (the ``ResourceProvider`` gRPC service of ``pulumi/runtime/proto/provider_pb2_grpc.py``,
SDK 3.272.0): configuration is accepted as given, without secrets (the engine then keeps secret
inputs secret in the outputs it records); ``Check`` returns the inputs unchanged; ``Diff`` reports
a change when the new inputs differ from the old; ``Create``/``Update`` return the inputs as
outputs under an id derived from the URN; ``Delete`` forgets; ``Invoke`` (the reviewer lookups
``getTeam``/``getUser``) answers a stable numeric ``id`` derived from the arguments.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from concurrent import futures
from typing import Final

import grpc  # type: ignore[import-untyped]
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

try:
    from tests.engine.language_host import exit_when_engine_goes
except ModuleNotFoundError:  # run by path, as the engine runs it: its folder is on sys.path
    from language_host import exit_when_engine_goes  # type: ignore[import-not-found,no-redef]

VERSION: Final = "6.15.0"
"""The pulumi-github SDK version requirements.txt pins (what the program asks for)."""


def _stable_number(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


class GitHubOff(provider_pb2_grpc.ResourceProviderServicer):
    """Records what the program declares; calls nothing."""

    def GetPluginInfo(  # noqa: N802 (gRPC method names)
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=VERSION)

    def Handshake(  # noqa: N802
        self, request: provider_pb2.ProviderHandshakeRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ProviderHandshakeResponse:
        return provider_pb2.ProviderHandshakeResponse()

    def GetSchema(  # noqa: N802
        self, request: provider_pb2.GetSchemaRequest, context: grpc.ServicerContext
    ) -> provider_pb2.GetSchemaResponse:
        return provider_pb2.GetSchemaResponse(schema='{"name":"github"}')

    def CheckConfig(  # noqa: N802
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(  # noqa: N802
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(  # noqa: N802
        self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ConfigureResponse:
        return provider_pb2.ConfigureResponse(supportsPreview=True)

    def Invoke(  # noqa: N802
        self, request: provider_pb2.InvokeRequest, context: grpc.ServicerContext
    ) -> provider_pb2.InvokeResponse:
        result = struct_pb2.Struct()
        result.update(dict(request.args.items()))
        result["id"] = str(_stable_number(f"{request.tok}:{request.args}"))
        return provider_pb2.InvokeResponse(**{"return": result})

    def Check(  # noqa: N802
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(  # noqa: N802
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        old = request.old_inputs if request.HasField("old_inputs") else request.olds
        changed = sorted(
            key
            for key in set(old.keys()) | set(request.news.keys())
            if key not in old or key not in request.news or old[key] != request.news[key]
        )
        if not changed:
            return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_SOME, diffs=changed)

    def Create(  # noqa: N802
        self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CreateResponse:
        return provider_pb2.CreateResponse(
            id=str(_stable_number(request.urn)), properties=request.properties
        )

    def Read(  # noqa: N802
        self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ReadResponse:
        return provider_pb2.ReadResponse(
            id=request.id, properties=request.properties, inputs=request.inputs
        )

    def Update(  # noqa: N802
        self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.UpdateResponse:
        return provider_pb2.UpdateResponse(properties=request.news)

    def Delete(  # noqa: N802
        self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def Cancel(  # noqa: N802
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        return empty_pb2.Empty()


def main(argv: list[str]) -> int:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(GitHubOff(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    engine = [arg for arg in argv if not arg.startswith("-")]
    if engine:
        threading.Thread(
            target=exit_when_engine_goes, args=(engine[0], lambda: None), daemon=True
        ).start()
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
