"""Sections of the application and its image: ``cicd:app`` and ``cicd:registry``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
)

from components.config.fields import (
    IMAGE_PATTERN,
    TAG_PATTERN,
    BranchPattern,
    ConfigModel,
    HealthPath,
    Port,
    Quantity,
    ShortDnsLabel,
    Slug,
    between,
    matches,
)


class ResourceAmounts(ConfigModel):
    """CPU and memory as Kubernetes quantities."""

    cpu: Quantity = Field(description="CPU, for example 250m.")
    memory: Quantity = Field(description="Memory, for example 256Mi.")


class ContainerResources(ConfigModel):
    """Requests and limits of the application container."""

    requests: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="100m", memory="128Mi"),
        description="What the scheduler reserves. Default 100m CPU, 128Mi memory.",
    )
    limits: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="500m", memory="256Mi"),
        description="The ceiling. Default 500m CPU, 256Mi memory.",
    )


class Branching(StrEnum):
    """How the application's branches carry a change to production (``cicd:app.branching``).

    docs/delivery-models.md describes both; components/config/branching.py holds what each
    preset requires of a stage's branch policies and branch protection.
    """

    GITFLOW = "gitflow"
    """develop -> main: the first stage deploys from the default branch (develop), release
    branches (release/*) are stabilised in the stages between, the production stage deploys
    from main and v* tags. The first stage protects the default branch, the production stage
    protects main."""
    TRUNK = "trunk"
    """One branch (the default branch, usually main): the first stage deploys from pushes to it,
    every later stage from v* tags only. Only the first stage protects a branch."""


class AppConfig(ConfigModel):
    """The application being delivered (``cicd:app``)."""

    name: ShortDnsLabel = Field(description="Workload name; also names Services and labels.")
    repository: Slug = Field(description="GitHub repository name under `github:owner`.")
    default_branch: BranchPattern = Field(
        default="develop",
        description="Default branch: workflow files are committed here (workflow_run and "
        "workflow_dispatch only fire for files on it). Default develop.",
    )
    branching: Branching = Field(
        default=Branching.GITFLOW,
        description="Branching preset: gitflow (develop -> main, release branches, v* tags) or "
        "trunk (one branch; later stages deploy from v* tags). Decides which stage protects "
        "which branch and which branches and tags each environment deploys from; every stack "
        "must state the same. Default gitflow.",
    )
    image: Annotated[
        str,
        AfterValidator(
            matches(
                IMAGE_PATTERN, "must be an image name without tag, such as ghcr.io/acme/webshop"
            )
        ),
    ] = Field(description="Image repository, without a tag.")
    image_tag: Annotated[
        str, AfterValidator(matches(TAG_PATTERN, "must be an image tag such as 1.4.2"))
    ] = Field(
        description="Tag the stack first deploys; the deploy workflows move it afterwards. "
        "Never `latest`."
    )
    port: Port = Field(default=8080, description="Container port. Default 8080.")
    health_path: HealthPath | None = Field(
        default="/healthz",
        description="HTTP path for probes and canary analysis; null disables both. "
        "Default /healthz.",
    )
    replicas: Annotated[int, AfterValidator(between(1, 50))] = Field(
        default=2, description="Pod count (stable pods for a canary). Default 2."
    )
    resources: ContainerResources = Field(
        default=ContainerResources(), description="Container requests and limits."
    )


class RegistryConfig(ConfigModel):
    """Registry pull access (``cicd:registry``); the token is ``cicd:registryToken``."""

    server: str = Field(default="ghcr.io", description="Registry host. Default ghcr.io.")
    username: Slug = Field(description="Account that owns the pull token.")
    pin_digest: bool = Field(
        default=False,
        description="Resolve app.imageTag to its digest with pulumi-docker and deploy "
        "image@sha256:... Default false.",
    )
