"""Section ``cicd:environment``: which stage of the chain a stack is, and what follows from it.

The stages form one chain (components/chain.py): ``promotesFrom`` names the stage before this one
(absent: the first stage, which deploys after green CI and owns the shared pipeline); ``tier``
decides the defaults (pod security, protection, GitHub's production flag) and the shape of a
later stage's deploy workflow. docs/environments.md explains the chain.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, Field

from components.chain import Tier, default_github_environment, default_tier
from components.config.fields import ConfigKey, ConfigModel, DnsLabel, HttpsUrl, SecretName, Slug
from components.vocabulary import PodSecurityLevel

MAX_STAGE_NAME: Final = 20
"""Longest stage name: it becomes ``<NAME>_DEPLOY_ENABLED``, ``<name>-deploy.yml``, the GitHub
environment and the stack's resource names, and short names keep all of them readable."""


RESERVED_STAGE_NAMES: Final = {
    "stage": "staging's deploy workflow keeps the file name stage-deploy.yml "
    "(components/chain.py deploy_workflow_file), so a stage named stage would write the same "
    "file; choose another name, such as stg or preprod",
}
"""Stage names refused, with why: each would share a file or variable with another stage."""


def _stage_name(value: str) -> str:
    if not value[:1].isalpha():
        raise ValueError(
            "must start with a letter (it becomes the deploy switch variable <NAME>_DEPLOY_ENABLED, "
            "and GitHub refuses variable names that start with a digit)"
        )
    if len(value) > MAX_STAGE_NAME:
        raise ValueError(
            f"must be at most {MAX_STAGE_NAME} characters (it names the deploy workflow file "
            "and the deploy switch variable)"
        )
    return value


def not_reserved(value: str) -> str:
    """Refuse a stage's own name from :data:`RESERVED_STAGE_NAMES` (``environment.name``)."""
    if value in RESERVED_STAGE_NAMES:
        raise ValueError(f"must not be {value}: {RESERVED_STAGE_NAMES[value]}")
    return value


StageName = Annotated[DnsLabel, AfterValidator(_stage_name)]
"""A stage (stack) name: a DNS label of at most :data:`MAX_STAGE_NAME` characters."""


class EnvironmentSecret(ConfigModel):
    """A GitHub environment secret whose value is another (secret) stack config key."""

    name: SecretName = Field(description="Secret name in the GitHub environment.")
    config_key: ConfigKey = Field(
        description="Config key under `cicd:` holding the value, set with --secret."
    )
    rotate_outside_pulumi: bool = Field(
        default=False,
        description="When true the value is only written on create; later rotations made in "
        "GitHub are left alone (ignore_changes on remoteUpdatedAt). Default false.",
    )


class EnvironmentConfig(ConfigModel):
    """Which stage of the chain this stack is (``cicd:environment``)."""

    name: Annotated[StageName, AfterValidator(not_reserved)] = Field(
        description=f"The stage's name; must equal the stack name. A DNS label of at most "
        f"{MAX_STAGE_NAME} characters."
    )
    tier: Tier | None = Field(
        default=None,
        description="development, staging or production: decides the defaults and the deploy "
        "workflow's shape. Default for dev, staging and prod their namesake tier (dev: "
        "development); required for any other name.",
    )
    promotes_from: StageName | None = Field(
        default=None,
        description="The stack name of the stage before this one, whose accepted deployments "
        "this stage requires. Unset: the first stage (deploys after green CI, owns the "
        "shared pipeline).",
    )
    github_environment: Slug | None = Field(
        default=None,
        description="GitHub deployment environment. Default development for dev, production "
        "for prod, otherwise the stage name.",
    )
    namespace: DnsLabel = Field(description="Kubernetes namespace of this environment.")
    pod_security: PodSecurityLevel | None = Field(
        default=None,
        description="Pod Security Standards level. Default baseline in tier development, "
        "restricted otherwise.",
    )
    protect: bool | None = Field(
        default=None,
        description="Protect the namespace and its secrets against deletion "
        "(protect + retain_on_delete). Default true in tier production only.",
    )
    url: HttpsUrl = Field(description="Public URL of the app, used by health checks.")
    secrets: tuple[EnvironmentSecret, ...] = Field(
        default=(), description="Extra environment secrets, values from secret config keys."
    )
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment variables (name: value); names A-Z, 0-9, _.",
    )

    @property
    def stage_tier(self) -> Tier:
        """``tier``, else the tier of the name (dev, staging, prod). A stack that has neither is
        refused by the rules (components/config/rules.py); development stands in until then."""
        return self.tier or default_tier(self.name) or Tier.DEVELOPMENT

    @property
    def is_first(self) -> bool:
        """Whether this is the first stage: it deploys after green CI and owns the pipeline."""
        return self.promotes_from is None

    @property
    def needs_approval(self) -> bool:
        """Every later stage's deployments need an approval; the first deploys on green CI."""
        return not self.is_first

    @property
    def is_production(self) -> bool:
        """Tier production: manual pause, ref restriction, GitHub's production flag."""
        return self.stage_tier is Tier.PRODUCTION

    @property
    def github_environment_name(self) -> str:
        return self.github_environment or default_github_environment(self.name)

    @property
    def pod_security_level(self) -> PodSecurityLevel:
        if self.pod_security is not None:
            return self.pod_security
        if self.stage_tier is Tier.DEVELOPMENT:
            return PodSecurityLevel.BASELINE
        return PodSecurityLevel.RESTRICTED

    @property
    def protect_from_deletion(self) -> bool:
        """Whether the namespace and the environment's secrets are protected against deletion.

        Not the same as needing an approval (:attr:`needs_approval`, every later stage): only
        tier production is protected from deletion unless ``protect`` says otherwise.
        """
        if self.protect is not None:
            return self.protect
        return self.is_production
