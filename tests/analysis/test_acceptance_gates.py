"""Staging acceptance gates from the stack: k6 thresholds and SonarQube's quality gate.

The k6 thresholds reach k6 as its options file and the job summary compares them with what k6
measured; the summary script runs here on a results file in the format k6's ``--summary-export``
writes (grafana/k6 internal/js/summary-wrapper.js, ``oldJSONSummary``: a trend's stats by name,
a rate's share as ``value``), since k6 itself is not installed here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.workflows.deploy import K6_SUMMARY
from render.tree import tree
from tests.conftest import render_variant, rendered


def _jobs(result: Any, file: str) -> dict[str, Any]:
    jobs: dict[str, Any] = yaml.safe_load(tree(result)[f"github/workflows/{file}"])["jobs"]
    return jobs


def _step(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s["name"] == name)


def test_k6_thresholds_come_from_the_stack() -> None:
    performance = _jobs(rendered("staging"), "stage-deploy.yml")["performance"]
    options = json.loads(_step(performance, "k6 thresholds from the stack")["env"]["K6_OPTIONS"])
    assert options == {
        "thresholds": {"http_req_duration": ["p(95)<500"], "http_req_failed": ["rate<0.01"]}
    }
    flags = _step(performance, "k6 performance tests")["with"]["flags"]
    assert "--config ${{ runner.temp }}/k6-options.json" in flags
    assert "--summary-export ${{ runner.temp }}/k6-summary.json" in flags
    stricter = render_variant(
        "staging",
        {
            "cicd:deploy.tests.performanceThresholds": {
                "latencyPercentile": 99,
                "latencyMs": 300,
                "errorRate": 0.001,
            }
        },
    )
    performance = _jobs(stricter, "stage-deploy.yml")["performance"]
    options = json.loads(_step(performance, "k6 thresholds from the stack")["env"]["K6_OPTIONS"])
    assert options["thresholds"] == {
        "http_req_duration": ["p(99)<300"],
        "http_req_failed": ["rate<0.001"],
    }
    assert "p(99)" in _step(performance, "k6 performance tests")["with"]["flags"]
    # The performance job is one of the jobs the acceptance verdict waits for.
    assert "performance" in _jobs(stricter, "stage-deploy.yml")["accept"]["needs"]


def test_sonarqube_waits_for_its_quality_gate_before_anything_is_published() -> None:
    url = "https://sonar.acme.example"
    result = render_variant(
        "dev",
        {
            "cicd:pipeline.scanners.sonarqube": True,
            "cicd:pipeline.scanners.sonarqubeHostUrl": url,
            "cicd:pipeline.scanners.sonarqubeGateTimeout": "10m",
            "cicd:sonarToken": {"secure": "v1:dGVzdA=="},
        },
    )
    jobs = _jobs(result, "ci.yml")
    scan = _step(jobs["sonarqube"], "SonarQube analysis")
    assert scan["with"]["args"] == "-Dsonar.qualitygate.wait=true -Dsonar.qualitygate.timeout=600"
    assert "sonarqube" in jobs["publish"]["needs"]


def _summary(tmp_path: Path, p95: float, failed: float) -> str:
    results = {
        "metrics": {
            "http_req_duration": {"avg": 120.0, "med": 100.0, "p(90)": 200.0, "p(95)": p95},
            "http_req_failed": {"passes": 3, "fails": 997, "value": failed},
        }
    }
    (tmp_path / "k6-summary.json").write_text(json.dumps(results))
    summary = tmp_path / "summary.md"
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", K6_SUMMARY],
        env={
            "PATH": "/usr/bin:/bin",
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_STEP_SUMMARY": str(summary),
            "LATENCY_STAT": "p(95)",
            "LATENCY_MS": "500",
            "ERROR_RATE": "0.01",
        },
        check=True,
        timeout=30,
    )
    return summary.read_text()


@pytest.mark.subprocess
def test_the_job_summary_says_which_threshold_failed(tmp_path: Path) -> None:
    ok = _summary(tmp_path, 420.5, 0.003)
    assert "| http_req_duration p(95) | < 500 ms | 420.5 ms | pass |" in ok
    assert "| http_req_failed | < 0.01 | 0.003 | pass |" in ok
    slow = _summary(tmp_path, 812.25, 0.003)
    assert "| http_req_duration p(95) | < 500 ms | 812.25 ms | **FAIL** |" in slow
    assert "| http_req_failed | < 0.01 | 0.003 | pass |" in slow
