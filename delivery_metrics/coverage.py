"""Line coverage from the CI run's ``coverage-<package>`` artifacts (zip archives).

Each archive holds what the test job wrote to the coverage directory. Istanbul's json-summary
(``coverage-summary.json``, Jest's ``--coverageReporters=json-summary``) is read when present;
otherwise ``lcov.info`` (Jest's default ``lcov`` reporter), summing ``LH`` (lines hit) and ``LF``
(lines found) over its records. Packages are added up line by line, so a large package weighs
more than a small one, as it does in the code base.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable

ARTIFACT_PREFIX = "coverage-"


def lines_from_summary(text: str) -> tuple[int, int]:
    """(covered, total) lines from an Istanbul ``coverage-summary.json``."""
    lines = json.loads(text)["total"]["lines"]
    return int(lines["covered"]), int(lines["total"])


def lines_from_lcov(text: str) -> tuple[int, int]:
    """(covered, total) lines from an ``lcov.info`` tracefile."""
    covered = total = 0
    for line in text.splitlines():
        if line.startswith("LH:"):
            covered += int(line[3:])
        elif line.startswith("LF:"):
            total += int(line[3:])
    return covered, total


def lines_from_archive(data: bytes) -> tuple[int, int] | None:
    """(covered, total) of one artifact archive, or None when it holds no coverage summary."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        summaries = [n for n in names if n.rsplit("/", 1)[-1] == "coverage-summary.json"]
        if summaries:
            return _add(lines_from_summary(archive.read(n).decode()) for n in summaries)
        tracefiles = [n for n in names if n.rsplit("/", 1)[-1] == "lcov.info"]
        if tracefiles:
            return _add(lines_from_lcov(archive.read(n).decode()) for n in tracefiles)
    return None


def _add(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    covered = total = 0
    for c, t in pairs:
        covered += c
        total += t
    return covered, total
