"""``python -m render STACK [--out DIR] [--diff REF] [--compare OTHER]``: the offline render.

Exit codes: 0 rendered; 1 bad stack config (one line per problem, nothing written); 2 usage.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from io import BytesIO
from pathlib import Path
from typing import Any

from render.diff import file_diff, format_resource_diff, resource_diff
from render.engine import PROJECT_DIR, Rendered, UsageError, render
from render.tree import tree, write


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors; keep that
        self.print_usage(sys.stderr)
        self.exit(2, f"render: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m render", description=__doc__)
    p.add_argument("stack", help="stack name: dev, staging or prod (reads Pulumi.STACK.yaml)")
    p.add_argument("--out", type=Path, help="output folder (default build/render/STACK)")
    p.add_argument("--diff", metavar="REF", help="also render STACK at git revision REF and diff")
    p.add_argument(
        "--compare", metavar="OTHER", help="also render stack OTHER and show differences"
    )
    return p


def _summary(rendered: Rendered, files: dict[str, str], out: Path) -> str:
    counts = Counter(r.type for r in rendered.resources)
    lines = [f"stack {rendered.stack}: {len(rendered.resources)} resources"]
    lines += [f"  {n:3d}  {t}" for t, n in sorted(counts.items())]
    lines.append(f"wrote {len(files)} files to {out}")
    return "\n".join(lines)


def _render_at(ref: str, stack: str) -> dict[str, str]:
    """Render ``stack`` with the program and stack files as they were at git revision ``ref``."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "archive", "--format=tar", ref],
            check=True,
            capture_output=True,
        ).stdout
    except subprocess.CalledProcessError as err:
        raise UsageError(
            f"--diff: cannot read git revision {ref!r}: {err.stderr.decode().strip()}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="render-ref-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        out = Path(tmp) / "_out"
        done = subprocess.run(
            [sys.executable, "-m", "render", stack, "--out", str(out)],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise UsageError(
                f"--diff: stack {stack} does not render at {ref}:\n{done.stderr.strip()}"
            )
        return {
            str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()
        }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from components.config import ConfigError  # after sys.path holds the project

    out: Path = args.out or PROJECT_DIR / "build" / "render" / args.stack
    try:
        rendered = render(args.stack)
    except UsageError as err:
        print(f"render: {err}", file=sys.stderr)
        return 2
    except ConfigError as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return 1
    files = tree(rendered)
    write(files, out)
    for warning in rendered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(_summary(rendered, files, out))

    try:
        if args.diff:
            old = _render_at(args.diff, args.stack)
            resources_old = json.loads(old.get("resources.json", "[]"))
            print()
            print(f"## Stack {args.stack}: {args.diff} → working tree")
            print(
                format_resource_diff(
                    resource_diff(resources_old, json.loads(files["resources.json"])),
                    args.diff,
                    "working tree",
                )
            )
            print(file_diff(old, files, args.diff, "working-tree"), end="")
        if args.compare:
            other = render(args.compare)
            other_files = tree(other)
            print()
            print(f"## Stack {args.compare} → {args.stack}")
            print(
                format_resource_diff(
                    resource_diff(
                        json.loads(other_files["resources.json"]),
                        json.loads(files["resources.json"]),
                    ),
                    args.compare,
                    args.stack,
                )
            )
            print(file_diff(other_files, files, args.compare, args.stack), end="")
    except UsageError as err:
        print(f"render: {err}", file=sys.stderr)
        return 2
    except ConfigError as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
