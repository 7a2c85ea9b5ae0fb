"""``python -m security_rescan``: scan the digest each environment runs; report what is new.

For each GitHub environment named with ``--environment``:

1. the digest it runs: its newest deployment that carries ``payload.digest`` (the deploy
   workflows write it: components/workflows/custody.py) and whose newest status is ``success``.
   A newer deployment still in progress, or one that failed and rolled back, does not run, so
   the search goes on to the one before it;
2. the CI run that built it: the newest successful run of ci.yml on the default branch for the
   deployment's source commit (a link; "not found" where GitHub has none);
3. ``trivy image`` of ``IMAGE@DIGEST`` with CI's settings (``--severity``, ``--ignore-unfixed``,
   vulnerabilities only) and the current database (Trivy downloads it itself).

A finding is new when the previous run's state (``--state-in``, kept by the workflow as an
artifact) does not hold it; the message (``message`` output) names only new findings, with
environment, digest, package, installed and fixed version, and the CI run. A scan that fails is
an outage: a ``::warning::``, a line in the message and the summary that says the digest was not
scanned (never "no findings"), and its previous findings stay in the state so that they are not
reported again when the scanner is back. Findings never fail the run; only this program's own
errors do (a GitHub API call that fails, a state file it cannot read), with exit 1.

Everything else goes to the job summary (``--summary``) and, where ``--sarif`` is given, to one
SARIF file with one run per environment (``automationDetails.id`` ``rescan/<environment>/``, so
code scanning keeps each environment's alerts apart), written by ``trivy convert``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

STATE_VERSION: Final = 1
"""Version of the state file; a state of another version is ignored (every finding is new)."""
STATE_FILE: Final = "state.json"
DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
ERROR_LINES: Final = 5
"""How many of the scanner's last stderr lines a warning quotes."""


class RescanError(Exception):
    """This program's own failure (not a finding, not a scanner outage): exit 1."""


@dataclass(frozen=True)
class Target:
    """What one environment runs, and where it came from."""

    environment: str
    digest: str
    commit: str
    ci_run: str
    """URL of the CI run that built the image, or "" where GitHub has none."""


@dataclass(frozen=True)
class Finding:
    """One vulnerable package of one running digest."""

    environment: str
    digest: str
    vulnerability: str
    package: str
    installed: str
    fixed: str
    severity: str

    @property
    def key(self) -> str:
        return "|".join((self.environment, self.digest, self.vulnerability, self.package))


@dataclass(frozen=True)
class Outcome:
    """One environment's result: not deployed, scanned (findings) or not scanned (error)."""

    environment: str
    target: Target | None
    findings: tuple[Finding, ...] = ()
    error: str | None = None


def gh_api(*args: str) -> Any:
    """``gh api ARGS`` as JSON; a failure is this program's own error."""
    try:
        done = subprocess.run(["gh", "api", *args], capture_output=True, text=True, check=False)
    except OSError as error:
        raise RescanError(f"gh api {' '.join(args)} could not run: {error}") from error
    if done.returncode != 0:
        raise RescanError(f"gh api {' '.join(args)} failed: {done.stderr.strip()}")
    try:
        return json.loads(done.stdout or "null")
    except json.JSONDecodeError as error:
        raise RescanError(f"gh api {' '.join(args)} did not answer JSON: {error}") from error


def _payload(deployment: dict[str, Any]) -> dict[str, Any]:
    payload = deployment.get("payload")
    if isinstance(payload, str):  # GitHub returns a payload created as a string as a string
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError:
            return {}
    return payload if isinstance(payload, dict) else {}


def running_target(
    repository: str, environment: str, ci_workflow: str, branch: str
) -> Target | None:
    """The digest ``environment`` runs (see the module docstring), or None if none is healthy."""
    deployments = gh_api(
        "--method", "GET", f"repos/{repository}/deployments",
        "-f", f"environment={environment}", "-f", "per_page=100",
    )  # fmt: skip
    for deployment in deployments or []:
        payload = _payload(deployment)
        digest = str(payload.get("digest", ""))
        if not DIGEST.match(digest):
            continue
        statuses = gh_api(f"repos/{repository}/deployments/{deployment['id']}/statuses?per_page=1")
        if not statuses or statuses[0].get("state") != "success":
            continue
        commit = str(payload.get("source_commit") or deployment.get("sha") or "")
        return Target(environment, digest, commit, ci_run(repository, ci_workflow, branch, commit))
    return None


def ci_run(repository: str, ci_workflow: str, branch: str, commit: str) -> str:
    """URL of the newest successful CI run of ``commit`` on ``branch``, or ""."""
    if not commit:
        return ""
    runs = gh_api(
        "--method", "GET", f"repos/{repository}/actions/workflows/{ci_workflow}/runs",
        "-f", f"head_sha={commit}", "-f", f"branch={branch}", "-f", "status=success",
        "-f", "per_page=1",
    )  # fmt: skip
    found = (runs or {}).get("workflow_runs") or []
    if not found:
        return ""
    run = found[0]
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    return str(run.get("html_url") or f"{server}/{repository}/actions/runs/{run.get('id')}")


def scan(
    trivy: str, image: str, target: Target, severity: str, report: Path
) -> tuple[tuple[Finding, ...], str | None]:
    """Trivy's findings for ``IMAGE@DIGEST``, or an error text where the scan did not happen."""
    command = [
        trivy, "image", "--quiet", "--scanners", "vuln", "--severity", severity,
        "--ignore-unfixed", "--image-src", "remote", "--format", "json",
        "--output", str(report), f"{image}@{target.digest}",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        return (), f"trivy could not run: {error}"
    if done.returncode != 0:
        tail = " / ".join(done.stderr.strip().splitlines()[-ERROR_LINES:])
        return (), f"trivy exited {done.returncode}: {tail or 'no output'}"
    try:
        results = json.loads(report.read_text()).get("Results") or []
    except (OSError, json.JSONDecodeError, AttributeError) as error:
        return (), f"trivy wrote no readable report: {error}"
    findings = {
        finding.key: finding
        for result in results
        for vulnerability in result.get("Vulnerabilities") or []
        for finding in [
            Finding(
                environment=target.environment,
                digest=target.digest,
                vulnerability=str(vulnerability.get("VulnerabilityID", "")),
                package=str(vulnerability.get("PkgName", "")),
                installed=str(vulnerability.get("InstalledVersion", "")),
                fixed=str(vulnerability.get("FixedVersion", "")),
                severity=str(vulnerability.get("Severity", "")),
            )
        ]
    }
    return tuple(sorted(findings.values(), key=lambda f: f.key)), None


def read_state(folder: Path | None) -> set[str]:
    """Finding keys of the previous run; none on a first run or a state of another version."""
    if folder is None or not (folder / STATE_FILE).is_file():
        return set()
    try:
        data = json.loads((folder / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RescanError(
            f"the previous state {folder / STATE_FILE} is unreadable: {error}"
        ) from error
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        print(f"::notice::previous rescan state is not version {STATE_VERSION}; starting afresh")
        return set()
    return {str(key) for key in data.get("findings", [])}


def next_state(previous: set[str], outcomes: Sequence[Outcome]) -> list[str]:
    """What the next run compares with: this run's findings, plus the previous findings of every
    environment that was not scanned (an outage must not make them new again afterwards)."""
    keys = {finding.key for outcome in outcomes for finding in outcome.findings}
    for outcome in outcomes:
        if outcome.error is not None:
            keys |= {key for key in previous if key.split("|", 1)[0] == outcome.environment}
    return sorted(keys)


def _short(digest: str) -> str:
    return digest[: len("sha256:") + 12]


def message(image: str, outcomes: Sequence[Outcome], new: set[str]) -> str:
    """The channel message: new findings and outages only; "" when there is nothing to say."""
    lines: list[str] = []
    for outcome in outcomes:
        target = outcome.target
        if target is None:
            continue
        built = target.ci_run or "CI run not found"
        if outcome.error is not None:
            lines.append(
                f"- {outcome.environment} {image}@{target.digest}: NOT SCANNED ({outcome.error}); "
                "this is no all-clear"
            )
        for finding in outcome.findings:
            if finding.key in new:
                lines.append(
                    f"- {finding.environment} {image}@{finding.digest}: {finding.package} "
                    f"{finding.installed}, fixed in {finding.fixed}: {finding.vulnerability} "
                    f"({finding.severity}); built by {built}"
                )
    if not lines:
        return ""
    count = sum(1 for o in outcomes for f in o.findings if f.key in new)
    failed = sum(1 for o in outcomes if o.error is not None)
    head = f"Rescan of running images: {count} new vulnerabilit{'y' if count == 1 else 'ies'}"
    if failed:
        head += f", {failed} environment{'' if failed == 1 else 's'} not scanned"
    return "\n".join([head, *lines])


def summary(image: str, severity: str, outcomes: Sequence[Outcome], new: set[str]) -> str:
    """The job summary: every environment's state and every finding (new ones marked)."""
    out = [
        "## Rescan of running images",
        "",
        f"Image `{image}`, severities {severity}, fixed vulnerabilities only.",
        "",
        "| Environment | Digest | Result | Built by |",
        "|---|---|---|---|",
    ]
    for outcome in outcomes:
        target = outcome.target
        if target is None:
            out.append(f"| {outcome.environment} | - | no healthy deployment with a digest | - |")
            continue
        if outcome.error is not None:
            result = f"**not scanned**: {outcome.error}"
        else:
            fresh = sum(1 for f in outcome.findings if f.key in new)
            result = f"{len(outcome.findings)} finding(s), {fresh} new"
        out.append(
            f"| {outcome.environment} | `{_short(target.digest)}` | {result} | "
            f"{target.ci_run or 'not found'} |"
        )
    findings = [f for o in outcomes for f in o.findings]
    if findings:
        out += ["", "| | Environment | Package | Installed | Fixed | Vulnerability | Severity |"]
        out.append("|---|---|---|---|---|---|---|")
        for f in findings:
            mark = "new" if f.key in new else ""
            out.append(
                f"| {mark} | {f.environment} | {f.package} | {f.installed} | {f.fixed} | "
                f"{f.vulnerability} | {f.severity} |"
            )
    return "\n".join(out) + "\n"


def sarif(trivy: str, reports: dict[str, Path], out: Path) -> bool:
    """One SARIF file of every scanned environment (``trivy convert``); False where none."""
    runs: list[Any] = []
    for environment, report in reports.items():
        converted = report.with_suffix(".sarif")
        done = subprocess.run(
            [trivy, "convert", "--quiet", "--format", "sarif", "--output", str(converted), str(report)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            print(f"::warning::no SARIF for {environment}: trivy convert: {done.stderr.strip()}")
            continue
        for run in json.loads(converted.read_text()).get("runs", []):
            run["automationDetails"] = {"id": f"rescan/{environment}/"}
            runs.append(run)
    if not runs:
        return False
    document = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": runs,
    }
    out.write_text(json.dumps(document, indent=2))
    return True


def write_output(path: str | None, name: str, value: str) -> None:
    """A step output; multi-line values with a random delimiter, as GitHub documents."""
    if not path:
        return
    delimiter = f"EOF_{secrets.token_hex(8)}"
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m security_rescan", description=__doc__)
    parser.add_argument("--repository", required=True, help="owner/name")
    parser.add_argument("--image", required=True, help="image name without tag or digest")
    parser.add_argument("--environment", action="append", required=True, dest="environments")
    parser.add_argument("--severity", required=True, help="Trivy severities, e.g. CRITICAL,HIGH")
    parser.add_argument("--ci-workflow", default="ci.yml")
    parser.add_argument("--branch", required=True, help="the default branch CI builds on")
    parser.add_argument("--state-in", type=Path, help="folder of the previous run's state")
    parser.add_argument("--state-out", type=Path, required=True, help="folder for this run's state")
    parser.add_argument("--summary", help="file to append the markdown summary to")
    parser.add_argument("--output", help="GITHUB_OUTPUT: message, sarif")
    parser.add_argument("--sarif", type=Path, help="write a SARIF file of the scanned digests")
    parser.add_argument("--trivy", default="trivy")
    return parser.parse_args(argv)


def rescan(args: argparse.Namespace, work: Path) -> int:
    previous = read_state(args.state_in)
    outcomes: list[Outcome] = []
    reports: dict[str, Path] = {}
    for environment in args.environments:
        target = running_target(args.repository, environment, args.ci_workflow, args.branch)
        if target is None:
            print(f"{environment}: no healthy deployment with an image digest; nothing to scan")
            outcomes.append(Outcome(environment, None))
            continue
        report = work / f"{environment}.json"
        findings, error = scan(args.trivy, args.image, target, args.severity, report)
        if error is not None:
            print(
                f"::warning::{environment} runs {args.image}@{target.digest}, which was NOT "
                f"scanned: {error}. No result is no all-clear."
            )
        else:
            reports[environment] = report
            print(f"{environment}: {args.image}@{target.digest}: {len(findings)} finding(s)")
        outcomes.append(Outcome(environment, target, findings, error))
    new = {f.key for o in outcomes for f in o.findings} - previous
    args.state_out.mkdir(parents=True, exist_ok=True)
    state = {"version": STATE_VERSION, "findings": next_state(previous, outcomes)}
    (args.state_out / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    text = message(args.image, outcomes, new)
    write_output(args.output, "message", text)
    wrote_sarif = args.sarif is not None and sarif(args.trivy, reports, args.sarif)
    write_output(args.output, "sarif", "true" if wrote_sarif else "false")
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as out:
            out.write(summary(args.image, args.severity, outcomes, new))
    print(text or "nothing new since the last rescan")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="rescan-") as work:
            return rescan(args, Path(work))
    except RescanError as error:
        print(f"::error::rescan failed: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
