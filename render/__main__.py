"""``python -m render STACK [--out DIR] [--diff REF] [--compare OTHER] [--report FILE]``.

Four subcommands share the entry point (a stack is never named like them):
``python -m render stacks`` prints the environment stacks whose files are in the project, one a
line, in chain order (first stage first; the Makefile renders them in that order), or the
chain's problem and exit 1;
``python -m render config-reference [--check] [--out FILE]`` writes docs/configuration.md from
the config models (components/config/reference.py), and ``python -m render doctor PATH``
checks an application checkout against the app contract (render/doctor.py), and ``python -m
render ci-cost [STACK...]`` prints each rendered workflow's job levels and installs
(render/ci_cost.py), and ``python -m render check-project [--stacks DIR] [--list]`` checks every
stack file of a folder together: one chain, one app, one owner per GitHub object
(render/project.py); ``python -m render repo-workflows [--check]`` writes this repository's own
workflows (.github/workflows) from the stack files' chain (render/repo_pipeline.py); ``python -m
render use-example NAME`` replaces the stack files with examples/NAME's (render/examples.py).

``--stacks DIR`` renders the stack file of DIR (an example's folder, examples/payments) with
this project's program; a platform StackReference then reads DIR/platform's stack files.

The offline render. ``--diff REF`` also renders STACK as it was at git revision REF and prints
what differs, as markdown (render/diff.py): config keys, resources added, changed (each field
``old → new``) and removed, and the rendered files. ``--compare OTHER`` does the same between
stack OTHER and STACK. ``--report FILE`` also writes that markdown to FILE, trimmed to fit a pull
request comment.

Exit codes: 0 rendered; 1 bad stack config (one line per problem, nothing written); 2 usage
(unknown stack, REF not a commit, a stack that does not render at REF).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from components.messages import escape
from render import COMMENT_BUDGET
from render.engine import PROJECT_DIR, DuplicateUrnError, Rendered, UsageError, render
from render.stackfile import StackFileError
from render.stackref import StackReferenceError, remember
from render.tree import MANIFEST, check_out_dir, tree, write

if TYPE_CHECKING:
    from render.diff import Report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors; keep that
        self.print_usage(sys.stderr)
        self.exit(2, f"render: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m render", description=__doc__)
    p.add_argument(
        "stack", help="stack name: a stage such as dev, staging or prod (reads Pulumi.STACK.yaml)"
    )
    p.add_argument(
        "--project",
        type=Path,
        default=PROJECT_DIR,
        help="Pulumi project folder (default the environments' project; platform for the "
        "per-cluster stacks nonprod and prod)",
    )
    p.add_argument(
        "--stacks",
        type=Path,
        help="folder of the stack files (default the project folder), such as examples/payments",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default build/render/STACK; build/render/platform-STACK with "
        "--project platform)",
    )
    p.add_argument("--diff", metavar="REF", help="also render STACK at git revision REF and diff")
    p.add_argument(
        "--compare", metavar="OTHER", help="also render stack OTHER and show differences"
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        type=Path,
        help="with --diff or --compare: also write the differences as markdown to FILE, "
        f"at most {COMMENT_BUDGET} characters (for a pull request comment)",
    )
    return p


def _summary(rendered: Rendered, files: dict[str, str], out: Path) -> str:
    counts = Counter(r.type for r in rendered.resources)
    lines = [f"stack {rendered.stack}: {len(rendered.resources)} resources"]
    lines += [f"  {n:3d}  {t}" for t, n in sorted(counts.items())]
    lines.append(escape(f"wrote {len(files)} files to {out}"))
    return "\n".join(lines)


def _default_out(project: Path, stack: str) -> Path:
    """build/render/STACK for the environments, build/render/<folder>-STACK for another project."""
    name = stack if project == PROJECT_DIR else f"{project.name}-{stack}"
    return PROJECT_DIR / "build" / "render" / name


def _resolve(ref: str) -> str:
    """The commit ``ref`` names in the project's git repository, or a usage error."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"--diff: {ref!r} is not a git revision")
    done = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise UsageError(f"--diff: {ref!r} is not a commit of the git repository {PROJECT_DIR}")
    return done.stdout.strip()


def _render_at(ref: str, stack: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Render ``stack`` with the program and stack files as they were at git revision ``ref``.

    Returns the file tree and the stack's config there; a stack that did not exist yet at
    ``ref`` has no files and no config, so everything in it reads as added.
    """
    # Imported here: only --diff archives a revision (issue 14 item 8: a plain render does not
    # load tarfile and its compression modules).
    import tarfile
    from io import BytesIO

    commit = _resolve(ref)
    # The project may be a folder of a larger repository: archive just that folder.
    prefix = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "rev-parse", "--show-prefix"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree_ish = f"{commit}:{prefix.rstrip('/')}" if prefix else commit
    archive = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "archive", "--format=tar", tree_ish],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="render-ref-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        root = Path(tmp)
        if not (root / f"Pulumi.{stack}.yaml").is_file():
            return {}, {}
        out = root / "_out"
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
        files = {
            str(p.relative_to(out)): p.read_text()
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != MANIFEST
        }
        from render.diff import stack_config

        return files, stack_config(stack, root)


def _reports(args: argparse.Namespace, files: dict[str, str]) -> list[Report]:
    """The --diff and --compare reports asked for."""
    if not (args.diff or args.compare):
        return []
    # Imported here: a plain render never loads the diff module (issue 14 item 8).
    from render.diff import build_report, stack_config

    reports = []
    if args.diff:
        old, old_config = _render_at(args.diff, args.stack)
        reports.append(
            build_report(
                f"Stack `{args.stack}`: `{args.diff}` → working tree",
                args.diff,
                "working-tree",
                old_config,
                stack_config(args.stack, PROJECT_DIR),
                old,
                files,
            )
        )
    if args.compare:
        other = tree(render(args.compare))
        reports.append(
            build_report(
                f"Stack `{args.compare}` → stack `{args.stack}`",
                args.compare,
                args.stack,
                stack_config(args.compare, PROJECT_DIR),
                stack_config(args.stack, PROJECT_DIR),
                other,
                files,
            )
        )
    return reports


REFERENCE_FILE: Final = PROJECT_DIR / "docs" / "configuration.md"


def config_reference(argv: list[str]) -> int:
    """Write (or with --check compare) the generated configuration reference."""
    p = _Parser(
        prog="python -m render config-reference",
        description="Write docs/configuration.md from the config models (components/config/).",
    )
    p.add_argument("--out", type=Path, default=REFERENCE_FILE, help="file to write")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the file is stale"
    )
    args = p.parse_args(argv)
    from components.config.reference import COMMAND, reference_markdown

    text = reference_markdown()
    out: Path = args.out
    if args.check:
        if not out.is_file() or out.read_text() != text:
            print(escape(f"render: {out} is stale; run {COMMAND}"), file=sys.stderr)
            return 1
        print(escape(f"{out} is up to date"))
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(escape(f"wrote {out}"))
    return 0


def doctor(argv: list[str]) -> int:
    """Check an application checkout against the app contract."""
    from render.doctor import main as doctor_main

    return doctor_main(argv)


def ci_cost(argv: list[str]) -> int:
    """Print each rendered workflow's job levels and installs (render/ci_cost.py)."""
    from render.ci_cost import main as ci_cost_main

    return ci_cost_main(argv)


def stacks(argv: list[str]) -> int:
    """Print the environment stacks of the project in chain order, one a line."""
    p = _Parser(
        prog="python -m render stacks",
        description="Print the environment stacks (Pulumi.<stage>.yaml) in chain order.",
    )
    p.add_argument(
        "--project", type=Path, default=PROJECT_DIR, help="Pulumi project folder (default this one)"
    )
    args = p.parse_args(argv)
    from components.config import ChainError, SiblingError
    from components.config.siblings import names_in_order

    try:
        names = names_in_order(args.project.resolve())
    except SiblingError as err:
        print(escape(f"render stacks: {err}"), file=sys.stderr)
        return 1
    except ChainError as err:
        print(escape(f"render stacks: Pulumi.{err.stage}.yaml: {err.message}"), file=sys.stderr)
        return 1
    for name in names:
        print(name)
    return 0


def check_project(argv: list[str]) -> int:
    """Check every stack file of a folder together (render/project.py)."""
    from render.project import main as check_project_main

    return check_project_main(argv)


def repo_workflows(argv: list[str]) -> int:
    """Write (or --check) this repository's workflows from the stack files' chain."""
    from render.repo_pipeline import main as repo_workflows_main

    return repo_workflows_main(argv)


def use_example(argv: list[str]) -> int:
    """Replace the project's stack files with an example's (render/examples.py)."""
    from render.examples import main as use_example_main

    return use_example_main(argv)


SUBCOMMANDS: Final = {
    "config-reference": config_reference,
    "doctor": doctor,
    "ci-cost": ci_cost,
    "stacks": stacks,
    "check-project": check_project,
    "repo-workflows": repo_workflows,
    "use-example": use_example,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.report and not (args.diff or args.compare):
        parser.error("--report needs --diff or --compare")
    if args.stacks and (args.diff or args.compare):
        parser.error("--diff and --compare read the project's own stack files; no --stacks")
    stacks_dir: Path | None = args.stacks.resolve() if args.stacks else None
    from components.config import ConfigError  # after sys.path holds the project

    project = args.project.resolve()
    out: Path = args.out or _default_out(project, args.stack)
    try:
        check_out_dir(out, project)
        rendered = render(args.stack, project, stacks_dir=stacks_dir)
    except UsageError as err:
        print(escape(f"render: {err}"), file=sys.stderr)
        return 2
    except (ConfigError, StackFileError) as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return 1
    except StackReferenceError as err:  # the cluster's platform stack: missing or bad config
        print(escape(f"render: {err}"), file=sys.stderr)
        return 1
    except DuplicateUrnError as err:
        for line in err.lines:
            print(escape(line), file=sys.stderr)
        return 1
    files = tree(rendered)
    write(files, out, project)
    remember(PROJECT_DIR, project, args.stack, rendered.outputs, stacks_dir)
    for warning in rendered.warnings:
        print(escape(f"warning: {warning}"), file=sys.stderr)
    print(_summary(rendered, files, out))

    try:
        reports = _reports(args, files)
        for report in reports:
            print()
            print(report.markdown(), end="")
        if args.report:
            command = " ".join(
                ["python -m render", args.stack]
                + ([f"--diff {args.diff}"] if args.diff else [])
                + ([f"--compare {args.compare}"] if args.compare else [])
            )
            more = f"the full diff is in the output of `{command}`"
            budget = COMMENT_BUDGET // len(reports)
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text("\n".join(r.markdown(budget, more) for r in reports))
    except UsageError as err:
        for line in str(err).splitlines():
            print(escape(f"render: {line}"), file=sys.stderr)
        return 2
    except (ConfigError, StackFileError, DuplicateUrnError) as err:
        for line in err.lines:
            print(escape(line) if isinstance(err, DuplicateUrnError) else line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
