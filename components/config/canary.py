"""Section ``cicd:canary``: on with its release plan (steps, analysis, traffic routing), or off."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    Field,
    Tag,
)

from components.config.fields import (
    ConfigModel,
    Duration,
    HealthPath,
    HostName,
    HttpUrl,
    Percent,
    Port,
    between,
    float_between,
    matches,
)
from components.config.switch import OFF, ON, SwitchedOff, by_switch, is_switched
from components.vocabulary import MetricsPreset


class CanaryStep(ConfigModel):
    """One canary step: send `weight` percent to the new version, then pause."""

    weight: Percent = Field(description="Traffic percent for the new version (1..100).")
    pause: Duration | None = Field(
        default=None,
        description="How long to wait; omitted means wait until a person promotes.",
    )


_PROM_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
PromMetricName = Annotated[
    str, AfterValidator(matches(_PROM_NAME, "must be a Prometheus metric name"))
]
PromLabelName = Annotated[
    str, AfterValidator(matches(_PROM_LABEL, "must be a Prometheus label name"))
]

PRESET_METRIC: Final = {
    MetricsPreset.APP: "http_requests_total",
    MetricsPreset.INGRESS_NGINX: "nginx_ingress_controller_requests",
}
"""The request counter each preset reads (docs/analysis.md, "Presets")."""

PRESET_STATUS_LABEL: Final = {MetricsPreset.APP: "code", MetricsPreset.INGRESS_NGINX: "status"}
"""The label holding the HTTP status code: ``code`` as Prometheus client libraries' HTTP
instrumentation names it (client_golang promhttp), ``status`` as ingress-nginx does
(internal/ingress/metric/collectors/socket.go, ``requestTags``)."""


class RequestMetricsConfig(ConfigModel):
    """The metric contract: the counter of requests the canary's success rate is computed from.

    Every setting has a default; ``preset`` picks the defaults of the others.
    """

    preset: MetricsPreset = Field(
        default=MetricsPreset.APP,
        description="app (the app's own request counter, scraped from its pods) or "
        "ingress-nginx (the controller's per-Ingress counter; needs the nginx router and "
        "canary.nginx). Default app.",
    )
    metric: PromMetricName | None = Field(
        default=None,
        description="Counter of requests. Default: http_requests_total (app), "
        "nginx_ingress_controller_requests (ingress-nginx).",
    )
    status_label: PromLabelName | None = Field(
        default=None,
        description="Label holding the HTTP status code; 5xx counts as an error. "
        "Default: code (app), status (ingress-nginx).",
    )
    path: HealthPath = Field(
        default="/metrics",
        description="Path the app serves its metrics on (app preset). Default /metrics.",
    )

    @property
    def metric_name(self) -> str:
        """``metric``, or the preset's counter."""
        return self.metric or PRESET_METRIC[self.preset]

    @property
    def status_label_name(self) -> str:
        """``statusLabel``, or the preset's."""
        return self.status_label or PRESET_STATUS_LABEL[self.preset]


class AnalysisSettings(ConfigModel):
    """Settings of the background analysis; every one has a default."""

    interval: Duration = Field(default="30s", description="Time between measurements.")
    failure_limit: Annotated[int, AfterValidator(between(0, 20))] = Field(
        default=2, description="Failed measurements tolerated before the rollout aborts."
    )
    success_rate: Annotated[float, AfterValidator(float_between(0.5, 1.0))] = Field(
        default=0.95, description="Minimum ratio of non-5xx responses (with Prometheus)."
    )
    prometheus_address: HttpUrl | None = Field(
        default=None, description="Prometheus URL; when set the success rate is checked too."
    )
    metrics_port: Port | None = Field(
        default=None,
        description="Port the app serves its metrics on (app preset). Default: app.port.",
    )
    metrics: RequestMetricsConfig = Field(
        default=RequestMetricsConfig(),
        description="The metric contract: preset (app | ingress-nginx), metric, statusLabel, "
        "path. Default: the app preset.",
    )
    rate_window: Duration | None = Field(
        default=None,
        description="Range of rate() in the success-rate query; at least two scrape intervals "
        "of the cluster's Prometheus. Default: four scrape intervals (2m at 30s).",
    )
    inconclusive_limit: Annotated[int, AfterValidator(between(0, 20))] = Field(
        default=3,
        description="Measurements without data (nothing scraped, no requests) tolerated; one "
        "more makes the analysis Inconclusive, which pauses the Rollout and the deploy workflow "
        "aborts it. Default 3.",
    )
    consecutive_error_limit: Annotated[int, AfterValidator(between(0, 20))] = Field(
        default=4,
        description="Queries in a row that fail (Prometheus unreachable, bad query) tolerated "
        "before the analysis errors and the Rollout aborts. Default 4 (Argo's default).",
    )


_ANALYSIS = "Run analysis during the canary. Default true."


class AnalysisOn(AnalysisSettings):
    """Background analysis that aborts a bad canary (the default)."""

    enabled: Annotated[bool, is_switched(True)] = Field(default=True, description=_ANALYSIS)


class AnalysisOff(SwitchedOff):
    """``analysis.enabled: false``: the canary proceeds on its pauses alone."""

    SWITCH = "enabled"
    ON_BY_DEFAULT = True
    enabled: Annotated[bool, is_switched(False)] = Field(description=_ANALYSIS)
    unused: AnalysisSettings | None = Field(
        default=None, description="Analysis settings written while it is off (ignored)."
    )


AnalysisConfig = Annotated[
    Annotated[AnalysisOn, Tag(ON)] | Annotated[AnalysisOff, Tag(OFF)],
    by_switch(AnalysisOn, AnalysisOff),
]
"""Health analysis of a canary: on with its settings (default), or off."""


class NginxRoutingConfig(ConfigModel):
    """Exact traffic split through the NGINX ingress controller: the nginx router's per-stack
    setting (components/traffic_router.py); refused when the platform routes otherwise."""

    host: HostName | None = Field(
        default=None,
        description="Deprecated: the split uses the stack's one Ingress (cicd:ingress.host). "
        "When set it must equal that host.",
    )


class CanaryPlanConfig(ConfigModel):
    """The settings of a canary release; every one has a default, so a set-aside copy of them
    under a switched-off canary (:class:`CanaryOff`) is valid whatever subset was written."""

    steps: tuple[CanaryStep, ...] = Field(default=(), description="Weights strictly increasing.")
    analysis: AnalysisConfig = Field(default=AnalysisOn(), description="Health analysis.")
    nginx: NginxRoutingConfig | None = Field(
        default=None,
        description="Only where the platform's router is nginx: split the canary's requests "
        "on the stack's Ingress; without it weights are pod ratios. Refused under the other "
        "routers (traefik and gatewayApi split every canary; none splits none): the router is "
        "the platform's choice (cicd-platform:trafficRouter, docs/traffic-routers.md).",
    )
    install_controller: bool = Field(
        default=False,
        description="Removed: the Argo Rollouts controller is cluster-scoped and installed by "
        "the platform project (platform/Pulumi.<cluster>.yaml). Must be false.",
    )
    step_deadline: Duration = Field(
        default="3m",
        description="Longest a step may take to scale (the Rollout's progressDeadlineSeconds; "
        "Argo Rollouts aborts a step that takes longer). The workflow's wait is derived from "
        "it and the pauses. Default 3m.",
    )
    rollback_window: Annotated[int, AfterValidator(between(1, 10))] = Field(
        default=2,
        description="Revisions within which going back skips the canary steps (Argo "
        "rollbackWindow): a rollback to the previous stable digest is one fast scale-up. "
        "Default 2.",
    )


class CanaryOn(CanaryPlanConfig):
    """``cicd:canary`` with ``enabled: true``: an Argo Rollouts canary with its plan."""

    enabled: Annotated[bool, is_switched(True)] = Field(
        description="Release as a canary; otherwise a Deployment."
    )


class CanaryOff(SwitchedOff):
    """``cicd:canary`` absent or ``enabled: false``: a plain Deployment, no canary settings.

    Settings written anyway are validated and set aside (:mod:`components.config.switch`).
    """

    SWITCH = "enabled"
    enabled: Annotated[bool, is_switched(False)] = Field(
        default=False, description="Release as a canary; otherwise a Deployment."
    )
    unused: CanaryPlanConfig | None = Field(
        default=None, description="Canary settings written while the canary is off (ignored)."
    )


CanaryConfig = Annotated[
    Annotated[CanaryOn, Tag(ON)] | Annotated[CanaryOff, Tag(OFF)], by_switch(CanaryOn, CanaryOff)
]
"""``cicd:canary``: :class:`CanaryOn` with its plan, or :class:`CanaryOff`."""
