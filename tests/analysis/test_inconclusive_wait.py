"""The deploy workflow's wait aborts a canary whose analysis is Inconclusive.

Argo Rollouts pauses, not aborts, a Rollout whose background AnalysisRun ends Inconclusive
(rollout/analysis.go ``setPauseOrAbort``, v1.8.3): status.phase ``Paused`` with a pause
condition of reason ``InconclusiveAnalysisRun``, and a paused Rollout never reaches its progress
deadline. The wait (components/workflows/common.py WAIT_HEALTHY) must therefore fail at once,
so that the job's abort step sends traffic back, instead of waiting out its whole timeout.

``kubectl`` here is a fake: a script that prints a Rollout object as ``kubectl get rollout
--output json`` does (the fields read are those of the Rollout CRD at v1.8.3). The reason
the fake prints is the controller's own constant, read from its source at the pinned version
(the Go module proxy), so a misspelt reason in the script fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from components.workflows.common import (
    INCONCLUSIVE_PAUSE_REASON,
    READ_FAILURES_TOLERATED,
    WAIT_HEALTHY,
)
from tests.cluster.plane import go_module_dir

pytestmark = pytest.mark.subprocess


def _rollout(pause_reason: str, step: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "webshop", "generation": 3},
        "spec": {
            "strategy": {
                "canary": {
                    "steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"pause": {}}]
                }
            }
        },
        "status": {
            "observedGeneration": "3",
            "phase": "Paused",
            "currentStepIndex": step,
            "controllerPause": True,
            "pauseConditions": [{"reason": pause_reason, "startTime": "2026-01-01T00:00:00Z"}],
        },
    }


def _wait(
    tmp_path: Path, rollout: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], float]:
    (tmp_path / "rollout.json").write_text(json.dumps(rollout))
    kubectl = tmp_path / "bin" / "kubectl"
    kubectl.parent.mkdir(exist_ok=True)
    kubectl.write_text(f"#!/bin/sh\ncat '{tmp_path / 'rollout.json'}'\n")
    kubectl.chmod(0o755)
    env = {
        "PATH": f"{kubectl.parent}:{os.environ['PATH']}",
        "WORKLOAD_KIND": "Rollout",
        "WORKLOAD_NAME": "webshop",
        "NAMESPACE": "webshop-prod",
        "TIMEOUT_SECONDS": "60",
        "PROMOTED_FROM": "",
        "ACCEPT_PAUSE": "true",
        "READ_FAILURES_TOLERATED": str(READ_FAILURES_TOLERATED),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", WAIT_HEALTHY],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    return done, time.monotonic() - started


def test_the_reason_is_the_controllers_own() -> None:
    """Argo Rollouts v1.8.3 (the app version of the platform's chart 2.40.5) names the pause."""
    types = go_module_dir("github.com/argoproj/argo-rollouts", "v1.8.3") / (
        "pkg/apis/rollouts/v1alpha1/types.go"
    )
    declared = re.search(
        r'PauseReasonInconclusiveAnalysis\s+PauseReason\s*=\s*"([^"]+)"', types.read_text()
    )
    assert declared is not None
    assert declared.group(1) == INCONCLUSIVE_PAUSE_REASON
    assert f'.reason == "{INCONCLUSIVE_PAUSE_REASON}"' in WAIT_HEALTHY


def test_an_inconclusive_analysis_fails_the_wait_at_once(tmp_path: Path) -> None:
    done, seconds = _wait(tmp_path, _rollout(INCONCLUSIVE_PAUSE_REASON, 1))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "analysis is inconclusive" in done.stdout
    assert seconds < 10  # not the 60s timeout
    assert "inconclusive" in (tmp_path / "summary").read_text()


def test_a_manual_pause_still_waits_for_a_person(tmp_path: Path) -> None:
    done, _ = _wait(tmp_path, _rollout("CanaryPauseStep", 2))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "state=paused" in (tmp_path / "output").read_text()
