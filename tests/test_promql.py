"""The canary's success-rate PromQL, run by promtool on synthetic series.

Three situations the analysis must tell apart: a healthy canary (passes), a burst of 5xx (fails)
and no data at all, whether nothing is scraped or nothing is requested (fails: a canary that
cannot be measured is not promoted). promtool comes from Debian's ``prometheus`` package, which
.ci/run installs; a missing promtool fails this test rather than skipping it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from components.workload import success_condition
from render.tree import kubernetes_objects
from tests.conftest import real_tool, rendered

NAMESPACE = "webshop-prod"
CANARY = "webshop-canary"


def _promtool() -> str:
    return real_tool("promtool", install="apt-get install -y prometheus (make test does this)")


def _success_rate_metric() -> dict[str, Any]:
    (template,) = [
        o for o in kubernetes_objects(rendered("prod")).values() if o["kind"] == "AnalysisTemplate"
    ]
    return next(m for m in template["spec"]["metrics"] if m["name"] == "success-rate")


def _query() -> str:
    query = _success_rate_metric()["provider"]["prometheus"]["query"]
    assert isinstance(query, str)
    return query.replace("{{args.namespace}}", NAMESPACE).replace("{{args.canary-service}}", CANARY)


def _series(status: str, per_minute: int) -> dict[str, str]:
    labels = f'namespace="{NAMESPACE}",service="{CANARY}",status="{status}"'
    return {"series": f"http_requests_total{{{labels}}}", "values": f"0+{per_minute}x10"}


def _case(series: list[dict[str, str]], expected: float) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {
                "expr": _query(),
                "eval_time": "5m",
                "exp_samples": [{"labels": "{}", "value": expected}],
            }
        ],
    }


def _run(tmp_path: Path, cases: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "success-rate.test.yaml"
    tests.write_text(yaml.safe_dump({"rule_files": [], "tests": cases}))
    return subprocess.run(
        [_promtool(), "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )


def test_success_rate_is_high_when_healthy_low_on_5xx_and_zero_without_data(
    tmp_path: Path,
) -> None:
    cases = [
        _case([_series("200", 100)], 1),  # healthy
        _case([_series("200", 60), _series("503", 60)], 0.5),  # 5xx burst
        _case([], 0),  # nothing scraped: no series at all
        _case([_series("200", 0), _series("503", 0)], 0),  # scraped, but no requests (0/0)
    ]
    result = _run(tmp_path, cases)
    assert result.returncode == 0, result.stdout + result.stderr
    threshold = float(_success_rate_metric()["successCondition"].rsplit(">=", 1)[1])
    assert threshold == 0.95
    assert 1 >= threshold > 0.5 > 0


def test_promtool_check_can_fail(tmp_path: Path) -> None:
    # The same no-data case, expecting the old behaviour (pass): promtool must say no.
    result = _run(tmp_path, [_case([], 1)])
    assert result.returncode != 0


def test_success_condition_rejects_empty_and_nan_results() -> None:
    condition = success_condition(0.95)
    assert condition == "len(result) > 0 && !isNaN(result[0]) && result[0] >= 0.95"
    assert _success_rate_metric()["successCondition"] == condition
