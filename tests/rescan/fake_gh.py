"""``gh`` for the rescan scenarios: the artifacts list, then tests/pipeline/fakes.py's ``gh``.

Run as ``python fake_gh.py STATE_DIR ARGS...`` (the scenario's ``bin/gh``). It answers
``gh api --method GET repos/OWNER/NAME/actions/artifacts -f name=NAME`` from the artifacts the
stub upload-artifact stored (``STATE_DIR/artifacts/<run id>/<name>/``), as GitHub's REST API
"List artifacts for a repository" does (docs.github.com, checked 2026-12: ``artifacts`` newest
first, each with ``name``, ``expired`` and ``workflow_run`` {``id``, ``repository_id``,
``head_repository_id``, ``head_branch``}: here every run is this repository's, on ``develop``,
the scenarios' default branch); artifacts of the running run are
not listed yet, as GitHub lists an artifact only once its run uploaded it. Everything else goes
to fakes.py (deployments, statuses, CI runs), whose records the scenario seeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FAKES = Path(__file__).resolve().parents[1] / "pipeline" / "fakes.py"


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
    return None


def main(argv: list[str]) -> int:
    state, args = Path(argv[0]), argv[1:]
    endpoint = next((a for a in args if a.startswith("repos/")), "")
    if not endpoint.split("?", 1)[0].endswith("/actions/artifacts"):
        os.execv(sys.executable, [sys.executable, str(FAKES), "gh", str(state), *args])
    fields = dict(
        args[i + 1].split("=", 1) for i, a in enumerate(args) if a in ("-f", "-F", "--field")
    )
    current = (state / "run_id").read_text().strip()
    root = state / "artifacts"
    runs = sorted(
        (int(run.name) for run in root.iterdir() if run.name != current) if root.is_dir() else (),
        reverse=True,
    )
    artifacts = [
        {
            "name": fields.get("name"),
            "expired": False,
            "workflow_run": {
                "id": run,
                "repository_id": 1,
                "head_repository_id": 1,
                "head_branch": "develop",
            },
        }
        for run in runs
        if (root / str(run) / str(fields.get("name"))).is_dir()
    ]
    with (state / "calls.jsonl").open("a") as log:
        clock = float((state / "clock").read_text())
        entry = {"tool": "gh", "argv": args, "time": clock, "endpoint": endpoint}
        log.write(json.dumps(entry) + "\n")
    answer = json.dumps({"total_count": len(artifacts), "artifacts": artifacts})
    expression = _option(args, "--jq")
    if expression is None:
        sys.stdout.write(answer)
        return 0
    done = subprocess.run(["jq", "--raw-output", expression], input=answer, text=True, check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
