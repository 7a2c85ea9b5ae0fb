"""Sections of traffic: ``cicd:ingress`` and ``cicd:network`` (egress rules)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import (
    Field,
)

from components.config.fields import Cidr, ConfigModel, DnsLabel, HostName, Port, ShortDnsLabel


class IngressConfig(ConfigModel):
    """The environment's one Ingress, with TLS from cert-manager (``cicd:ingress``).

    The IngressClass and the controller's namespace come from the platform stack. A canary with
    ``canary.nginx`` splits traffic on this same Ingress.
    """

    host: HostName | None = Field(
        default=None,
        description="Host the Ingress serves. Default the host of environment.url, so the "
        "health checks and E2E tests reach what the stack exposes.",
    )
    cluster_issuer: DnsLabel = Field(
        description="cert-manager ClusterIssuer that issues the TLS certificate "
        "(annotation cert-manager.io/cluster-issuer)."
    )
    tls_secret_name: DnsLabel | None = Field(
        default=None,
        description="Secret cert-manager writes the certificate to. Default <app.name>-tls.",
    )


class Protocol(StrEnum):
    """Transport protocol of a NetworkPolicy port."""

    TCP = "TCP"
    UDP = "UDP"


class EgressPort(ConfigModel):
    """One destination port of an egress rule."""

    port: Port = Field(description="Destination port (1..65535).")
    protocol: Protocol = Field(default=Protocol.TCP, description="TCP or UDP. Default TCP.")


class EgressRule(ConfigModel):
    """Where the app may connect to besides DNS: CIDR blocks and/or namespaces, on given ports."""

    name: ShortDnsLabel = Field(
        description="Names the NetworkPolicy allow-egress-<name>, such as database."
    )
    cidrs: tuple[Cidr, ...] = Field(
        default=(), description="Destination CIDR blocks (outside the cluster: a database, an API)."
    )
    namespaces: tuple[DnsLabel, ...] = Field(
        default=(), description="Destination namespaces in the cluster (all their pods)."
    )
    ports: tuple[EgressPort, ...] = Field(
        description="Destination ports; at least one, so a rule never opens every port."
    )


class NetworkConfig(ConfigModel):
    """Network policy additions to the namespace's default deny (``cicd:network``)."""

    egress: tuple[EgressRule, ...] = Field(
        default=(),
        description="Egress allow-list of the app's pods, one NetworkPolicy per entry. "
        "Default none: only DNS.",
    )
