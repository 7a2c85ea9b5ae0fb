"""The tools a job's ``run:`` steps call, and the first step of a job on a self-hosted runner
that checks the runner has them all.

A GitHub-hosted image carries gh, jq, curl and bash; a self-hosted runner carries what its owner
put there, and the official Actions Runner Controller image (ghcr.io/actions/actions-runner) has
no gh (actions/runner images/Dockerfile installs curl, jq, unzip, git and docker; see
components/config/runner.py). Without a check, a release on such a runner fails at its first
``gh api`` call, and its final-status step cannot record the failure either.
:func:`tools_check` fails first instead, before the job touches the deployment or the cluster,
in one line that names what is missing and docs/runners.md.

The list is derived, not written by hand: :func:`called_commands` reads each script the way bash
splits it (quotes, ``$(...)``, pipes, ``case`` patterns, redirections) and keeps the words in
command position that are not bash keywords, builtins or functions the script defines; tools an
earlier ``uses:`` step installs (kubectl by azure/setup-kubectl) are left out, since they are not
there yet when the check runs. It is a small lexer, not a bash parser: tests/test_runner_tools.py
checks that every word it finds in every ``run:`` step of the rendered workflows is a real
program, so a misread fails the test suite rather than every self-hosted release.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from components.workflows import pins
from components.workflows.model import Step
from components.workflows.pins import Action


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KEYWORDS: Final = _words(
    "if then else elif fi case esac for select while until do done in function time { } [[ ]] !"
)
_BUILTINS: Final = _words(
    "alias bg bind break builtin caller cd command compgen complete continue declare dirs "
    "disown echo enable eval exec exit export false fc fg getopts hash help history jobs kill "
    "let local logout mapfile popd printf pushd pwd read readarray readonly return set shift "
    "shopt source suspend test times trap true type typeset ulimit umask unalias unset wait "
    ": . ["
)
"""bash's builtins (``help`` in bash 5.2): the runner's bash has them, nothing to look up."""
_WORD_END: Final = frozenset(" \t\n;&|()<>")
_STARTS_COMMAND: Final = _words("then else elif do { ! if while until time")
"""Keywords after which the next word is a command again."""

PROVIDED_BY: Final[Mapping[Action, tuple[str, ...]]] = {pins.SETUP_KUBECTL: ("kubectl",)}
"""Programs a pinned action puts on the PATH for the steps after it."""

ALWAYS_NEEDED: Final = ("bash",)
"""Every ``run:`` step's shell (the workflows set ``defaults.run.shell: bash``)."""


def _skip_quoted(text: str, start: int, quote: str, found: list[str]) -> int:
    """Index after the closing ``quote``; commands in a double-quoted ``$(...)`` are read."""
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return index + 1
        if quote == '"' and text.startswith("$(", index) and not text.startswith("$((", index):
            index = _read(text, index + 2, found, closing=")")
            continue
        index += 1
    return index


def _skip_braces(text: str, start: int, found: list[str]) -> int:
    """Index after the ``}`` closing a ``${...}`` or the ``))`` closing a ``$((...))``; a
    ``$(...)`` inside is read as commands."""
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if depth and text.startswith("$(", index) and not text.startswith("$((", index):
            index = _read(text, index + 2, found, closing=")")
            continue
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def _read(text: str, start: int, found: list[str], closing: str = "") -> int:
    """Read commands from ``start`` until ``closing`` (or the end); return the index after it."""
    index = start
    command_position = True
    redirect_target = False
    heredoc: str | None = None
    case_words = False  # after `case WORD`: until `in`
    patterns = False  # a case pattern list: until `)`
    while index < len(text):
        char = text[index]
        if closing and char == closing and not patterns:
            return index + 1
        if char == "\\" and text.startswith("\\\n", index):
            index += 2
            continue
        if char in " \t":
            index += 1
            continue
        if char == "\n" and heredoc is not None:
            # The body is read as commands: the one here-document of these scripts is a
            # kubectl credential plugin, a script the job runs later (kubeconfig_oidc.sh).
            body_start = index + 1
            end = body_start
            while end < len(text):
                line_end = text.find("\n", end)
                line_end = len(text) if line_end < 0 else line_end
                if text[end:line_end].strip() == heredoc:
                    break
                end = line_end + 1
            _read(text[body_start:end], 0, found)
            heredoc, command_position = None, True
            index = text.find("\n", end)
            index = len(text) if index < 0 else index
            continue
        if char == "\n" or char == ";":
            if text.startswith(";;", index):
                patterns, index = True, index + 2
                continue
            command_position, index = True, index + 1
            continue
        if patterns and char == "|":
            index += 1
            continue
        if patterns and char == ")":
            patterns, command_position, index = False, True, index + 1
            continue
        if text.startswith("<<", index) and not text.startswith("<<<", index):
            index += 2
            index += text[index] == "-"
            delimiter_start = index
            while index < len(text) and text[index] not in " \t\n;&|()<>":
                index += 1
            heredoc = text[delimiter_start:index].strip("'\"")
            continue
        if char in "&|":
            command_position, index = True, index + 1
            continue
        if char == "(":
            command_position, index = True, index + 1
            continue
        if char == ")":
            index += 1
            continue
        if char in "<>":
            while index < len(text) and text[index] in "<>&":
                index += 1
            redirect_target = True
            continue
        if char == "#":
            while index < len(text) and text[index] != "\n":
                index += 1
            continue
        # A word: read it whole (quotes and expansions included).
        word_start = index
        plain = True
        while index < len(text) and text[index] not in _WORD_END:
            if text[index] in "'\"":
                plain = False
                index = _skip_quoted(text, index + 1, text[index], found)
            elif text.startswith("$((", index):
                plain = False
                index = _skip_braces(text, index + 1, found)
            elif text.startswith("$(", index):
                plain = False
                index = _read(text, index + 2, found, closing=")")
            elif text.startswith("${", index):
                plain = False
                index = _skip_braces(text, index + 1, found)
            else:
                if text[index] == "$":
                    plain = False
                index += 1
        word = text[word_start:index]
        if patterns:
            patterns = word != "esac"
            command_position = not patterns
            continue
        if case_words:
            case_words = word != "in"
            patterns = not case_words
            continue
        if redirect_target:
            redirect_target = False
            continue
        if not command_position:
            continue
        if index < len(text) and text[index] == ")" and closing != ")":
            command_position = True  # a case pattern: `Rollout)`
            index += 1
            continue
        if text.startswith("()", index):
            found.append(f"function:{word}")
            command_position = False
            continue
        if plain and "=" in word and word.split("=", 1)[0].removesuffix("+").isidentifier():
            if word.endswith("=") and text.startswith("(", index):
                index = _skip_braces(text, index, found)  # an array: name=( words )
            continue  # an assignment before the command
        if word in _STARTS_COMMAND:
            continue
        command_position = False
        if word == "case":
            case_words = True
            continue
        if word in ("for", "select"):
            continue  # the next words are a name and a list; `do` follows
        if plain and word not in _KEYWORDS:
            found.append(word)
    return index


def called_commands(script: str) -> tuple[str, ...]:
    """The programs ``script`` runs, in first-call order, without bash's own words and the
    functions it defines."""
    found: list[str] = []
    _read(script, 0, found)
    functions = {word.removeprefix("function:") for word in found if word.startswith("function:")}
    out: list[str] = []
    for word in found:
        if word.startswith("function:") or word in functions or word in _BUILTINS:
            continue
        if word not in out:
            out.append(word)
    return tuple(out)


def needed_tools(steps: Iterable[Step]) -> tuple[str, ...]:
    """What a job's steps call that the runner itself must carry, sorted: bash, and each
    program a ``run:`` step calls that no earlier ``uses:`` step installs."""
    installed: set[str] = set()
    needed: set[str] = set(ALWAYS_NEEDED)
    for step in steps:
        if step.uses is not None:
            installed.update(PROVIDED_BY.get(step.uses, ()))
        if step.run is not None:
            needed.update(tool for tool in called_commands(step.run) if tool not in installed)
    return tuple(sorted(needed))


TOOLS_CHECK_SCRIPT: Final = """\
missing=()
for tool in $TOOLS; do
  command -v "$tool" > /dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "::error::this self-hosted runner lacks ${missing[*]}, which this job's steps call (it needs: $TOOLS); use a runner image that has them (docs/runners.md)"
  exit 1
fi
"""
"""Kept in Python rather than scripts/: it is the one step whose own words are not checked."""


def tools_check(steps: tuple[Step, ...]) -> Step:
    """The first step of a job on a self-hosted runner: every tool ``steps`` call is there."""
    return Step(
        name="Check the runner has the tools this job calls",
        run=TOOLS_CHECK_SCRIPT,
        env={"TOOLS": " ".join(needed_tools(steps))},
    )


def with_tools_check(self_hosted: bool, steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """``steps``, led by :func:`tools_check` on a self-hosted runner; as they are otherwise
    (a GitHub-hosted image has every tool, and its renders stay unchanged)."""
    return (tools_check(steps), *steps) if self_hosted else steps
