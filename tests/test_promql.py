"""The canary's success-rate PromQL, run by promtool on synthetic series.

Three situations the analysis must tell apart: a healthy canary (a high rate), a burst of 5xx (a
low rate) and no data, whether nothing is scraped (an empty result) or nothing is requested (0/0,
NaN); the AnalysisTemplate's conditions leave no data inconclusive (tests/analysis/ runs the same
queries against a real Prometheus and applies the conditions). promtool comes from Debian's
``prometheus`` package, which .ci/run installs; a missing promtool fails this test rather than
skipping it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from components.workload import failure_condition, success_condition
from render.tree import kubernetes_objects
from tests.conftest import real_tool, render_variant, rendered

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


def _series(code: str, per_minute: int, service: str = CANARY) -> dict[str, str]:
    labels = f'namespace="{NAMESPACE}",service="{service}",code="{code}"'
    return {"series": f"http_requests_total{{{labels}}}", "values": f"0+{per_minute}x10"}


def _case(series: list[dict[str, str]], expected: float | None) -> dict[str, Any]:
    """``expected`` None: no sample at all (the empty result Argo sees as no data)."""
    samples = [] if expected is None else [{"labels": "{}", "value": expected}]
    return {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [{"expr": _query(), "eval_time": "5m", "exp_samples": samples}],
    }


def _run(tmp_path: Path, cases: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "success-rate.test.yaml"
    tests.write_text(yaml.safe_dump({"rule_files": [], "tests": cases}))
    return subprocess.run(
        [_promtool(), "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )


def test_success_rate_is_high_when_healthy_low_on_5xx_and_absent_without_data(
    tmp_path: Path,
) -> None:
    cases = [
        _case([_series("200", 100)], 1),  # healthy
        _case([_series("200", 60), _series("503", 60)], 0.5),  # 5xx burst
        _case([_series("503", 60)], 0),  # only 5xx: no good series at all, still a rate of 0
        # The stable pods' 5xx (another service label) never count against the canary.
        _case([_series("200", 100), _series("503", 100, service="webshop")], 1),
        _case([], None),  # nothing scraped: no series, an empty result, not 0
    ]
    result = _run(tmp_path, cases)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_requests_is_nan_not_zero(tmp_path: Path) -> None:
    # Scraped, but nobody called the canary: 0/0. promtool (2.42) never finds NaN equal to NaN,
    # so the test asks PromQL itself: `q != bool q` is 1 exactly where q is NaN.
    case = _case([_series("200", 0), _series("503", 0)], 1)
    query = case["promql_expr_test"][0]["expr"]
    case["promql_expr_test"][0]["expr"] = f"({query}) != bool ({query})"
    healthy = _case([_series("200", 100)], 0)
    healthy["promql_expr_test"][0]["expr"] = case["promql_expr_test"][0]["expr"]
    result = _run(tmp_path, [case, healthy])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_can_fail(tmp_path: Path) -> None:
    # The no-data case, expecting the old behaviour (a 0 from `or vector(0)`): promtool says no.
    result = _run(tmp_path, [_case([], 0)])
    assert result.returncode != 0


def test_conditions_leave_empty_and_nan_results_to_neither() -> None:
    metric = _success_rate_metric()
    assert metric["successCondition"] == success_condition(0.95)
    assert metric["failureCondition"] == failure_condition(0.95)
    assert success_condition(0.95) == "len(result) > 0 && !isNaN(result[0]) && result[0] >= 0.95"
    assert failure_condition(0.95) == "len(result) > 0 && !isNaN(result[0]) && result[0] < 0.95"


def test_ingress_nginx_query_counts_only_what_nginx_sent_to_the_canary(tmp_path: Path) -> None:
    (template,) = [
        o
        for o in kubernetes_objects(
            render_variant("prod", {"cicd:canary.analysis.metrics": {"preset": "ingress-nginx"}})
        ).values()
        if o["kind"] == "AnalysisTemplate"
    ]
    metric = next(m for m in template["spec"]["metrics"] if m["name"] == "success-rate")
    query = (
        metric["provider"]["prometheus"]["query"]
        .replace("{{args.namespace}}", NAMESPACE)
        .replace("{{args.stable-ingress}}", "webshop")
    )

    def nginx(status: str, canary: str, per_minute: int) -> dict[str, str]:
        # Labels as ingress-nginx's socket collector sets them (requestTags); `canary` holds the
        # alternative upstream NGINX picked, empty for the stable one.
        labels = (
            f'namespace="{NAMESPACE}",ingress="webshop",service="webshop",status="{status}",'
            f'canary="{canary}",method="GET",path="/"'
        )
        return {
            "series": f"nginx_ingress_controller_requests{{{labels}}}",
            "values": f"0+{per_minute}x10",
        }

    upstream = f"{NAMESPACE}-{CANARY}-http"

    def case(series: list[dict[str, str]], expected: float | None) -> dict[str, Any]:
        samples = [] if expected is None else [{"labels": "{}", "value": expected}]
        return {
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [{"expr": query, "eval_time": "5m", "exp_samples": samples}],
        }

    cases = [
        # The stable version's 5xx do not count; the canary's 90 good of 120 do.
        case([nginx("503", "", 50), nginx("200", upstream, 90), nginx("500", upstream, 30)], 0.75),
        case([nginx("502", upstream, 30)], 0),  # only errors from the canary
        case([nginx("200", "", 100)], None),  # NGINX sent the canary nothing yet: no data
    ]
    result = _run(tmp_path, cases)
    assert result.returncode == 0, result.stdout + result.stderr
