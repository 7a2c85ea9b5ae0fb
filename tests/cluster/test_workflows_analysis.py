"""A failing canary analysis, judged by the real controller against a real Prometheus.

stage-deploy.yml runs with act, the real kubectl and the real Argo Rollouts controller v1.8.3
(the fixtures and :class:`~tests.cluster.test_workflows.Release` of test_workflows.py), but
staging's canary analysis is **on**, pointed at Debian's ``prometheus`` on 127.0.0.1 (the
controller runs on this host, so loopback reaches it). Prometheus scrapes one stand-in pod of
the analysis tier (tests/analysis/stand_in.py) that answers every request with 503, labelled as
the canary Service's pod (``namespace="webshop-staging"``, ``service="webshop-canary"``), and
tests/analysis/test_canary_analysis.py's traffic driver sends it requests. So the rendered
success-rate query has **a series that fails the condition**: no good requests, ``or total * 0``
makes the rate 0 (components/workload.py ``success_rate_query``), and ``failureCondition``
``len(result) > 0 && !isNaN(result[0]) && result[0] < 0.95`` holds.

What the controller does with that (argo-rollouts v1.8.3, read in the Go module source the tier
builds from):

- utils/evaluate/evaluate.go ``EvaluateResult``: a true ``failureCondition`` is a Failed
  measurement (an empty result, meeting neither condition, would be Inconclusive instead);
- analysis/analysis.go ``assessMetricFailureInconclusiveOrError``: ``failed > failureLimit``
  makes the metric Failed (message ``failed (N) > failureLimit (L)``), and the run's message is
  ``Metric "success-rate" assessed Failed due to ...``; more than ``consecutiveErrorLimit``
  errors in a row would make it Error, which aborts the same way;
- rollout/analysis.go ``reconcileBackgroundAnalysisRun``: a background run in phase Failed or
  Error calls ``pauseContext.AddAbort(run message)``: the controller aborts the canary itself,
  the Rollout goes Degraded with reason ``RolloutAborted`` (utils/conditions/conditions.go) and
  traffic goes back to the stable ReplicaSet.

The deploy workflow's wait (components/workflows/scripts/wait_healthy.sh) sees ``status.abort``
and fails with the controller's message; the job's abort step and final status run, and the
GitHub deployment records ``release failed; canary aborted``.

The stack variant (:data:`ANALYSIS_CHANGES`): staging's steps with a 60s pause (the analysis
must fail before the canary would finish), the analysis on with the stack's own limits, the
loopback Prometheus and a 2s interval (the platform's 30s, scaled down). Two edits to the
rendered AnalysisTemplate, and only there, before it is applied (:func:`template_for_this_host`):

- its ``health`` metric is left out: a ``web`` GET of
  ``webshop-canary.webshop-staging.svc.cluster.local`` resolves nowhere on this host and kwok's
  pods serve nothing, so it would error into an abort of its own after ``consecutiveErrorLimit``
  and this test would not show what Prometheus' answer does (test_canary.py's docstring);
- ``initialDelay`` is the one :class:`~components.workload.AnalysisTiming` derives for this
  Prometheus' 1s scrape interval (13s) instead of the platform's 30s (100s).

Nothing is written in the controller's place: the AnalysisRun, the abort and the weights are
the controller's. About 60-90 s of wall time once the session's control plane is up.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from components.workload import AnalysisTiming
from render.engine import Rendered
from tests.analysis import argo
from tests.analysis.test_canary_analysis import (
    SCRAPE_SECONDS,
    Cluster,
    Pod,
    _free_port,
    _stop,
    _wait,
)
from tests.cluster.apply import apply_render
from tests.cluster.conftest import Applied, apply_canary_variant, wait_for
from tests.cluster.steps import NAMESPACE
from tests.cluster.test_workflows import (
    IMAGE,
    Release,
    diagnosis,
    digest,
    kubeconfig_secret,
    plugin_status,
    real_tools,
    stable_image,
    status,
    weights,
)
from tests.conftest import real_tool, render_variant
from tests.pipeline.harness import RealTools

pytestmark = pytest.mark.cluster

__all__ = ["kubeconfig_secret", "real_tools"]  # the session fixtures of test_workflows.py

STACK: Final = "staging"
CANARY_SERVICE: Final = "webshop-canary"
ANALYSIS_INTERVAL: Final = "2s"


def analysis_changes(prometheus: str) -> dict[str, Any]:
    """Staging's variant for this scenario (see the module docstring)."""
    return {
        "cicd:canary.analysis": {"prometheusAddress": prometheus, "interval": ANALYSIS_INTERVAL},
        "cicd:canary.steps": [{"weight": 50, "pause": "60s"}, {"weight": 100}],
    }


@dataclass(frozen=True)
class Prometheus:
    address: str
    log: Path


@pytest.fixture(scope="module")
def failing_canary_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus scraping a canary pod that answers 503 to the traffic it gets."""
    tmp_path = tmp_path_factory.mktemp("cluster-analysis")
    prometheus = real_tool("prometheus", install="apt-get install -y prometheus")
    canary = {"metadata": {"name": CANARY_SERVICE, "namespace": NAMESPACE[STACK]}}
    cluster = Cluster(tmp_path, {CANARY_SERVICE: canary}, _free_port())
    job = {
        # The two target labels the rendered query selects on, as both discovery paths give
        # them (kubernetes-service-endpoints and a ServiceMonitor: tests/analysis/).
        "job_name": "canary",
        "file_sd_configs": [{"files": [str(cluster.targets)], "refresh_interval": "1s"}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        ],
    }
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "scrape_timeout": f"{SCRAPE_SECONDS}s"},
        "scrape_configs": [job],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    web_port = _free_port()
    log = tmp_path / "prometheus.log"
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    address = f"http://127.0.0.1:{web_port}"
    try:
        _wait(
            "Prometheus to be ready",
            lambda: urllib.request.urlopen(f"{address}/-/ready", timeout=2).status == 200,
            30,
        )
        cluster.start_pod(Pod(NAMESPACE[STACK], CANARY_SERVICE, "127.0.0.1", broken=True),
                          traffic=True)  # fmt: skip
        cluster.start_traffic()
        yield Prometheus(address, log)
    finally:
        cluster.stop()
        _stop(server)


def template_for_this_host(rendered: Rendered) -> dict[str, Any]:
    """The rendered AnalysisTemplate's inputs, edited in place as the module docstring says;
    returns its success-rate metric."""
    (template,) = [
        r.inputs for r in rendered.resources
        if r.type.startswith("kubernetes:") and r.inputs.get("kind") == "AnalysisTemplate"
    ]  # fmt: skip
    metrics: list[dict[str, Any]] = template["spec"]["metrics"]
    (success_rate,) = [m for m in metrics if m["name"] == "success-rate"]
    rendered_window = success_rate["provider"]["prometheus"]["query"]
    assert "[120s]" in rendered_window  # the platform's 30s scrape: 4 intervals, fine at 1s too
    timing = AnalysisTiming(scrape_interval_seconds=SCRAPE_SECONDS, rate_window_seconds=120)
    success_rate["initialDelay"] = f"{timing.initial_delay_seconds}s"
    template["spec"]["metrics"] = [success_rate]
    return success_rate


@pytest.fixture
def analysis_on(
    canary_stacks: Applied, failing_canary_prometheus: Prometheus
) -> Iterator[tuple[Applied, dict[str, Any], dict[str, Any]]]:
    """Staging applied with the analysis on; the canary variant (analysis off) put back after."""
    changes = analysis_changes(failing_canary_prometheus.address)
    rendered = render_variant(STACK, changes)
    metric = template_for_this_host(rendered)
    refusals, _ = apply_render(canary_stacks.plane, STACK, rendered, canary_stacks.state)
    assert refusals == [], "\n".join(refusals)
    try:
        yield canary_stacks, changes, metric
    finally:
        apply_canary_variant(canary_stacks)


def measured(prometheus: Prometheus, metric: dict[str, Any]) -> tuple[str, list[float]]:
    """The success-rate query with the Rollout's args, as the controller sends it."""
    args = {"namespace": NAMESPACE[STACK], "canary-service": CANARY_SERVICE}
    query = str(metric["provider"]["prometheus"]["query"])
    for name, value in args.items():
        query = query.replace(f"{{{{args.{name}}}}}", value)
    return argo.measure(prometheus.address, metric, query)


def analysis_runs(applied: Applied) -> list[dict[str, Any]]:
    runs = applied.plane.get("analysisruns.argoproj.io", f"--namespace={NAMESPACE[STACK]}")
    found: list[dict[str, Any]] = sorted(
        runs["items"], key=lambda r: str(r["metadata"]["creationTimestamp"])
    )
    return found


def test_a_failing_analysis_aborts_the_staging_canary_and_the_run_records_it(
    analysis_on: tuple[Applied, dict[str, Any], dict[str, Any]],
    failing_canary_prometheus: Prometheus,
    real_tools: RealTools,
    kubeconfig_secret: dict[str, str],
    tmp_path: Path,
) -> None:
    applied, changes, metric = analysis_on
    plane = applied.plane
    # The series is there and fails the condition before the release starts (two scrapes).
    wait_for("Prometheus measures the canary's 503s",
             lambda: measured(failing_canary_prometheus, metric) == ("Failed", [0.0]),
             seconds=30)  # fmt: skip
    live = plane.get("analysistemplates.argoproj.io", "webshop-health",
                     f"--namespace={NAMESPACE[STACK]}")  # fmt: skip
    assert [m["name"] for m in live["spec"]["metrics"]] == ["success-rate"]
    before = stable_image(plane, STACK)
    stable_rs = status(plane, STACK)["stableRS"]
    runs_before = len(analysis_runs(applied))

    release = digest("staging-fails-its-analysis")
    staging = Release(tmp_path, STACK, real_tools, kubeconfig_secret[STACK],
                      releases=(release,), variant=changes)  # fmt: skip
    result = staging.dispatch("deploy", release, "1")
    why = diagnosis(plane, STACK, result) + (
        f"\nprometheus log:\n{failing_canary_prometheus.log.read_text()[-2000:]}"
    )
    assert result.jobs["deploy"] == "failure", why
    assert result.step("deploy", "Wait until the rollout is healthy or paused") == "failure", why
    errors = result.annotations("error", "deploy")
    assert any('Metric "success-rate" assessed Failed' in e for e in errors), why

    # The controller's own AnalysisRun, and its own abort.
    runs = analysis_runs(applied)
    assert len(runs) == runs_before + 1, why
    run = runs[-1]["status"]
    assert run["phase"] == "Failed", run
    assert run["message"] == (
        'Metric "success-rate" assessed Failed due to failed (3) > failureLimit (2)'
    ), run
    (result_of_metric,) = run["metricResults"]
    assert result_of_metric["name"] == "success-rate"
    assert result_of_metric["phase"] == "Failed" and result_of_metric["failed"] == 3
    assert all(m["phase"] == "Failed" and m["value"] == "[0]"
               for m in result_of_metric["measurements"]), result_of_metric  # fmt: skip
    wait_for("traffic back on stable", lambda: weights(plane, STACK) == (0, 100), seconds=60)
    final = status(plane, STACK)
    assert final["abort"] is True and final["phase"] == "Degraded", final
    assert final["stableRS"] == stable_rs
    assert stable_image(plane, STACK) == before
    assert stable_image(plane, STACK) != f"{IMAGE}@{release}"
    said = plugin_status(plane, real_tools, STACK)
    assert said.startswith("Degraded") and "RolloutAborted" in said, said

    (record,) = staging.deployments()
    assert record["statuses"][0] == {
        "state": "failure",
        "description": "release failed; canary aborted",
    }, record["statuses"]
