"""Registry pull access for the app: a dockerconfigjson Secret and the app's ServiceAccount.

The pull token comes from the secret config key ``cicd:registryToken`` and stays a secret Output
end to end (the Secret's ``stringData`` is secret, so neither the state nor the render shows it).
The app's ServiceAccount lists the Secret as ``imagePullSecrets`` and does not mount an API token:
the application never talks to the Kubernetes API.

With ``registry.pinDigest`` the configured tag is resolved to its digest through pulumi-docker's
``get_registry_image`` (which needs the Docker provider with the same registry credentials), and
the workload runs ``image@sha256:...``: what was reviewed is what runs, even if the tag moves.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from components.namespace import recommended_labels

meta = k8s.meta.v1
core = k8s.core.v1


def dockerconfigjson(server: str, username: str, token: str) -> str:
    auth = base64.b64encode(f"{username}:{token}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": token, "auth": auth}}})


@dataclass(frozen=True)
class RegistryAccessArgs:
    """Inputs of registry access.

    ``docker_provider`` is only needed (and only used) when ``pin_digest`` is true.
    """

    namespace: pulumi.Input[str]
    app: str
    environment: str
    server: str
    username: str
    token: pulumi.Output[str]
    image: str
    tag: str
    pin_digest: bool
    protect: bool
    docker_provider: docker.Provider | None = None


class RegistryAccess(pulumi.ComponentResource):
    """Pull Secret, the app's ServiceAccount, and the image reference the workload runs."""

    service_account_name: str
    image_ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: RegistryAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:kubernetes:RegistryAccess", name, None, opts)
        if args.pin_digest and args.docker_provider is None:
            raise ValueError("RegistryAccessArgs: pin_digest needs docker_provider")
        labels = recommended_labels(args.app, args.environment)
        secret_name = f"{args.app}-registry"

        def render_config(token: str) -> str:
            return dockerconfigjson(args.server, args.username, token)

        config_json: pulumi.Output[str] = args.token.apply(render_config)
        pull_secret = core.Secret(
            f"{name}-pull-secret",
            metadata=meta.ObjectMetaArgs(name=secret_name, namespace=args.namespace, labels=labels),
            type="kubernetes.io/dockerconfigjson",
            string_data={
                # Derived from a secret Output, so it is secret too (and the SDK marks stringData).
                ".dockerconfigjson": config_json
            },
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.service_account_name = args.app
        core.ServiceAccount(
            f"{name}-app",
            metadata=meta.ObjectMetaArgs(
                name=self.service_account_name, namespace=args.namespace, labels=labels
            ),
            automount_service_account_token=False,
            image_pull_secrets=[core.LocalObjectReferenceArgs(name=secret_name)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pull_secret]),
        )
        tagged = f"{args.image}:{args.tag}"
        if args.pin_digest:
            found = docker.get_registry_image_output(
                name=tagged, opts=pulumi.InvokeOutputOptions(provider=args.docker_provider)
            )
            self.image_ref = found.sha256_digest.apply(lambda d: f"{args.image}@{d}")
        else:
            self.image_ref = pulumi.Output.from_input(tagged)
        self.register_outputs({"image": self.image_ref})
