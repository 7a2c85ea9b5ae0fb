"""The release plan: one source for the Rollout's steps, the analysis and the workflow's timing.

The canary config (``cicd:canary``) is turned into a ``ReleasePlan`` once. The Rollout's
``strategy.canary.steps`` (workload.py), the deploy workflows' waits and job timeouts
(workflows/deploy/) and the config rules that reject plans that cannot fit (config/rules.py) all read
this plan, so a change to the steps cannot leave the workflow's timing behind.

Timing model, stated once:

- a ``setWeight`` step may take up to ``step_deadline`` seconds to scale the canary (the
  Rollout's ``progressDeadlineSeconds``; with ``progressDeadlineAbort`` Argo Rollouts aborts a
  step that takes longer, so a wait longer than that can never be needed);
- a timed pause takes exactly its duration;
- a pause without a duration is manual: a person promotes it (docs/release.md, "Release and
  rollback in prod"). It splits the plan into *segments*: the workflow that sets the image waits for the first
  segment, reports the pause and ends; the ``promote`` run waits for the next segment.

A segment's wait is the sum of its pauses plus one ``step_deadline`` per weight step, plus a
minute of polling slack. The deploy job's timeout must hold the longest segment plus the job's
own overhead (installing tools, verification, the post-deploy health check).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

POLL_SLACK_SECONDS: Final = 60
"""Polling granularity of the wait loop plus Argo's reconcile delay."""

JOB_OVERHEAD_SECONDS: Final = 300
"""Installing kubectl and cosign, verification and GitHub deployment records."""

HEALTH_ATTEMPT_SECONDS: Final = 20
"""One post-deploy health attempt: up to 10 s of curl plus 10 s of sleep."""


def duration_seconds(duration: str) -> int:
    """A config duration such as 30s, 10m or 1h, in seconds."""
    match = re.fullmatch(r"([1-9][0-9]*)(s|m|h)", duration)
    if match is None:
        raise ValueError(f"not a duration: {duration}")
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]


@dataclass(frozen=True)
class PlanStep:
    """One config step: send ``weight`` percent to the new version, then pause (seconds).

    ``pause_seconds`` None is a manual pause; a weight of 100 has no pause.
    """

    weight: int
    pause_seconds: int | None
    pause_text: str | None


@dataclass(frozen=True)
class ReleasePlan:
    """What a release does, in Argo steps and in seconds."""

    steps: tuple[PlanStep, ...]
    step_deadline_seconds: int

    def argo_steps(self) -> list[dict[str, Any]]:
        """The Rollout's ``strategy.canary.steps``: each weight, then its pause (``{}`` = manual)."""
        out: list[dict[str, Any]] = []
        for step in self.steps:
            out.append({"setWeight": step.weight})
            if step.weight < 100:
                out.append({"pause": {"duration": step.pause_text} if step.pause_text else {}})
        return out

    def segments(self) -> tuple[tuple[PlanStep, ...], ...]:
        """Steps between manual pauses; a manual pause ends its segment."""
        segments: list[tuple[PlanStep, ...]] = []
        current: list[PlanStep] = []
        for step in self.steps:
            current.append(step)
            if step.weight < 100 and step.pause_seconds is None:
                segments.append(tuple(current))
                current = []
        segments.append(tuple(current))
        return tuple(segment for segment in segments if segment)

    def segment_seconds(self, segment: Sequence[PlanStep]) -> int:
        pauses = sum(step.pause_seconds or 0 for step in segment)
        return pauses + len(segment) * self.step_deadline_seconds + POLL_SLACK_SECONDS

    @property
    def wait_seconds(self) -> int:
        """How long one workflow run waits for the Rollout: its longest segment."""
        return max((self.segment_seconds(seg) for seg in self.segments()), default=0)

    @property
    def has_manual_pause(self) -> bool:
        return any(step.weight < 100 and step.pause_seconds is None for step in self.steps)

    @property
    def rollback_seconds(self) -> int:
        """A rollback inside ``rollbackWindow`` skips the steps: one scale-up, no pauses."""
        return self.step_deadline_seconds + POLL_SLACK_SECONDS


def job_seconds_needed(wait_seconds: int, rollback_seconds: int, health_retries: int) -> int:
    """The deploy job's budget: overhead, the wait, the health check and a possible rollback."""
    return (
        JOB_OVERHEAD_SECONDS
        + wait_seconds
        + health_retries * HEALTH_ATTEMPT_SECONDS
        + rollback_seconds
    )
