"""How Argo Rollouts judges a Prometheus metric of an AnalysisTemplate, for the Prometheus tier.

A fake: the Argo Rollouts controller needs a cluster to run an AnalysisRun, and this tier has
only Prometheus and the app. It reproduces, for the metrics this project renders, the behaviour
of argo-rollouts v1.8.3 (the controller of Helm chart 2.40.5, the platform's default), read from
its source:

- metricproviders/prometheus/prometheus.go (``Run``, ``processResponse``): the query runs at the
  measurement time through Prometheus' HTTP API; a vector result becomes ``result``, a list of
  its sample values (so ``result[0]`` is the first sample; an empty vector is an empty list); a
  failed query is a measurement in phase Error.
- utils/evaluate/evaluate.go (``EvaluateResult``): with both conditions set, failureCondition
  true is Failed, successCondition true is Successful, neither is Inconclusive; an expression
  that fails to evaluate is Error. Conditions are expr-lang expressions with ``isNaN``; this fake
  evaluates the subset the render emits (``len``, indexing, ``isNaN``, comparisons, ``&&``,
  ``||``, ``!``) and refuses anything else, so a new construct in the render fails loudly here.
- analysis/analysis.go (``assessMetricFailureInconclusiveOrError``): failed > failureLimit is
  Failed, inconclusive > inconclusiveLimit is Inconclusive, consecutive errors >
  consecutiveErrorLimit (default 4) is Error, the later check winning; otherwise Running.
- rollout/analysis.go (``setPauseOrAbort``): a Failed or Error run aborts the Rollout, an
  Inconclusive run pauses it (the deploy workflow then aborts it: components/workflows/common.py).
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

SUCCESSFUL: Final = "Successful"
FAILED: Final = "Failed"
INCONCLUSIVE: Final = "Inconclusive"
ERROR: Final = "Error"
RUNNING: Final = "Running"

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>len|isNaN|result)|(?P<op>&&|\|\||>=|<=|==|!=|[<>!()\[\]]))"
)
_PYTHON_OP: Final = {"&&": " and ", "||": " or ", "!": " not "}


def _to_python(condition: str) -> str:
    out: list[str] = []
    position = 0
    while position < len(condition):
        match = _TOKEN.match(condition, position)
        if match is None or match.end() == position:
            raise ValueError(f"condition outside the supported subset: {condition!r}")
        token = match.group("number") or match.group("name") or match.group("op") or ""
        out.append(_PYTHON_OP.get(token, token))
        position = match.end()
    return "".join(out)


def condition_holds(condition: str, result: Sequence[float]) -> bool:
    """Evaluate one of the render's conditions on a measurement's ``result``; raises on error
    (an index out of range, as expr-lang does)."""
    names = {"len": len, "isNaN": math.isnan, "result": list(result)}
    value = eval(_to_python(condition), {"__builtins__": {}}, names)
    return bool(value)


def measurement_phase(metric: dict[str, Any], result: Sequence[float]) -> str:
    """``EvaluateResult`` for a metric with a success and a failure condition."""
    try:
        failed = condition_holds(metric["failureCondition"], result)
        succeeded = condition_holds(metric["successCondition"], result)
    except (IndexError, TypeError):
        return ERROR
    if failed:
        return FAILED
    if succeeded:
        return SUCCESSFUL
    return INCONCLUSIVE


def query(address: str, promql: str, timeout: float = 5.0) -> list[float]:
    """Run ``promql`` now through Prometheus' HTTP API (/api/v1/query); the vector's values."""
    url = f"{address}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise RuntimeError(f"query failed: {body}")
    data = body["data"]
    if data["resultType"] != "vector":
        raise RuntimeError(f"unexpected result type {data['resultType']}")
    return [float(sample["value"][1]) for sample in data["result"]]


def measure(address: str, metric: dict[str, Any], promql: str) -> tuple[str, list[float]]:
    """One measurement: the phase and the values (Error, no values, when the query fails)."""
    try:
        values = query(address, promql)
    except (OSError, urllib.error.URLError, RuntimeError):
        return ERROR, []
    return measurement_phase(metric, values), values


@dataclass
class MetricRun:
    """The counters Argo keeps per metric of an AnalysisRun (v1alpha1.MetricResult)."""

    metric: dict[str, Any]
    failed: int = 0
    inconclusive: int = 0
    consecutive_error: int = 0
    successful: int = 0

    def add(self, phase: str) -> None:
        if phase == ERROR:
            self.consecutive_error += 1
            return
        self.consecutive_error = 0
        if phase == FAILED:
            self.failed += 1
        elif phase == INCONCLUSIVE:
            self.inconclusive += 1
        else:
            self.successful += 1

    @property
    def phase(self) -> str:
        """``assessMetricFailureInconclusiveOrError``, then Running."""
        phase = RUNNING
        if self.failed > int(self.metric.get("failureLimit", 0)):
            phase = FAILED
        if self.inconclusive > int(self.metric.get("inconclusiveLimit", 0)):
            phase = INCONCLUSIVE
        if self.consecutive_error > int(self.metric.get("consecutiveErrorLimit", 4)):
            phase = ERROR
        return phase


def rollout_reaction(run_phase: str) -> str:
    """``setPauseOrAbort``: what the Rollout does with a finished background analysis."""
    if run_phase in (FAILED, ERROR):
        return "abort"
    if run_phase == INCONCLUSIVE:
        return "pause"
    return "continue"


def duration_seconds(value: str) -> int:
    """An Argo duration as the render writes it (``90s``, ``2m``)."""
    match = re.fullmatch(r"(\d+)(s|m|h)", value)
    if match is None:
        raise ValueError(f"unsupported duration {value!r}")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
