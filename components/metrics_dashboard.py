"""MetricsDashboard: the delivery-metrics Grafana dashboard as a ConfigMap for Grafana's sidecar.

The dashboard is built with grafana-foundation-sdk's typed builders (never hand-written JSON)
and shows what ``delivery_metrics`` pushes to the Pushgateway: build success rate and coverage
of the repository, and per environment deployments, lead time (median, p90), change failure
rate, mean time to restore and open incidents, for the window picked at the top (7d, 30d), plus
how long ago the job last ran (a stopped job is the first thing to notice).

Grafana's dashboard sidecar (kiwigrid k8s-sidecar, as in the grafana and kube-prometheus-stack
charts) loads every ConfigMap labelled ``grafana_dashboard: "1"`` in the namespaces it watches;
the ``grafana_folder`` annotation picks the folder where the chart enables
``folderAnnotation``.

Where it lives: with Grafana, in the platform project's stack of the cluster
(``cicd-platform:deliveryDashboards``, components/platform_stack.py), one per listed app, in
the cluster's monitoring namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_kubernetes as k8s

DASHBOARD_FILE: Final = "delivery-metrics.json"
SIDECAR_LABEL: Final = {"grafana_dashboard": "1"}


def dashboard_configmap_data(app: str) -> dict[str, str]:
    """``data`` of the dashboard ConfigMap: one JSON file the sidecar writes for Grafana.

    The model's module (and grafana-foundation-sdk with it) is imported here, on first use: the
    stacks without the dashboard never pay for it.
    """
    from components.dashboard_model import dashboard_json

    return {DASHBOARD_FILE: dashboard_json(app)}


@dataclass(frozen=True)
class MetricsDashboardArgs:
    """Inputs of :class:`MetricsDashboard`."""

    app: str
    """Application name: names the ConfigMap and the dashboard uid."""
    namespace: str
    """Namespace the Grafana sidecar watches (config default ``monitoring``)."""
    folder: str | None = None
    """Grafana folder (``grafana_folder`` annotation); None leaves the sidecar's default."""


class MetricsDashboard(pulumi.ComponentResource):
    """The delivery-metrics dashboard ConfigMap, labelled for the Grafana sidecar."""

    config_map: k8s.core.v1.ConfigMap

    def __init__(
        self, name: str, args: MetricsDashboardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:monitoring:MetricsDashboard", name, None, opts)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-delivery-metrics-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{args.app}-delivery-metrics-dashboard",
                namespace=args.namespace,
                labels={
                    **SIDECAR_LABEL,
                    "app.kubernetes.io/name": "delivery-metrics",
                    "app.kubernetes.io/part-of": args.app,
                    "app.kubernetes.io/managed-by": "pulumi",
                },
                annotations={"grafana_folder": args.folder} if args.folder else None,
            ),
            data=dashboard_configmap_data(args.app),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"configMap": self.config_map.metadata.name})
