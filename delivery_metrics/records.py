"""Typed records parsed from GitHub REST API JSON (documented response shapes).

Only the fields the figures need are read; everything else in a response is ignored, so a
record from any API version that keeps these fields parses. A missing required field raises
:class:`RecordError` naming the record and the field, rather than a bare ``KeyError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

Json = Mapping[str, Any]

VERDICT_STATES: Final = frozenset({"success", "failure", "error"})
"""Deployment status states that say how a deploy went; the others carry no verdict."""

FAILED_STATES: Final = frozenset({"failure", "error"})

RAN_STATES: Final = frozenset({"in_progress", "success", "failure"})
"""Statuses only a deploy job that ran writes. A release refused or cancelled at approval never
reaches them: GitHub never starts the environment job (docs.github.com, "Reviewing
deployments": a rejected job fails the workflow without running), and the pipeline's verify job
then closes its ``queued`` record with ``error`` "not deployed: deploy job <result>"
(components/workflows/custody.py NOT_DEPLOYED), or GitHub marks it ``inactive`` when a newer
deployment succeeds first (auto_inactive)."""

RESTORED_IN_JOB: Final = re.compile(
    r"rolled back to (?!.*not healthy)|canary aborted|traffic on the stable version"
)
"""Descriptions of a ``failure`` status that the deploy job writes once service is back on the
stable version (components/workflows/custody.py FINAL_STATUS): an in-job rollback whose rollout
became healthy, an automatic canary abort, an abort by a person. "the rollback ... is not
healthy" restores nothing."""

ROLLBACK_TASK: Final = "deploy:rollback"

DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
"""An image digest as the deploy workflows write it into ``payload.digest``."""


class RecordError(ValueError):
    """A GitHub record lacks a field the figures need."""


def parse_time(value: str) -> datetime:
    """GitHub's ISO 8601 timestamps (``2026-11-20T10:00:00Z``) as aware UTC datetimes."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _field(record: Json, kind: str, *path: str) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, Mapping) or node.get(key) is None:
            raise RecordError(f"{kind} {record.get('id', '?')}: missing {'.'.join(path)}")
        node = node[key]
    return node


@dataclass(frozen=True)
class WorkflowRun:
    """One CI workflow run as the list endpoint shows it: its latest attempt."""

    id: int
    run_attempt: int
    status: str
    conclusion: str | None
    event: str
    head_branch: str | None
    head_sha: str
    created_at: datetime

    @classmethod
    def from_json(cls, record: Json) -> WorkflowRun:
        return cls(
            id=int(_field(record, "workflow run", "id")),
            run_attempt=int(record.get("run_attempt") or 1),
            status=str(_field(record, "workflow run", "status")),
            conclusion=record.get("conclusion"),
            event=str(_field(record, "workflow run", "event")),
            head_branch=record.get("head_branch"),
            head_sha=str(_field(record, "workflow run", "head_sha")),
            created_at=parse_time(_field(record, "workflow run", "created_at")),
        )


@dataclass(frozen=True)
class DeploymentStatus:
    """One status of a deployment."""

    state: str
    created_at: datetime
    description: str = ""

    @classmethod
    def from_json(cls, record: Json) -> DeploymentStatus:
        return cls(
            state=str(_field(record, "deployment status", "state")),
            created_at=parse_time(_field(record, "deployment status", "created_at")),
            description=str(record.get("description") or ""),
        )


@dataclass(frozen=True)
class Deployment:
    """A deployment with all its statuses (oldest first)."""

    id: int
    sha: str
    environment: str
    created_at: datetime
    task: str
    rollback_of: int | None
    statuses: tuple[DeploymentStatus, ...]
    digest: str | None = None
    """``payload.digest``: the image digest of a release the deploy workflows recorded."""

    @property
    def is_rollback(self) -> bool:
        """A re-deploy of an earlier version made by a rollback: not a change."""
        return self.task == ROLLBACK_TASK or self.rollback_of is not None

    @property
    def is_release_record(self) -> bool:
        """A deployment the pipeline made: a release (its payload names the digest) or a
        rollback record. GitHub also creates a deployment for every job that names an
        environment (its payload is empty); counting those would count each release twice and
        every skipped or refused job as a deploy, so they are not figures."""
        return self.digest is not None or self.is_rollback

    @property
    def ran(self) -> bool:
        """The deploy job ran (see :data:`RAN_STATES`): only such a deployment is a change."""
        return any(s.state in RAN_STATES for s in self.statuses)

    @property
    def verdicts(self) -> tuple[DeploymentStatus, ...]:
        return tuple(s for s in self.statuses if s.state in VERDICT_STATES)

    @property
    def first_success(self) -> datetime | None:
        return next((s.created_at for s in self.verdicts if s.state == "success"), None)

    def failed_at(self) -> DeploymentStatus | None:
        """The first ``failure``/``error`` verdict, if any."""
        return next((s for s in self.verdicts if s.state in FAILED_STATES), None)

    def started_before(self, moment: datetime) -> datetime | None:
        """When the deploy job last went ``in_progress`` at or before ``moment``."""
        return max(
            (
                s.created_at
                for s in self.statuses
                if s.state == "in_progress" and s.created_at <= moment
            ),
            default=None,
        )

    @property
    def final_verdict(self) -> DeploymentStatus | None:
        verdicts = self.verdicts
        return verdicts[-1] if verdicts else None

    @classmethod
    def from_json(cls, record: Json, statuses: list[Json]) -> Deployment:
        parsed = sorted(
            (DeploymentStatus.from_json(s) for s in statuses), key=lambda s: s.created_at
        )
        payload = _payload(record.get("payload"))
        return cls(
            id=int(_field(record, "deployment", "id")),
            sha=str(_field(record, "deployment", "sha")),
            environment=str(_field(record, "deployment", "environment")),
            created_at=parse_time(_field(record, "deployment", "created_at")),
            task=str(record.get("task") or "deploy"),
            rollback_of=_rollback_of(payload),
            statuses=tuple(parsed),
            digest=_digest(payload),
        )


def _payload(payload: Any) -> Json:
    """The payload as a mapping; GitHub returns it as an object or as a JSON string (another
    tool's free text, or nothing, reads as an empty payload)."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload) if payload.strip() else {}
        except json.JSONDecodeError:
            return {}
    return payload if isinstance(payload, Mapping) else {}


def _rollback_of(payload: Json) -> int | None:
    value = payload.get("rollback_of")
    if isinstance(value, int | str) and str(value).isdigit():
        return int(value)
    return None


def _digest(payload: Json) -> str | None:
    value = payload.get("digest")
    return value if isinstance(value, str) and DIGEST.fullmatch(value) else None


@dataclass(frozen=True)
class Commit:
    """A commit and when it entered the branch (its committer date)."""

    sha: str
    committed_at: datetime

    @classmethod
    def from_json(cls, record: Json) -> Commit:
        return cls(
            sha=str(_field(record, "commit", "sha")),
            committed_at=parse_time(_field(record, "commit", "commit", "committer", "date")),
        )
