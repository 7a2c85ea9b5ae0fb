"""What one run keeps for the next: per-deployment results and GitHub's validators.

The metrics job restores this file from the Actions cache before it runs and saves it after
(metrics.yml: key ``delivery-metrics-v<STATE_VERSION>-<run id>``, restored by the prefix
``delivery-metrics-v<STATE_VERSION>-``), so each run fetches only what is new:

- ``deployments``: every release record listed, as GitHub returned it, with its statuses
  (``null`` until they are read); a deployment whose statuses cannot change any more
  (:func:`delivery_metrics.source.settled`) is never asked for again, the others are asked with
  ``If-None-Match``;
- ``listed``: per environment, whether the last listing was complete (see :attr:`State.listed`);
- ``http``: the ``ETag`` and body of each JSON answer, for conditional requests (a ``304`` is
  answered from here, :mod:`delivery_metrics.budget`);
- ``commits``: the commits of each compared range (commits never change);
- ``coverage``: line coverage of each CI run looked at (``null``: the run had none);
- ``runs``: the CI runs of the span, and up to when they were listed: the next run lists only
  those created since then, less :data:`delivery_metrics.source.RERUN_GRACE` (a re-run keeps
  its run's ``created_at``, so the newest runs are read again to see their latest attempt).

A file written by another :data:`STATE_VERSION` (its shape or a definition changed), for another
repository, or that cannot be read, is ignored: the run starts afresh (and says so). Entries
not used by a run are dropped when it saves, so the file holds the windows' span only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

STATE_VERSION: Final = 1
"""Bump when the shape of the file or the meaning of a cached result changes."""


@dataclass
class State:
    repository: str
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Deployment id -> ``{"record": <deployment JSON>, "statuses": [...], "settled": bool}``."""
    http: dict[str, dict[str, str]] = field(default_factory=dict)
    """URL -> ``{"etag", "body", "link"}``."""
    commits: dict[str, list[list[str]]] = field(default_factory=dict)
    """``base...head`` (base ``-`` for none) -> ``[[sha, committer date], ...]``."""
    coverage: dict[str, list[int] | None] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``<workflow>@<branch>`` -> ``{"until": <newest created_at read>, "runs": [<run JSON>]}``."""
    listed: dict[str, bool] = field(default_factory=dict)
    """Environment -> whether its last listing of deployments reached the start of the windows'
    span. Only then is everything older than the newest kept deployment kept too, so the next
    listing may stop there; after an interrupted listing the next one reads the span again."""
    note: str = ""
    """Why a stored file was not used (empty when it was, or when there was none)."""
    used: set[str] = field(default_factory=set)
    """Keys (``d:<id>``, ``h:<url>``, ``c:<range>``, ``v:<run>``) this run read or wrote."""

    @classmethod
    def load(cls, path: Path | None, repository: str) -> State:
        if path is None or not path.is_file():
            return cls(repository)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            return cls(repository, note=f"{path} could not be read ({type(err).__name__})")
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            found = doc.get("version") if isinstance(doc, dict) else None
            return cls(repository, note=f"{path} has version {found}, not {STATE_VERSION}")
        if doc.get("repository") != repository:
            return cls(repository, note=f"{path} is for {doc.get('repository')!r}")
        return cls(
            repository,
            deployments=dict(doc.get("deployments") or {}),
            http=dict(doc.get("http") or {}),
            commits=dict(doc.get("commits") or {}),
            coverage=dict(doc.get("coverage") or {}),
            listed=dict(doc.get("listed") or {}),
            runs=dict(doc.get("runs") or {}),
        )

    def save(self, path: Path) -> None:
        """Write what this run used (atomically: a killed job leaves the old file)."""
        doc = {
            "version": STATE_VERSION,
            "repository": self.repository,
            "deployments": {k: v for k, v in self.deployments.items() if f"d:{k}" in self.used},
            "http": {k: v for k, v in self.http.items() if f"h:{k}" in self.used},
            "commits": {k: v for k, v in self.commits.items() if f"c:{k}" in self.used},
            "coverage": {k: v for k, v in self.coverage.items() if f"v:{k}" in self.used},
            "listed": self.listed,
            "runs": self.runs,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        partial.replace(path)
