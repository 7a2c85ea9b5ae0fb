"""The canary analysis, judged by a real Prometheus scraping real processes.

Given the AnalysisTemplate and the Services a stack renders (staging: scrape annotations for a
plain Prometheus; prod: a ServiceMonitor for prometheus-operator), this tier

- generates the scrape job that discovery implies: for annotations, the prometheus-community
  chart's ``kubernetes-service-endpoints`` job as it ships (charts/prometheus/values.yaml),
  for a ServiceMonitor the keep/target-label rules prometheus-operator generates for it
  (pkg/prometheus/promcfg.go: keep on the selector's Service labels and the endpoint's port
  name, ``namespace``/``service``/``pod`` target labels, the endpoint's path). There is no
  cluster, so Kubernetes service discovery is replaced by ``file_sd`` with the same
  ``__meta_kubernetes_*`` labels the endpoints role gives, built from the rendered Service;
  each pod gets its own loopback address (127.0.0.N) on the rendered port, as pods get an IP;
- runs Debian's ``prometheus`` on 127.0.0.1 with a 1s scrape interval (time scaled down from
  the platform's 30s; the expectations use the same :class:`AnalysisTiming` the render derives
  the template's ``initialDelay`` from) and stand-ins of the sample app (stand_in.py);
- drives traffic and evaluates the template's own success-rate query, read from the render,
  through Prometheus' HTTP API with its own conditions and limits (argo.py): a healthy canary
  passes, a 5xx burst fails and aborts, no data is inconclusive and pauses for an abort only
  after ``inconclusiveLimit``, an unreachable Prometheus errors into an abort, and a pod too new
  for ``rate()`` is never a failure and passes once scraped twice.

Cost: about 40 s per stack (two stacks) on two busy cores; processes and ports are its own, loopback
only, every loop bounded, everything stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.workload import DISCOVERY_SECONDS, AnalysisTiming
from render.engine import PROJECT_DIR, Rendered
from render.tree import kubernetes_objects
from tests.analysis import argo
from tests.conftest import real_tool, render_variant

pytestmark = pytest.mark.prometheus

SCRAPE_SECONDS: Final = 1
"""The tier's scrape (and measurement) interval: the platform's 30s, scaled down."""

CHART_SERVICE_ENDPOINTS_RELABEL: Final[list[dict[str, Any]]] = [
    # prometheus-community/helm-charts charts/prometheus/values.yaml, job
    # kubernetes-service-endpoints (honor_labels: true), verbatim but for the SD mechanism.
    {
        "source_labels": ["__meta_kubernetes_service_annotation_prometheus_io_scrape"],
        "action": "keep",
        "regex": "true",
    },
    {
        "source_labels": ["__meta_kubernetes_service_annotation_prometheus_io_scheme"],
        "action": "replace",
        "target_label": "__scheme__",
        "regex": "(https?)",
    },
    {
        "source_labels": ["__meta_kubernetes_service_annotation_prometheus_io_path"],
        "action": "replace",
        "target_label": "__metrics_path__",
        "regex": "(.+)",
    },
    {
        "source_labels": ["__address__", "__meta_kubernetes_service_annotation_prometheus_io_port"],
        "action": "replace",
        "target_label": "__address__",
        "regex": r"(.+?)(?::\d+)?;(\d+)",
        "replacement": "$1:$2",
    },
    {
        "action": "labelmap",
        "regex": "__meta_kubernetes_service_annotation_prometheus_io_param_(.+)",
        "replacement": "__param_$1",
    },
    {"action": "labelmap", "regex": "__meta_kubernetes_service_label_(.+)"},
    {
        "source_labels": ["__meta_kubernetes_namespace"],
        "action": "replace",
        "target_label": "namespace",
    },
    {
        "source_labels": ["__meta_kubernetes_service_name"],
        "action": "replace",
        "target_label": "service",
    },
    {
        "source_labels": ["__meta_kubernetes_pod_node_name"],
        "action": "replace",
        "target_label": "node",
    },
]


def _sanitize(name: str) -> str:
    """Label names in __meta_kubernetes_* as Prometheus' kubernetes SD writes them."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _wait(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class Pod:
    """One stand-in pod behind one rendered Service, in one scenario's namespace."""

    namespace: str
    service: str
    address: str
    broken: bool = False


class Cluster:
    """The stand-in pods, the file_sd targets that describe them, and the traffic to them."""

    def __init__(self, workdir: Path, services: dict[str, dict[str, Any]], port: int) -> None:
        self.targets = workdir / "targets.json"
        self.services = services
        self.port = port
        self.pods: list[Pod] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.traffic_to: list[Pod] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._driver = threading.Thread(target=self._drive, daemon=True)
        self._write_targets()

    def start_pod(self, pod: Pod, *, traffic: bool) -> None:
        host = pod.address
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.analysis.stand_in",
                str(self.port),
                "broken" if pod.broken else "ok",
                host,
            ],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
        )
        self.processes.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready", f"stand-in on {host} did not start"
        with self._lock:
            self.pods.append(pod)
            if traffic:
                self.traffic_to.append(pod)
        self._write_targets()

    def _write_targets(self) -> None:
        groups = []
        for index, pod in enumerate(self.pods):
            service = self.services[pod.service]
            labels = {
                "__meta_kubernetes_namespace": pod.namespace,
                "__meta_kubernetes_service_name": pod.service,
                "__meta_kubernetes_pod_name": f"{pod.service}-{index}",
                "__meta_kubernetes_endpoint_port_name": "http",
            }
            for key, value in service["metadata"].get("labels", {}).items():
                labels[f"__meta_kubernetes_service_label_{_sanitize(key)}"] = value
            for key, value in service["metadata"].get("annotations", {}).items():
                labels[f"__meta_kubernetes_service_annotation_{_sanitize(key)}"] = value
            groups.append({"targets": [f"{pod.address}:{self.port}"], "labels": labels})
        scratch = self.targets.with_suffix(".tmp")
        scratch.write_text(json.dumps(groups))
        os.replace(scratch, self.targets)  # file_sd must never read half a file

    def _drive(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pods = list(self.traffic_to)
            for pod in pods:
                # A 503 raises HTTPError (an OSError): the stand-in counted it all the same.
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://{pod.address}:{self.port}/", timeout=2).close()
            self._stop.wait(0.05)

    def start_traffic(self) -> None:
        if not self._driver.is_alive():
            self._driver.start()

    def stop(self) -> None:
        self._stop.set()
        if self._driver.is_alive():
            self._driver.join(timeout=10)
        for process in self.processes:
            _stop(process)


def _scrape_job(stack_objects: dict[str, Any], targets: Path) -> dict[str, Any]:
    """The scrape job the rendered discovery implies (see the module docstring)."""
    sd = [{"files": [str(targets)], "refresh_interval": "1s"}]
    monitors = [o for o in stack_objects.values() if o["kind"] == "ServiceMonitor"]
    if not monitors:
        return {
            "job_name": "kubernetes-service-endpoints",
            "honor_labels": True,
            "file_sd_configs": sd,
            "relabel_configs": CHART_SERVICE_ENDPOINTS_RELABEL,
        }
    (monitor,) = monitors
    (endpoint,) = monitor["spec"]["endpoints"]
    keep = [
        {
            "source_labels": [f"__meta_kubernetes_service_label_{_sanitize(key)}"],
            "action": "keep",
            "regex": value,
        }
        for key, value in monitor["spec"]["selector"]["matchLabels"].items()
    ]
    return {
        "job_name": f"serviceMonitor/{monitor['metadata']['namespace']}/"
        f"{monitor['metadata']['name']}/0",
        "honor_labels": False,
        "metrics_path": endpoint["path"],
        "file_sd_configs": sd,
        "relabel_configs": [
            *keep,
            {
                "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                "action": "keep",
                "regex": endpoint["port"],
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"target_label": "endpoint", "replacement": endpoint["port"]},
        ],
    }


@dataclass(frozen=True)
class Analysis:
    """The rendered success-rate metric, its args as the Rollout passes them, and Prometheus."""

    metric: dict[str, Any]
    args: dict[str, str]
    address: str

    def promql(self, namespace: str) -> str:
        query: str = self.metric["provider"]["prometheus"]["query"]
        values = {**self.args, "namespace": namespace}
        return re.sub(r"\{\{args\.([a-z-]+)\}\}", lambda m: values[m.group(1)], query)

    def measure(self, namespace: str, address: str | None = None) -> tuple[str, list[float]]:
        return argo.measure(address or self.address, self.metric, self.promql(namespace))

    def run(self, namespace: str, measurements: int) -> list[str]:
        """Take ``measurements`` one scrape interval apart; the run's phase after each."""
        run = argo.MetricRun(self.metric)
        phases = []
        for _ in range(measurements):
            run.add(self.measure(namespace)[0])
            phases.append(run.phase)
            time.sleep(SCRAPE_SECONDS)
        return phases


@pytest.fixture(scope="module", params=["staging", "prod"])
def analysis_setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Analysis, Cluster, Rendered]]:
    """One render, Prometheus and set of pods per stack; each scenario has its own namespace."""
    tmp_path = tmp_path_factory.mktemp(f"analysis-{request.param}")
    prometheus = real_tool("prometheus", install="apt-get install -y prometheus")
    app_port = _free_port()
    # The rendered port is the one Prometheus scrapes (annotation or ServiceMonitor port), so
    # the stack is rendered with a port free on this machine.
    result = render_variant(request.param, {"cicd:app.port": app_port})
    objects = kubernetes_objects(result)
    services = {o["metadata"]["name"]: o for o in objects.values() if o["kind"] == "Service"}
    (template,) = [o for o in objects.values() if o["kind"] == "AnalysisTemplate"]
    (rollout,) = [o for o in objects.values() if o["kind"] == "Rollout"]
    metric = next(m for m in template["spec"]["metrics"] if m["name"] == "success-rate")
    args = {
        a["name"]: str(a["value"])
        for a in rollout["spec"]["strategy"]["canary"]["analysis"]["args"]
    }

    cluster = Cluster(tmp_path, services, app_port)
    web_port = _free_port()
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_SECONDS}s",
            "scrape_timeout": f"{SCRAPE_SECONDS}s",
            "evaluation_interval": f"{SCRAPE_SECONDS}s",
        },
        "scrape_configs": [_scrape_job(objects, cluster.targets)],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    address = f"http://127.0.0.1:{web_port}"
    try:
        _wait(
            "Prometheus to be ready",
            lambda: urllib.request.urlopen(f"{address}/-/ready", timeout=2).status == 200,
            30,
        )
        yield Analysis(metric, args, address), cluster, result
    finally:
        cluster.stop()
        _stop(server)


def _up(analysis: Analysis, count: int) -> Callable[[], bool]:
    return lambda: sum(argo.query(analysis.address, "up == 1")) >= count


def test_the_analysis_judges_real_traffic(
    analysis_setup: tuple[Analysis, Cluster, Rendered],
) -> None:
    analysis, cluster, _ = analysis_setup
    metric = analysis.metric
    canary, stable = analysis.args["canary-service"], cluster.services
    stable_name = next(name for name in stable if name != canary)
    timing = AnalysisTiming(scrape_interval_seconds=SCRAPE_SECONDS, rate_window_seconds=4)

    # Given: a healthy canary beside a failing stable version (whose errors are not the
    # canary's), a canary answering 503, and a canary nobody calls.
    cluster.start_pod(Pod("healthy", canary, "127.0.0.2"), traffic=True)
    cluster.start_pod(Pod("healthy", stable_name, "127.0.0.3", broken=True), traffic=True)
    cluster.start_pod(Pod("burst", canary, "127.0.0.4", broken=True), traffic=True)
    cluster.start_pod(Pod("idle", canary, "127.0.0.5"), traffic=False)
    cluster.start_traffic()
    _wait("four targets up", _up(analysis, 4), 30)
    # Up means discovered and scraped once: what is left of the initial delay is the scrapes.
    time.sleep(timing.initial_delay_seconds - DISCOVERY_SECONDS)

    failure_limit = int(metric["failureLimit"])
    inconclusive_limit = int(metric["inconclusiveLimit"])
    error_limit = int(metric["consecutiveErrorLimit"])
    rounds = max(failure_limit, inconclusive_limit) + 1

    # Then: healthy passes every measurement and the run keeps going.
    healthy = analysis.measure("healthy")
    assert healthy[0] == argo.SUCCESSFUL, healthy
    assert healthy[1] == [1.0]

    # A 5xx burst fails each measurement; one more than failureLimit aborts the Rollout.
    burst = analysis.run("burst", failure_limit + 1)
    assert burst == [argo.RUNNING] * failure_limit + [argo.FAILED]
    assert argo.rollout_reaction(burst[-1]) == "abort"

    # No requests (0/0) and no series at all are inconclusive, never failed; the run turns
    # Inconclusive (the Rollout pauses, the deploy workflow aborts it) only past the limit.
    for namespace in ("idle", "absent"):
        phases = analysis.run(namespace, inconclusive_limit + 1)
        assert phases == [argo.RUNNING] * inconclusive_limit + [argo.INCONCLUSIVE], namespace
        assert argo.rollout_reaction(phases[-1]) == "pause"

    # Prometheus unreachable: errors, and an abort one past consecutiveErrorLimit.
    run = argo.MetricRun(metric)
    closed = f"http://127.0.0.1:{_free_port()}"
    for _ in range(error_limit + 1):
        run.add(analysis.measure("healthy", address=closed)[0])
    assert run.phase == argo.ERROR and argo.rollout_reaction(run.phase) == "abort"

    # The healthy canary stayed healthy throughout.
    assert analysis.run("healthy", rounds)[-1] == argo.RUNNING


def test_a_pod_too_new_for_rate_is_never_a_failure(
    analysis_setup: tuple[Analysis, Cluster, Rendered],
) -> None:
    analysis, cluster, result = analysis_setup
    metric = analysis.metric
    canary = analysis.args["canary-service"]
    timing = AnalysisTiming(scrape_interval_seconds=SCRAPE_SECONDS, rate_window_seconds=4)
    # The render's delay is the same derivation at the platform's 30s interval.
    assert argo.duration_seconds(metric["initialDelay"]) == (
        AnalysisTiming(30, 120).initial_delay_seconds
    )
    cluster.start_traffic()

    # When: a canary pod starts taking traffic just now.
    started = time.monotonic()
    cluster.start_pod(Pod("fresh", canary, "127.0.0.6"), traffic=True)
    early: list[str] = []
    while time.monotonic() - started < timing.initial_delay_seconds:
        early.append(analysis.measure("fresh")[0])
        time.sleep(SCRAPE_SECONDS / 2)

    # Then: before its second scrape there is no rate, which is inconclusive, not failed...
    assert early and early[0] == argo.INCONCLUSIVE, early
    assert argo.FAILED not in early and argo.ERROR not in early, early
    # ...and from the initial delay on it passes within the inconclusive limit.
    run = argo.MetricRun(metric)
    for _ in range(int(metric["inconclusiveLimit"]) + 1):
        phase = analysis.measure("fresh")[0]
        run.add(phase)
        if phase == argo.SUCCESSFUL:
            break
        time.sleep(SCRAPE_SECONDS)
    assert run.successful == 1 and run.phase == argo.RUNNING, (run, time.monotonic() - started)
    assert result.warnings == []
