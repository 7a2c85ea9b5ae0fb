"""The sample application's npm install, cached so executed scenarios stay fast.

CI's own ``npm ci`` step runs for real in every scenario job (act copies the repository without
its git-ignored node_modules, as GitHub's checkout would). What is cached is npm's download
cache: ``build/pipeline/npm-cache``, filled once per package-lock.json (keyed by its hash) with
an online ``npm ci``; afterwards every job's install is ``npm ci`` with ``prefer-offline``
against that cache (a few seconds, no network). ``make clean`` removes it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

from render.engine import PROJECT_DIR

NPM_CACHE: Final = PROJECT_DIR / "build" / "pipeline" / "npm-cache"


def npm_env() -> dict[str, str]:
    """Environment for every npm call of a scenario: the shared cache, offline first."""
    return {
        "npm_config_cache": str(NPM_CACHE),
        "npm_config_prefer_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
    }


def warm_npm_cache(app: Path) -> None:
    """Fill the npm cache for ``app``'s package-lock.json once (online the first time)."""
    lock = (app / "package-lock.json").read_bytes()
    stamp = NPM_CACHE / f"warm-{hashlib.sha256(lock).hexdigest()[:16]}"
    if stamp.exists():
        return
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers start scenarios at the same time: one fills, the others wait.
    with (NPM_CACHE / "warm.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not stamp.exists():
            _fill(app, stamp)


def _fill(app: Path, stamp: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "app"
        shutil.copytree(app, copy, ignore=shutil.ignore_patterns("node_modules"))
        subprocess.run(
            ["npm", "ci", "--loglevel=error"],
            cwd=copy,
            env={**os.environ, **npm_env()},
            check=True,
            capture_output=True,
        )
    stamp.write_text("npm cache holds every package of this lock\n")
