"""Where a value in a rendered workflow comes from, named by step and job, not by id.

The exact expressions are in the snapshots (tests/snapshots/); a test that asks "does the
rollback set the image the stable step recorded?" asks :func:`source` instead of comparing
``${{ steps.stable.outputs.image }}``, so it checks the wiring (the id names a step of that job,
the output is one the step writes, a ``needs`` output is declared by a job the reader needs)
and survives a renamed id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_REF: Final = re.compile(
    r"^\$\{\{ (?:steps\.(?P<step>[A-Za-z0-9_-]+)\.(?:outputs\.(?P<output>[A-Za-z0-9_-]+)|(?P<outcome>outcome))"
    r"|needs\.(?P<job>[A-Za-z0-9_-]+)\.outputs\.(?P<job_output>[A-Za-z0-9_-]+)) \}\}$"
)


def source(workflow: Mapping[str, Any], job_id: str, value: str) -> str:
    """``step <name>: output <o>``, ``step <name>: outcome``, or ``job <id>: output <o> <- ...``
    (followed to the step that writes it). Fails on anything that is not one reference, on an id
    no step of the job has, on an output a run step never writes, and on a job not in needs."""
    match = _REF.match(value)
    assert match is not None, f"not one step or job reference: {value!r}"
    job = workflow["jobs"][job_id]
    if match["job"] is not None:
        needed = match["job"]
        assert needed in job.get("needs", []), f"{job_id} reads {needed}, which it does not need"
        outputs = workflow["jobs"][needed].get("outputs", {})
        name = match["job_output"]
        assert name in outputs, f"job {needed} declares no output {name}"
        return f"job {needed}: output {name} <- {source(workflow, needed, outputs[name])}"
    (step,) = [s for s in job["steps"] if s.get("id") == match["step"]]
    if match["outcome"] is not None:
        return f"step {step['name']}: outcome"
    name = match["output"]
    if "run" in step:
        assert f"{name}=" in step["run"], f"step {step['name']!r} never writes output {name}"
    return f"step {step['name']}: output {name}"
