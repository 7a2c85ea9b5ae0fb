"""Section ``cicd:environment``: which environment a stack is, and what follows from it."""

from __future__ import annotations

from pydantic import (
    Field,
)

from components.config.fields import ConfigKey, ConfigModel, DnsLabel, HttpsUrl, SecretName, Slug
from components.vocabulary import DEFAULT_GITHUB_ENVIRONMENT, Environment, PodSecurityLevel


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
    """Which environment this stack is (``cicd:environment``)."""

    name: Environment = Field(description="dev, staging or prod.")
    github_environment: Slug | None = Field(
        default=None,
        description="GitHub deployment environment. Default development, staging or production.",
    )
    namespace: DnsLabel = Field(description="Kubernetes namespace of this environment.")
    pod_security: PodSecurityLevel | None = Field(
        default=None,
        description="Pod Security Standards level. Default baseline in dev, restricted elsewhere.",
    )
    protect: bool | None = Field(
        default=None,
        description="Protect the namespace and its secrets against deletion "
        "(protect + retain_on_delete). Default true in prod only.",
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
    def github_environment_name(self) -> str:
        return self.github_environment or DEFAULT_GITHUB_ENVIRONMENT[self.name]

    @property
    def pod_security_level(self) -> PodSecurityLevel:
        if self.pod_security is not None:
            return self.pod_security
        if self.name is Environment.DEV:
            return PodSecurityLevel.BASELINE
        return PodSecurityLevel.RESTRICTED

    @property
    def protect_from_deletion(self) -> bool:
        """Whether the namespace and the environment's secrets are protected against deletion.

        Not the same as needing an approval (:attr:`Environment.needs_approval`, staging and
        prod): only prod is protected from deletion unless ``protect`` says otherwise.
        """
        if self.protect is not None:
            return self.protect
        return self.name is Environment.PROD
