"""Fake command-line tools and stub-action bodies for executed pipeline scenarios.

Run as ``python fakes.py TOOL STATE_DIR ARGS...``; the harness writes one tiny wrapper per tool
into the scenario's ``bin/`` (first on PATH), so a workflow's ``kubectl``, ``curl``, ``sleep``...
land here. Everything a fake knows comes from ``STATE_DIR``:

- ``scenario.json``: the truth the scenario sets (HTTP answers, exit codes, analysis failures);
- ``clock``: the one simulated clock (epoch seconds) that ``sleep`` advances and ``date`` reads;
- ``kube.json``: the cluster's objects, changed by ``kubectl`` and progressed by the clock;
- ``calls.jsonl``: every call of every fake, in order (tool, argv, and tool-specific facts);
- ``artifacts/<run>/<name>/``: what the stub upload-artifact stored.

Parallel jobs call fakes at the same time: each call holds ``lock`` while it runs, so the files
stay consistent; simulated waits of parallel jobs therefore add up on the one clock (a scenario
asserts on order and outcomes, never on parallel wall time).

What the fake kubectl may claim: that a workflow's scripts call kubectl as intended and react
to what it answers (exit codes, transient errors, a simulated canary's status on the simulated
clock). What it does not claim, and what moved to the ``cluster`` tier (tests/cluster/, the real
kubectl 1.36 and ``kubectl-argo-rollouts`` v1.8.3 against a real API server and the real Argo
Rollouts controller): that the API server admits those calls with the deployer's RBAC and
admission policy, that a Deployment rolls out to Ready pods, that the controller moves a canary
through its steps, stops at a manual pause, continues it on promote, sends traffic back to
stable on abort or on a cancelled run, and treats a rollback within ``rollbackWindow`` as a fast
one (tests/cluster/test_workflows.py runs dev-deploy.yml, stage-deploy.yml and prod-deploy.yml
with act so; test_canary.py and test_deployer.py run their step scripts directly).

Decisions: fakes fail the way the real tool fails (exit codes, the stderr line a script might
grep), because the point is to find the places where a workflow mishandles a failure. A URL no
rule matches fails like an offline host (curl exit 6), so no scenario reaches the network by
accident. Stubbed actions run their logic here too (``action-<name>`` tools) so they stay typed.
"""

from __future__ import annotations

import fcntl
import fnmatch
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

JsonObj = dict[str, Any]

FAKE_TOOLS = (
    "kubectl",
    "curl",
    "cosign",
    "docker",
    "trivy",
    "k6",
    "snyk",
    "npx",
    "sleep",
    "date",
    "gh",
)
"""The commands the harness puts first on PATH."""


class State:
    """The scenario directory shared by every fake call of one scenario."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scenario: JsonObj = json.loads((root / "scenario.json").read_text())

    # -- clock ------------------------------------------------------------------------------
    def now(self) -> float:
        return float((self.root / "clock").read_text())

    def advance(self, seconds: float) -> None:
        (self.root / "clock").write_text(repr(self.now() + seconds))

    # -- records ----------------------------------------------------------------------------
    def record(self, tool: str, argv: list[str], **facts: Any) -> None:
        entry = {"tool": tool, "argv": argv, "time": self.now(), **facts}
        with (self.root / "calls.jsonl").open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def exit_code(self, tool: str, argv: list[str]) -> int:
        """Scenario-chosen exit code: a ``flaky`` rule's failing call (1), else the first
        ``exit_codes`` rule whose ``match`` is in the joined argv."""
        joined = " ".join(argv)
        if self._flaky_call_fails(tool, joined):
            return 1
        for rule in self.scenario.get("exit_codes", {}).get(tool, []):
            if rule["match"] in joined:
                return int(rule["code"])
        return 0

    def _flaky_call_fails(self, tool: str, joined: str) -> bool:
        """Counts the calls each ``flaky`` rule matches (``flaky-counts.json``); true when this
        call's number (1-based) is one the rule lists as failing."""
        rules = [r for r in self.scenario.get("flaky", {}).get(tool, []) if r["match"] in joined]
        if not rules:
            return False
        path = self.root / "flaky-counts.json"
        counts: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
        fails = False
        for rule in rules:
            key = f"{tool} {rule['match']}"
            counts[key] = counts.get(key, 0) + 1
            fails = fails or counts[key] in rule["calls"]
        path.write_text(json.dumps(counts))
        return fails

    # -- cluster ----------------------------------------------------------------------------
    def kube(self) -> list[JsonObj]:
        objects: list[JsonObj] = json.loads((self.root / "kube.json").read_text())
        return objects

    def save_kube(self, objects: list[JsonObj]) -> None:
        (self.root / "kube.json").write_text(json.dumps(objects, indent=2))


def _err(message: str) -> None:
    print(message, file=sys.stderr)


# ------------------------------------------------------------------------------------------
# sleep / date on the simulated clock
# ------------------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)([smhd]?)", text)
    if match is None:
        raise SystemExit(f"sleep: invalid time interval '{text}'")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def fake_sleep(state: State, argv: list[str]) -> int:
    total = sum(_seconds(arg) for arg in argv)
    state.record("sleep", argv, seconds=total)
    state.advance(total)
    return 0


def fake_date(state: State, argv: list[str]) -> int:
    """GNU date, at the simulated time unless the caller names a date with -d."""
    has_date = any(a in ("-d", "--date") or a.startswith("--date=") for a in argv)
    args = argv if has_date else [f"--date=@{int(state.now())}", *argv]
    return subprocess.run(["/bin/date", *args], check=False).returncode


# ------------------------------------------------------------------------------------------
# curl
# ------------------------------------------------------------------------------------------

_CURL_VALUE_OPTIONS = {
    "-o": "output",
    "--output": "output",
    "-w": "write_out",
    "--write-out": "write_out",
    "--retry": "retry",
    "--retry-delay": "retry_delay",
    "--retry-max-time": None,
    "-m": None,
    "--max-time": None,
    "--connect-timeout": None,
    "-H": "header",
    "--header": "header",
    "-d": "data",
    "--data": "data",
    "--data-raw": "data",
    "--data-binary": "data",
    "-X": "method",
    "--request": "method",
    "-u": "user",
    "--user": "user",
    "-A": None,
    "--user-agent": None,
    # SMTP (scripts/notify_email.sh): curl's SMTP client, curl 8 docs "SMTP"; --url is the
    # server, --upload-file the RFC 5322 message, --config - reads options (the login) on stdin.
    "--url": "url",
    "--mail-from": "mail_from",
    "--mail-rcpt": "mail_rcpt",
    "--upload-file": "upload_file",
    "-T": "upload_file",
    "--config": "config",
    "-K": "config",
}
_CURL_FLAGS = {
    "-f": "fail",
    "--fail": "fail",
    "--fail-with-body": "fail",
    "-s": "silent",
    "--silent": "silent",
    "-S": "show_error",
    "--show-error": "show_error",
    "-I": "head",
    "--head": "head",
    "-L": None,
    "--location": None,
    "--retry-all-errors": "retry_all",
    "-k": None,
    "--insecure": None,
    "-v": None,
    "--verbose": None,
    "--ssl-reqd": "ssl_reqd",
}
_TRANSIENT = {408, 429, 500, 502, 503, 504}


def _curl_config(text: str) -> list[str]:
    """The options of a curl config file as command-line words, read as curl reads ``--config``
    (curl 7.88.1 src/tool_parsecfg.c ``parseconfig``/``unslashquote``, unchanged in 8.x;
    docs/cmdline-opts/config.md): one option per line, ``#`` starts a comment line, a name
    without dashes is a long option and may be followed by ``=`` or ``:``; a value in double
    quotes ends at the first unescaped ``"`` and reads ``\\t \\n \\r \\v`` as those characters
    and a backslash before anything else as that character; an unquoted value ends at a blank."""
    words: list[str] = []
    for raw in text.split("\n"):
        line = raw.lstrip(" \t\r\v\f")
        if not line or line[0] in "#/\r*":
            continue
        dashed = line.startswith("-")
        match = re.match(r"[^\s]+" if dashed else r"[^\s=:]+", line)
        assert match is not None
        name, rest = match[0], line[match.end() :]
        rest = rest.lstrip(" \t\r\v\f" if dashed else " \t\r\v\f=:")
        words.append(name if dashed else f"--{name}")
        if rest.startswith('"'):
            value, chars = "", iter(rest[1:])
            for char in chars:
                if char == '"':
                    break
                if char == "\\":
                    char = next(chars, "")
                    char = {"t": "\t", "n": "\n", "r": "\r", "v": "\v"}.get(char, char)
                value += char
            words.append(value)
        elif rest:
            words.append(re.split(r"\s", rest, maxsplit=1)[0])
    return words


def _curl_expand_config(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` with a ``--config -`` (``-K -``) replaced by the options curl reads from stdin
    (used as if given at that place: docs/cmdline-opts/config.md), and the names of those
    options (what a test may assert on without holding their values)."""
    expanded: list[str] = []
    from_stdin: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("--config", "-K"):
            source = next(args)
            if source != "-":
                raise SystemExit("fake curl: only --config - (stdin) is simulated")
            words = _curl_config(sys.stdin.read())
            from_stdin += [word for word in words if word.startswith("-")]
            expanded += words
        else:
            expanded.append(arg)
    return expanded, from_stdin


def _parse_curl(argv: list[str]) -> tuple[JsonObj, list[str]]:
    opts: JsonObj = {"header": [], "data": []}
    urls: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.startswith("--") and "=" in arg:
            arg, _, inline = arg.partition("=")
            key = _CURL_VALUE_OPTIONS.get(arg)
            if key:
                _curl_set(opts, key, inline)
            continue
        if arg in _CURL_VALUE_OPTIONS:
            value = next(args)
            key = _CURL_VALUE_OPTIONS[arg]
            if key:
                _curl_set(opts, key, value)
        elif arg in _CURL_FLAGS:
            flag = _CURL_FLAGS[arg]
            if flag:
                opts[flag] = True
        elif re.fullmatch(r"-[fsSIL]+", arg):
            for letter in arg[1:]:
                flag = _CURL_FLAGS[f"-{letter}"]
                if flag:
                    opts[flag] = True
        elif arg.startswith("-"):
            raise SystemExit(f"fake curl: option {arg} is not simulated; add it to fakes.py")
        else:
            urls.append(arg)
    return opts, urls


def _curl_set(opts: JsonObj, key: str, value: str) -> None:
    if key in ("header", "data", "mail_rcpt"):
        opts.setdefault(key, []).append(value)
    else:
        opts[key] = value


def _curl_answer(state: State, url: str) -> tuple[int, str] | None:
    """The scenario's answer to ``url`` (responses consumed in order, the last one repeats)."""
    counters_file = state.root / "curl-counters.json"
    counters: dict[str, int] = (
        json.loads(counters_file.read_text()) if counters_file.exists() else {}
    )
    for index, rule in enumerate(state.scenario.get("http", [])):
        if re.search(rule["pattern"], url):
            seen = counters.get(str(index), 0)
            counters[str(index)] = seen + 1
            counters_file.write_text(json.dumps(counters))
            responses = rule["responses"]
            status, body = responses[min(seen, len(responses) - 1)]
            return int(status), str(body)
    return None


def fake_curl(state: State, argv: list[str]) -> int:
    expanded, from_stdin = _curl_expand_config(argv)
    opts, urls = _parse_curl(expanded)
    opts["from_stdin"] = from_stdin
    if "url" in opts:
        urls.append(opts["url"])
    if "upload_file" in opts:
        return _fake_curl_smtp(state, argv, opts, urls)
    if len(urls) != 1:
        raise SystemExit(f"fake curl: expected one URL, got {urls}")
    url = urls[0]
    method = opts.get("method") or (
        "HEAD" if opts.get("head") else "POST" if opts["data"] else "GET"
    )
    attempts = 1 + int(opts.get("retry", 0))
    delay = float(opts.get("retry_delay", 1))
    answer: tuple[int, str] | None = None
    for attempt in range(attempts):
        answer = _curl_answer(state, url)
        state.record(
            "curl",
            argv,
            url=url,
            method=method,
            data=opts["data"],
            status=answer[0] if answer else None,
            from_stdin=opts["from_stdin"],
        )
        retry = answer is None and opts.get("retry_all")
        retry = retry or (answer is not None and answer[0] in _TRANSIENT)
        if not retry or attempt == attempts - 1:
            break
        state.advance(delay)
        delay *= 2
    quiet = opts.get("silent") and not opts.get("show_error")
    if answer is None:
        if not quiet:
            _err(f"curl: (6) Could not resolve host: {urlsplit(url).hostname}")
        return 6
    status, body = answer
    if opts.get("fail") and status >= 400:
        if not quiet:
            _err(f"curl: (22) The requested URL returned error: {status}")
        return 22
    # --head prints the status line and the headers; a rule's body holds them, one per line.
    headers = "".join(f"{line}\r\n" for line in body.splitlines() if line)
    text = f"HTTP/1.1 {status}\r\n{headers}\r\n" if opts.get("head") else body
    output = opts.get("output")
    if output and output != "-":
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)
    if "write_out" in opts:
        sys.stdout.write(str(opts["write_out"]).replace("%{http_code}", str(status)))
    return 0


def _fake_curl_smtp(state: State, argv: list[str], opts: JsonObj, urls: list[str]) -> int:
    """curl sending mail: records sender, recipients, the message and the login's user name;
    answers as the scenario's HTTP rule for the server URL says: >= 400 is the server refusing
    the mail (a 5xx reply to MAIL FROM), exit 55 (CURLE_SEND_ERROR) with the stderr line
    ``curl: (55) MAIL failed: 550``; no rule is a host that does not resolve, exit 6
    (``curl: (6) Could not resolve host: HOST``). Both checked with the real curl 7.88.1
    (Debian 7.88.1-10+deb12u14) against a local SMTP listener replying 550 to MAIL FROM and an
    ``.invalid`` host: tests/test_notify_scripts.py keeps checking them."""
    (url,) = urls
    answer = _curl_answer(state, url)
    message = Path(opts["upload_file"]).read_bytes().decode()  # CRLF kept, as sent
    state.record(
        "curl",
        argv,
        url=url,
        method="SMTP",
        data=[],
        status=answer[0] if answer else None,
        mail_from=opts.get("mail_from"),
        mail_rcpt=opts.get("mail_rcpt", []),
        message=message,
        login_user=opts["user"].split(":", 1)[0] if "user" in opts else None,
        from_stdin=opts["from_stdin"],
        ssl_reqd=bool(opts.get("ssl_reqd")),
    )
    if answer is None:
        _err(f"curl: (6) Could not resolve host: {urlsplit(url).hostname}")
        return 6
    if answer[0] >= 400:
        _err(f"curl: (55) MAIL failed: {answer[0]}")
        return 55
    return 0


# ------------------------------------------------------------------------------------------
# cosign, trivy, k6, snyk: record, write what callers read, exit as the scenario says
# ------------------------------------------------------------------------------------------


def _recording_tool(tool: str) -> Callable[[State, list[str]], int]:
    def fake(state: State, argv: list[str]) -> int:
        state.record(tool, argv)
        code = state.exit_code(tool, argv)
        if tool == "trivy" and "--output" in argv:
            report = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}}]}
            Path(argv[argv.index("--output") + 1]).write_text(json.dumps(report))
        if tool == "k6" and "--summary-export" in argv:
            # k6 writes its end-of-test summary whether or not a threshold was crossed, in its
            # legacy JSON (grafana/k6 internal/js/summary-wrapper.js, oldJSONSummary).
            results = {
                "metrics": {
                    "http_req_duration": {"med": 80.0, "p(90)": 110.0, "p(95)": 130.0},
                    "http_req_failed": {"passes": 0, "fails": 100, "value": 0},
                }
            }
            Path(argv[argv.index("--summary-export") + 1]).write_text(json.dumps(results))
        if code:
            _err(f"{tool}: failing as the scenario asks (exit {code})")
        return code

    return fake


def fake_npx_snyk(state: State, argv: list[str]) -> int:
    """``npx --yes snyk@<version> ARGS``: the Snyk CLI npx would fetch at that exact version.

    Records the package spec and whether ``SNYK_TOKEN`` reached the process (never its value),
    then answers as the Snyk CLI does: without a token ``snyk test`` fails with exit code 2 (an
    authentication error; snyk/cli src/cli/commands/test, v1.1307.x: exit 2 for errors, 1 for
    vulnerabilities found), else the scenario's exit code for ``snyk``. The harness sends every
    other npx call (``npx tsc``) to the real npx (tests/pipeline/harness.py)."""
    spec, *rest = [a for a in argv if a != "--yes"]
    state.record("npx", argv, package=spec, token=bool(os.environ.get("SNYK_TOKEN")))
    if not os.environ.get("SNYK_TOKEN"):
        _err("snyk: authentication failed: SNYK_TOKEN is not set")
        return 2
    return _recording_tool("snyk")(state, rest)


# ------------------------------------------------------------------------------------------
# docker: load / push / image inspect / login / build
# ------------------------------------------------------------------------------------------


def _digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fake_docker(state: State, argv: list[str]) -> int:
    state.record("docker", argv)
    code = state.exit_code("docker", argv)
    if code:
        _err("docker: failing as the scenario asks")
        return code
    images_file = state.root / "docker-images.json"
    images: JsonObj = json.loads(images_file.read_text()) if images_file.exists() else {}
    command = [a for a in argv if not a.startswith("-")]
    if argv[:1] == ["load"]:
        source = argv[argv.index("--input") + 1] if "--input" in argv else argv[-1]
        tarball = json.loads(Path(source).read_text())
        for tag in tarball["tags"]:
            images[tag] = {"id": tarball["id"], "repo_digests": []}
            print(f"Loaded image: {tag}")
    elif argv[:1] == ["push"]:
        tag = command[1]
        if tag not in images:
            _err(f"An image does not exist locally with the tag: {tag}")
            return 1
        digest = _digest_of(images[tag]["id"])
        repository = tag.rsplit(":", 1)[0]
        for image in images.values():
            if (
                image["id"] == images[tag]["id"]
                and f"{repository}@{digest}" not in image["repo_digests"]
            ):
                image["repo_digests"].append(f"{repository}@{digest}")
        print(f"{tag.rsplit(':', 1)[-1]}: digest: {digest} size: 1234")
        # the registry now resolves the tag, as buildx imagetools inspect then sees it
        added = state.root / "registry-tags.json"
        previous = json.loads(added.read_text()) if added.exists() else {}
        added.write_text(json.dumps({**previous, tag: digest}))
    elif argv[:2] == ["image", "inspect"]:
        tag = command[-1]
        if tag not in images:
            _err(f"Error: No such image: {tag}")
            return 1
        for digest in images[tag]["repo_digests"]:
            print(digest)
    elif argv[:1] == ["login"]:
        print("Login Succeeded")
    elif argv[:3] == ["buildx", "imagetools", "create"]:
        return _imagetools_create(state, argv, command)
    elif argv[:3] == ["buildx", "imagetools", "inspect"]:
        return _imagetools_inspect(state, argv, command[3])
    images_file.write_text(json.dumps(images))
    return 0


def _registry(state: State) -> dict[str, str]:
    """The registry's tags: the scenario's ``registry_tags`` plus what imagetools create set."""
    added = state.root / "registry-tags.json"
    tags = dict(state.scenario.get("registry_tags", {}))
    return {**tags, **(json.loads(added.read_text()) if added.exists() else {})}


def _imagetools_create(state: State, argv: list[str], command: list[str]) -> int:
    """``docker buildx imagetools create --tag T SOURCE@DIGEST`` as buildx v0.38.2 does it
    (commands/imagetools/create.go; run for real in tests/supplychain): ``--prefer-index``
    defaults to true, and then a single-platform manifest is wrapped in a new index, so the tag
    names a new digest; ``--prefer-index=false`` tags the manifest itself."""
    source = command[-1]
    registry = _registry(state)
    known = set(registry.values())
    if "@" not in source or source.split("@", 1)[1] not in known:
        _err(f"ERROR: {source}: not found")
        return 1
    digest = source.split("@", 1)[1]
    if _option(argv, "--prefer-index") != "false":
        digest = _digest_of(f"index wrapping {digest}")
    tag = _option(argv, "--tag") or ""
    added = state.root / "registry-tags.json"
    previous = json.loads(added.read_text()) if added.exists() else {}
    added.write_text(json.dumps({**previous, tag: digest}))
    print(f"#1 pushing {tag} -> {digest}")
    return 0


def _imagetools_inspect(state: State, argv: list[str], ref: str) -> int:
    """``--format '{{json .Manifest}}'``: the descriptor the tag or digest names;
    ``'{{json .Image}}'``: the image config, whose revision label (what docker/metadata-action
    sets) is the commit of the scenario's ``signatures`` truth for that digest. A digest the
    scenario does not know is an image someone built elsewhere: it exists, from another commit.
    """
    digest = ref.split("@", 1)[1] if "@" in ref else _registry(state).get(ref)
    if digest is None:
        _err(f"ERROR: {ref}: not found")
        return 1
    if ".Image" in (_option(argv, "--format") or ""):
        truth = state.scenario.get("signatures", {}).get(digest, {})
        labels = {"org.opencontainers.image.revision": truth.get("commit", "e" * 40)}
        print(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}))
        return 0
    print(json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest}))
    return 0


# ------------------------------------------------------------------------------------------
# kubectl: a JSON file of objects; Deployments and Argo Rollouts progress on the clock
# ------------------------------------------------------------------------------------------

_KINDS = {
    "deployment": "Deployment",
    "deployments": "Deployment",
    "deploy": "Deployment",
    "rollout": "Rollout",
    "rollouts": "Rollout",
    "ro": "Rollout",
    "analysisrun": "AnalysisRun",
    "analysisruns": "AnalysisRun",
    "service": "Service",
    "svc": "Service",
}


class Kubectl:
    """Parsed global options plus access to the stored objects."""

    def __init__(self, state: State, argv: list[str]) -> None:
        self.state = state
        self.namespace = "default"
        self.args: list[str] = []
        self.options: JsonObj = {}
        items = iter(argv)
        for arg in items:
            if arg in ("-n", "--namespace"):
                self.namespace = next(items)
            elif arg.startswith("--namespace="):
                self.namespace = arg.split("=", 1)[1]
            elif arg in (
                "-o",
                "--output",
                "--type",
                "-p",
                "--patch",
                "--timeout",
                "--subresource",
                "-l",
                "--selector",
            ):
                self.options[arg.lstrip("-")] = next(items)
            elif arg.startswith("--") and "=" in arg:
                key, _, value = arg[2:].partition("=")
                self.options[key] = value
            elif arg.startswith("-o") and len(arg) > 2:
                self.options["o"] = arg[2:]
            elif arg.startswith("--"):
                self.options[arg[2:]] = True
            else:
                self.args.append(arg)
        for short, long in (("o", "output"), ("p", "patch"), ("l", "selector")):
            if short in self.options:
                self.options[long] = self.options.pop(short)
        self.objects = state.kube()

    def find(self, kind_or_ref: str, name: str | None = None) -> JsonObj | None:
        if name is None:
            kind_or_ref, _, name = kind_or_ref.partition("/")
        kind = _KINDS.get(kind_or_ref.lower(), kind_or_ref)
        for obj in self.objects:
            meta = obj["metadata"]
            if (
                obj["kind"] == kind
                and meta["name"] == name
                and meta.get("namespace", "default") == self.namespace
            ):
                return obj
        return None

    def not_found(self, kind: str, name: str) -> int:
        _err(f'Error from server (NotFound): {kind}s "{name}" not found')
        return 1


def _reconcile(state: State, objects: list[JsonObj]) -> None:
    """Move every workload along to where the simulated clock says it is."""
    for obj in objects:
        if obj["kind"] == "Rollout":
            _reconcile_rollout(state, obj)
        elif obj["kind"] == "Deployment":
            _reconcile_deployment(state, obj)


def _pod_hash(image: str) -> str:
    return hashlib.sha256(image.encode()).hexdigest()[:10]


def _image_of(obj: JsonObj) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def _reconcile_deployment(state: State, obj: JsonObj) -> None:
    status = obj.setdefault("status", {})
    sim = obj.setdefault("simulation", {})
    image = _image_of(obj)
    if sim.get("image") != image:
        sim.update(image=image, changed_at=state.now())
    failing = state.scenario.get("deployment_fails_for", [])
    ready_after = float(state.scenario.get("deployment_ready_seconds", 20))
    progressed = state.now() - float(sim["changed_at"]) >= ready_after and image not in failing
    replicas = int(obj["spec"].get("replicas", 1))
    status["observedGeneration"] = obj["metadata"].get("generation", 1)
    status["replicas"] = replicas
    status["updatedReplicas"] = replicas if progressed else 0
    status["availableReplicas"] = replicas


def _reconcile_rollout(state: State, obj: JsonObj) -> None:
    """Argo Rollouts' canary, one step at a time.

    setWeight moves on at once; ``pause: {duration}`` waits on the clock; ``pause: {}`` sets a
    CanaryPauseStep condition until someone clears ``status.pauseConditions`` (promote);
    ``analysis`` passes unless the scenario fails analysis at that step index, which aborts.
    ``status.abort`` (abort) sends traffic back to stable and marks the rollout Degraded.
    """
    status = obj.setdefault("status", {})
    sim = obj.setdefault("simulation", {})
    meta = obj["metadata"]
    image = _image_of(obj)
    steps: list[JsonObj] = obj["spec"].get("strategy", {}).get("canary", {}).get("steps", [])
    status["observedGeneration"] = str(meta.get("generation", 1))
    if "stableImage" not in sim:
        sim.update(stableImage=image)
        status.update(phase="Healthy", stableRS=_pod_hash(image), currentPodHash=_pod_hash(image))
        status["currentStepIndex"] = len(steps)
    if image != sim.get("image"):
        sim.update(image=image, stepStartedAt=state.now(), pausedAt=None)
        if _within_rollback_window(obj, sim, image):
            # Argo's rollbackWindow: going back to a recent revision skips every step.
            sim["history"] = [*sim.get("history", []), sim["stableImage"]]
            sim["stableImage"] = image
            status.update(phase="Healthy", stableRS=_pod_hash(image), abort=False)
            status.update(currentPodHash=_pod_hash(image), currentStepIndex=len(steps))
            status.update(pauseConditions=None, message="")
            status.setdefault("canary", {})["weights"] = {"canary": {"weight": 100}}
            return
        if image == sim["stableImage"]:
            status.update(phase="Healthy", currentStepIndex=len(steps), abort=False)
            status.update(currentPodHash=_pod_hash(image), pauseConditions=None, message="")
            return
        status.update(currentPodHash=_pod_hash(image), currentStepIndex=0, abort=False)
        status.update(phase="Progressing", pauseConditions=None, message="")
    if image == sim["stableImage"]:
        return
    if status.get("abort"):
        # An aborted canary goes back to step 0 and records when (rollout/canary.go and
        # rollout/pause.go, argo-rollouts v1.8.3), so a retry runs every step again.
        weights = status.setdefault("canary", {}).setdefault("weights", {})
        weights["canary"] = {"weight": 0}
        status.update(phase="Degraded", message=status.get("message") or "RolloutAborted")
        status.update(currentStepIndex=0, pauseConditions=None)
        status.setdefault("abortedAt", state.now())
        sim.update(pausedAt=None)
        return
    if status.pop("abortedAt", None) is not None:
        # abort taken back (a retry): the controller clears abortedAt and starts the steps again.
        status.update(phase="Progressing", message="RolloutRetry")
        sim.update(stepStartedAt=state.now(), pausedAt=None)
    failing_steps = state.scenario.get("analysis_fails_at_step", [])
    while True:
        index = int(status.get("currentStepIndex", 0))
        if status.get("promoteFull"):
            index = len(steps)
        if index >= len(steps):
            sim["history"] = [*sim.get("history", []), sim["stableImage"]]
            sim["stableImage"] = image
            status.update(phase="Healthy", stableRS=_pod_hash(image), currentStepIndex=len(steps))
            status.update(pauseConditions=None, promoteFull=False, message="")
            status.setdefault("canary", {})["weights"] = {"canary": {"weight": 100}}
            return
        if _background_analysis_fails(obj, index, failing_steps):
            status.update(abort=True, phase="Degraded")
            status["message"] = f"RolloutAborted: background analysis failed at step {index}"
            status.setdefault("canary", {})["weights"] = {"canary": {"weight": 0}}
            return
        step = steps[index]
        if "setWeight" in step:
            status.setdefault("canary", {})["weights"] = {"canary": {"weight": step["setWeight"]}}
        elif "pause" in step:
            duration = step["pause"].get("duration")
            if sim.get("pausedAt") != index:
                sim.update(pausedAt=index, stepStartedAt=state.now())
                condition = {"reason": "CanaryPauseStep", "startTime": state.now()}
                status.update(phase="Paused", pauseConditions=[condition])
                if duration is None:
                    status["controllerPause"] = True
                    return
            if duration is None:
                if status.get("pauseConditions"):
                    return
            elif state.now() - float(sim["stepStartedAt"]) < _seconds(str(duration)):
                return
            status.update(phase="Progressing", pauseConditions=None, controllerPause=False)
        elif "analysis" in step and index in failing_steps:
            status.update(abort=True, phase="Degraded")
            status["message"] = f"RolloutAborted: analysis at step {index} failed"
            status.setdefault("canary", {})["weights"] = {"canary": {"weight": 0}}
            return
        status["currentStepIndex"] = index + 1
        sim["stepStartedAt"] = state.now()


def _within_rollback_window(obj: JsonObj, sim: JsonObj, image: str) -> bool:
    """``spec.rollbackWindow.revisions``: the image was stable within the last N revisions."""
    revisions = int(obj["spec"].get("rollbackWindow", {}).get("revisions", 0))
    history: list[str] = sim.get("history", [])
    return revisions > 0 and image != sim["stableImage"] and image in history[-revisions:]


def _background_analysis_fails(obj: JsonObj, index: int, failing_steps: list[int]) -> bool:
    """``strategy.canary.analysis`` runs from ``startingStep``; it fails at a listed step."""
    analysis = obj["spec"].get("strategy", {}).get("canary", {}).get("analysis")
    if analysis is None or index not in failing_steps:
        return False
    return index >= int(analysis.get("startingStep", 0))


def _replica_sets(k: Kubectl) -> int:
    """ReplicaSets of the namespace's Rollouts: one per image the simulation has run, labelled
    ``rollouts-pod-template-hash`` as Argo Rollouts labels them; ``--selector k=v`` filters."""
    wanted = str(k.options.get("selector", ""))
    items: list[JsonObj] = []
    for obj in k.objects:
        if obj["kind"] != "Rollout" or obj["metadata"].get("namespace") != k.namespace:
            continue
        sim = obj.get("simulation", {})
        name = obj["spec"]["template"]["spec"]["containers"][0]["name"]
        images = [*sim.get("history", []), sim.get("stableImage"), _image_of(obj)]
        for image in dict.fromkeys(i for i in images if i):
            labels = {"rollouts-pod-template-hash": _pod_hash(image)}
            if wanted and f"{next(iter(labels))}={labels['rollouts-pod-template-hash']}" != wanted:
                continue
            items.append(
                {
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{obj['metadata']['name']}-{_pod_hash(image)}",
                        "labels": labels,
                    },
                    "spec": {
                        "template": {"spec": {"containers": [{"name": name, "image": image}]}}
                    },
                }
            )
    print(json.dumps({"kind": "List", "items": items}))
    return 0


def _jsonpath(obj: Any, expression: str) -> str:
    """The subset of kubectl's JSONPath that scripts use: ``{.a.b[0].c}``."""
    inner = expression.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1]
    value: Any = obj
    for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", inner):
        if value is None:
            break
        value = (
            value.get(name) if name else (value[int(index)] if len(value) > int(index) else None)
        )
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _json_patch(obj: JsonObj, patch: list[JsonObj]) -> None:
    for op in patch:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = obj
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if op["op"] in ("replace", "add"):
            if isinstance(parent, list):
                parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise SystemExit(f"fake kubectl: JSON patch op {op['op']} not simulated")


def _merge_patch(target: JsonObj, patch: JsonObj) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_patch(target[key], value)
        else:
            target[key] = value


def _bump_generation(obj: JsonObj) -> None:
    meta = obj["metadata"]
    meta["generation"] = int(meta.get("generation", 1)) + 1


def fake_kubectl(state: State, argv: list[str]) -> int:
    state.record("kubectl", argv)
    code = state.exit_code("kubectl", argv)
    if code:
        _err("error: the server is unavailable (scenario)")
        return code
    k = Kubectl(state, argv)
    _reconcile(state, k.objects)
    result = _kubectl_command(k)
    _reconcile(state, k.objects)
    state.save_kube(k.objects)
    return result


def _kubectl_command(k: Kubectl) -> int:
    verb, rest = (k.args[0], k.args[1:]) if k.args else ("", [])
    if verb == "argo":
        return _argo_rollouts(k, rest[1:])
    if verb == "get":
        return _kubectl_get(k, rest)
    if verb == "set" and rest[:1] == ["image"]:
        obj = k.find(rest[1])
        if obj is None:
            return k.not_found(*rest[1].split("/", 1))
        for assignment in rest[2:]:
            name, _, image = assignment.partition("=")
            containers = obj["spec"]["template"]["spec"]["containers"]
            matching = [c for c in containers if c["name"] == name or name == "*"]
            if not matching:
                _err(f'error: unable to find container named "{name}"')
                return 1
            for container in matching:
                container["image"] = image
        _bump_generation(obj)
        print(f"{rest[1].split('/')[0]}.apps/{obj['metadata']['name']} image updated")
        return 0
    if verb == "patch":
        return _kubectl_patch(k, rest)
    if verb == "rollout" and rest[:1] == ["status"]:
        return _rollout_status(k, rest[1])
    _err(f"fake kubectl: command {k.args} not simulated")
    return 2


def _kubectl_get(k: Kubectl, rest: list[str]) -> int:
    if rest[:1] in (["replicasets"], ["replicaset"], ["rs"]):
        return _replica_sets(k)
    obj = k.find(rest[0]) if len(rest) == 1 else k.find(rest[0], rest[1])
    if obj is None:
        return k.not_found(rest[0], rest[-1])
    output = str(k.options.get("output", ""))
    public = {key: value for key, value in obj.items() if key != "simulation"}
    if output == "json":
        print(json.dumps(public, indent=2))
    elif output.startswith("jsonpath="):
        sys.stdout.write(_jsonpath(public, output.split("=", 1)[1]))
    else:
        print(f"NAME\n{obj['metadata']['name']}")
    return 0


def _kubectl_patch(k: Kubectl, rest: list[str]) -> int:
    obj = k.find(rest[0]) if len(rest) == 1 else k.find(rest[0], rest[1])
    if obj is None:
        return k.not_found(rest[0], rest[-1])
    patch = json.loads(str(k.options["patch"]))
    kind = str(k.options.get("type", "strategic"))
    if kind == "json":
        _json_patch(obj, patch)
    else:
        _merge_patch(obj, patch)
    if k.options.get("subresource") != "status":
        _bump_generation(obj)
    print(f"{obj['kind'].lower()}/{obj['metadata']['name']} patched")
    return 0


def _rollout_status(k: Kubectl, ref: str) -> int:
    """``kubectl rollout status deployment/x --timeout=Ns``: waits on the simulated clock."""
    obj = k.find(ref)
    if obj is None:
        return k.not_found(*ref.split("/", 1))
    timeout = _seconds(str(k.options.get("timeout", "0s")).rstrip("s") or "0") or 600.0
    waited = 0.0
    while True:
        _reconcile(k.state, k.objects)
        status = obj["status"]
        if status.get("updatedReplicas") == obj["spec"].get("replicas", 1):
            print(f'deployment "{obj["metadata"]["name"]}" successfully rolled out')
            return 0
        if waited >= timeout:
            _err("error: timed out waiting for the condition")
            return 1
        k.state.advance(5)
        waited += 5


def _argo_rollouts(k: Kubectl, rest: list[str]) -> int:
    """``kubectl argo rollouts status|promote|abort|undo|get NAME`` as the plugin acts."""
    command, name = rest[0], rest[1]
    obj = k.find("Rollout", name)
    if obj is None:
        return k.not_found("rollout", name)
    status = obj["status"]
    if command == "promote":
        if k.options.get("full"):
            status["promoteFull"] = True
        status.update(pauseConditions=None, controllerPause=False)
        print(f"rollout '{name}' promoted")
    elif command == "abort":
        status["abort"] = True
        print(f"rollout '{name}' aborted")
    elif command == "undo":
        sim = obj["simulation"]
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = sim["stableImage"]
        _bump_generation(obj)
        print(f"rollout '{name}' undo")
    elif command == "get":
        print(f"Name: {name}\nStatus: {status.get('phase')}\nImage: {_image_of(obj)}")
    elif command == "status":
        return _argo_status(k, obj)
    else:
        _err(f"fake kubectl argo rollouts: {command} not simulated")
        return 2
    return 0


def _argo_status(k: Kubectl, obj: JsonObj) -> int:
    """``status``: watches until the rollout finishes (Healthy: 0; Degraded, or Paused at a step:
    1, "success if the rollout is healthy upon completion"), or the timeout (0 = forever, capped
    at a simulated day here); ``--watch=false`` prints the phase once (Degraded: 1)."""
    watch = str(k.options.get("watch", "true")).lower() not in ("false", "0")
    timeout = _seconds(str(k.options.get("timeout", "0s")).rstrip("s") or "0") or 86400.0
    waited = 0.0
    while True:
        _reconcile(k.state, k.objects)
        status = obj["status"]
        phase = status.get("phase")
        reasons = ", ".join(c.get("reason", "") for c in status.get("pauseConditions") or [])
        if phase == "Healthy":
            print("Healthy")
            return 0
        if phase == "Degraded":
            print(f"Degraded - {status.get('message', '')}")
            return 1
        if phase == "Paused" or not watch:
            print(f"{phase} - {reasons}" if reasons else str(phase))
            return 1 if watch else 0
        if waited >= timeout:
            _err(f"Error: rollout validation timed out (phase {phase})")
            return 1
        k.state.advance(5)
        waited += 5


# ------------------------------------------------------------------------------------------
# stub actions: upload-artifact and download-artifact behave as the real ones do
# ------------------------------------------------------------------------------------------


def _inputs() -> dict[str, str]:
    raw: dict[str, Any] = json.loads(os.environ.get("STUB_INPUTS", "{}"))
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def _output(name: str, value: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write(f"{name}={value}\n")


def _run_dir(state: State, run_id: str | None = None) -> Path:
    return state.root / "artifacts" / (run_id or (state.root / "run_id").read_text().strip())


def action_upload_artifact(state: State, argv: list[str]) -> int:
    """actions/upload-artifact v4+: globs, ``!`` exclusions, least common ancestor layout."""
    inputs = _inputs()
    name = inputs.get("name") or "artifact"
    bad = sorted(set(name) & set('"<>|*?\\/:\r\n'))
    if bad:
        print(
            f"::error::The artifact name is not valid: {name}. Contains the following "
            f"character: {' '.join(bad)}"
        )
        return 1
    workspace = Path(os.environ.get("GITHUB_WORKSPACE", "."))
    include: list[Path] = []
    exclude: list[str] = []
    for line in inputs.get("path", "").splitlines():
        pattern = line.strip()
        if not pattern:
            continue
        if pattern.startswith("!"):
            exclude.append(str((workspace / pattern[1:]).resolve()))
            continue
        root = workspace / pattern
        for match in sorted(glob.glob(str(root), recursive=True)):
            path = Path(match)
            if path.is_dir():
                include.extend(p for p in path.rglob("*") if p.is_file())
                include.append(path)
            else:
                include.append(path)
    files = [
        p for p in include if p.is_file() and not any(fnmatch.fnmatch(str(p), e) for e in exclude)
    ]
    state.record("upload-artifact", argv, name=name, files=[str(f) for f in files])
    if not files:
        policy = inputs.get("if-no-files-found") or "warn"
        message = f"No files were found with the provided path: {inputs.get('path')}. No artifacts will be uploaded."
        if policy == "error":
            print(f"::error::{message}")
            return 1
        if policy == "warn":
            print(f"::warning::{message}")
        return 0
    target = _run_dir(state) / name
    if target.exists() and inputs.get("overwrite", "false") != "true":
        print(
            f"::error::Failed to CreateArtifact: an artifact with this name already exists: {name}"
        )
        return 1
    shutil.rmtree(target, ignore_errors=True)
    dirs = [p for p in include if p.is_dir()]
    anchors = [str(d) for d in dirs] or [str(f.parent) for f in files]
    root = Path(os.path.commonpath(anchors)) if len(files) > 1 or dirs else files[0].parent
    for file in files:
        destination = target / file.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, destination)
    _output("artifact-id", str(abs(hash(name)) % 10**6))
    return 0


def action_download_artifact(state: State, argv: list[str]) -> int:
    inputs = _inputs()
    run_dir = _run_dir(state, inputs.get("run-id") or None)
    workspace = Path(os.environ.get("GITHUB_WORKSPACE", "."))
    path = Path(inputs.get("path") or workspace)
    path = path if path.is_absolute() else workspace / path
    name = inputs.get("name")
    state.record("download-artifact", argv, name=name, run=run_dir.name)
    if name:
        source = run_dir / name
        if not source.is_dir():
            print(f"::error::Unable to download artifact(s): Artifact not found for name: {name}")
            return 1
        shutil.copytree(source, path, dirs_exist_ok=True)
        return 0
    pattern = inputs.get("pattern") or "*"
    for source in sorted(run_dir.glob(pattern)) if run_dir.exists() else []:
        merge = inputs.get("merge-multiple") == "true"
        shutil.copytree(source, path if merge else path / source.name, dirs_exist_ok=True)
    return 0


def action_build_push(state: State, argv: list[str]) -> int:
    """docker/build-push-action: builds nothing, but writes the tarball and digest it promises."""
    inputs = _inputs()
    tags = [t.strip() for t in re.split(r"[,\n]", inputs.get("tags", "")) if t.strip()]
    workspace = Path(os.environ.get("GITHUB_WORKSPACE", "."))
    dockerfile = workspace / (inputs.get("context") or ".") / (inputs.get("file") or "Dockerfile")
    if inputs.get("file"):
        dockerfile = workspace / inputs["file"]
    state.record("build-push", argv, inputs=inputs)
    if not dockerfile.is_file():
        print(f"::error::failed to read dockerfile: open {dockerfile}: no such file or directory")
        return 1
    for tag in tags:
        if not re.fullmatch(r"[a-z0-9./:_-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
            print(f'::error::invalid tag "{tag}": invalid reference format')
            return 1
    image_id = _digest_of(dockerfile.read_text() + os.environ.get("GITHUB_SHA", ""))
    match = re.search(r"dest=([^,]+)", inputs.get("outputs", ""))
    if match:
        Path(match[1]).write_text(json.dumps({"id": image_id, "tags": tags}))
    _output("imageid", image_id)
    _output("digest", image_id)
    return 0


def action_metadata(state: State, argv: list[str]) -> int:
    """docker/metadata-action for ``type=raw`` and ``type=sha`` (and ``type=semver`` on tags)."""
    inputs = _inputs()
    images = [i.strip() for i in re.split(r"[,\n]", inputs.get("images", "")) if i.strip()]
    sha = os.environ.get("GITHUB_SHA", "")
    ref = os.environ.get("GITHUB_REF", "")
    tags: list[str] = []
    for line in inputs.get("tags", "").splitlines():
        rule = dict(part.split("=", 1) for part in line.strip().split(",") if "=" in part)
        kind = rule.get("type")
        enabled = rule.get("enable", "true") == "true"
        if not kind or not enabled:
            continue
        if kind == "raw":
            tags.append(rule["value"])
        elif kind == "sha":
            tags.append(
                (rule.get("prefix", "sha-")) + (sha if rule.get("format") == "long" else sha[:7])
            )
        elif kind == "semver" and ref.startswith("refs/tags/"):
            version = ref.removeprefix("refs/tags/").removeprefix("v")
            if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?", version):
                tags.append(version)
        elif kind == "ref" and rule.get("event") == "tag" and ref.startswith("refs/tags/"):
            tags.append(ref.removeprefix("refs/tags/"))
    full = [f"{image}:{tag}" for image in images for tag in tags]
    state.record("metadata", argv, tags=full)
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write("tags<<EOF\n" + "\n".join(full) + "\nEOF\n")
        out.write("labels<<EOF\norg.opencontainers.image.revision=" + sha + "\nEOF\n")
        out.write(f"version={tags[0] if tags else ''}\n")
    return 0


def action_record(state: State, argv: list[str]) -> int:
    """Any other stub: record the inputs it got (secrets masked by name)."""
    inputs = _inputs()
    masked = {
        k: ("***" if k in ("password", "token", "webhook") and v else v) for k, v in inputs.items()
    }
    state.record(f"action:{argv[0]}", argv, inputs=masked)
    return 0


def _job_permissions(state: State) -> dict[str, str] | None:
    """The running job's ``permissions:`` (None: not set, the repository default applies)."""
    workflow = yaml.safe_load(Path(state.root / "workflow").read_text())
    job = workflow["jobs"][os.environ["GITHUB_JOB"]]
    permissions = job.get("permissions", workflow.get("permissions"))
    return None if permissions is None else dict(permissions or {})


def _token_is_read_only() -> bool:
    """GitHub's rule: pull_request runs from forks and Dependabot get a read-only token."""
    if os.environ.get("GITHUB_EVENT_NAME") != "pull_request":
        return False
    if os.environ.get("GITHUB_ACTOR") == "dependabot[bot]":
        return True
    event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
    head = event.get("pull_request", {}).get("head", {}).get("repo", {}).get("full_name")
    return bool(head and head != os.environ.get("GITHUB_REPOSITORY"))


def action_upload_sarif(state: State, argv: list[str]) -> int:
    """github/codeql-action/upload-sarif: a SARIF file, a token that may write security events
    (plus contents and actions read on a private repository), and code scanning switched on."""
    inputs = _inputs()
    state.record("upload-sarif", argv, inputs=inputs)
    sarif = Path(inputs.get("sarif_file") or "")
    if not sarif.is_absolute():
        sarif = Path(os.environ.get("GITHUB_WORKSPACE", ".")) / sarif
    if not sarif.is_file():
        print(f"::error::Path does not exist: {inputs.get('sarif_file')}")
        return 1
    permissions = _job_permissions(state)
    needed = {"security-events": "write"}
    if state.scenario.get("private_repository"):
        needed.update({"contents": "read", "actions": "read"})
    missing = [
        f"{scope}: {level}"
        for scope, level in needed.items()
        if permissions is not None
        and permissions.get(scope) not in ((level, "write") if level == "read" else (level,))
    ]
    if _token_is_read_only() or missing:
        print(f"::error::Resource not accessible by integration (token lacks {missing or 'write'})")
        return 1
    if not state.scenario.get("code_scanning", True):
        print(
            "::error::Code scanning is not enabled for this repository. "
            "Please enable code scanning in the repository settings."
        )
        return 1
    return 0


def action_attest_build_provenance(state: State, argv: list[str]) -> int:
    """actions/attest-build-provenance: artifact attestations exist for public repositories
    on every plan and for private ones only on GitHub Enterprise Cloud (the action's README,
    v4.1.0). Elsewhere it fails as GitHub answers (actions/attest, "Failed to persist
    attestation": the message reported in its issues for organisation-owned repositories)."""
    inputs = _inputs()
    state.record(f"action:{argv[0]}", argv, inputs=inputs)
    if state.scenario.get("private_repository") and not state.scenario.get("enterprise_cloud"):
        owner = (
            os.environ.get("GITHUB_REPOSITORY_OWNER")
            or os.environ.get("GITHUB_REPOSITORY", "acme/x").split("/")[0]
        )
        print(
            "::error::Failed to persist attestation: Feature not available for the "
            f"{owner} organization. To enable this feature, please upgrade the billing plan, "
            "or make this repository public."
        )
        return 1
    return 0


# ------------------------------------------------------------------------------------------
# cosign verify / gh api: the chain of custody (issue 16)
# ------------------------------------------------------------------------------------------


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


_CERTIFICATE_CHECKS = {
    "--certificate-github-workflow-sha": ("commit", "GitHub Workflow SHA"),
    "--certificate-github-workflow-repository": ("repository", "GitHub Workflow Repository"),
    "--certificate-github-workflow-ref": ("ref", "GitHub Workflow Ref"),
}


def _certificate(truth: JsonObj) -> JsonObj:
    """Fulcio's GitHub workflow extensions of the signer's certificate: the commit, and the
    repository and ref of the identity URL (``.../OWNER/REPO/.github/workflows/F@REF``)."""
    path, _, ref = str(truth["identity"]).partition("@")
    owner_repo = "/".join(path.removeprefix("https://github.com/").split("/")[:2])
    return {"commit": truth.get("commit", ""), "repository": owner_repo, "ref": ref}


def fake_cosign(state: State, argv: list[str]) -> int:
    """``cosign verify``/``verify-attestation`` against the scenario's ``signatures``.

    Checked against cosign v3.0.6 (the release sigstore/cosign-installer v4.1.2 installs, run
    for real in tests/supplychain): the truth per digest says who signed (certificate identity
    and issuer), the source commit (the certificate's GitHub workflow SHA) and which attestation
    types exist. Verification passes only when the flags name exactly that identity and issuer,
    and each ``--certificate-github-workflow-sha``/``-repository``/``-ref`` given matches the
    certificate, failing with cosign's own words (``no matching signatures: expected GitHub
    Workflow SHA not found in certificate``). ``--output json`` prints what v3.0.6 prints for a
    legacy (``.sig``) signature; the workflows read nothing from it. Anything else (sign,
    attest) is recorded as before.
    """
    if argv[:1] not in (["verify"], ["verify-attestation"]):
        return _recording_tool("cosign")(state, argv)
    ref = next(a for a in argv[1:] if not a.startswith("-") and "@" in a)
    identity = _option(argv, "--certificate-identity")
    issuer = _option(argv, "--certificate-oidc-issuer")
    kind = _option(argv, "--type")
    state.record("cosign", argv, ref=ref, identity=identity, issuer=issuer)
    code = state.exit_code("cosign", argv)
    if code:
        _err("Error: fetching the Sigstore trusted root failed (scenario: Sigstore unreachable)")
        return code
    truth = state.scenario.get("signatures", {}).get(ref.split("@", 1)[1])
    if identity is None or issuer is None:
        _err("Error: --certificate-identity and --certificate-oidc-issuer are required")
        return 1
    if truth is None:
        _err("Error: no signatures found")
        return 10
    if truth["identity"] != identity or truth["issuer"] != issuer:
        _err("Error: no matching signatures: none of the expected identities matched")
        return 12
    certificate = _certificate(truth)
    for flag, (fact, words) in _CERTIFICATE_CHECKS.items():
        expected = _option(argv, flag)
        if expected is not None and expected != certificate[fact]:
            _err(f"Error: no matching signatures: expected {words} not found in certificate")
            return 12
    if argv[0] == "verify-attestation":
        if kind not in truth.get("attestations", []):
            _err(f"Error: no matching attestations with type {kind}")
            return 1
        return 0
    print(
        json.dumps(
            [
                {
                    "critical": {
                        "identity": {"docker-reference": ref.split("@", 1)[0]},
                        "image": {"docker-manifest-digest": ref.split("@", 1)[1]},
                        "type": "cosign container image signature",
                    },
                    "optional": {
                        "Issuer": issuer,
                        "Subject": identity,
                        "githubWorkflowRef": certificate["ref"],
                        "githubWorkflowRepository": certificate["repository"],
                        "githubWorkflowSha": certificate["commit"],
                    },
                }
            ]
        )
    )
    return 0


def _github(state: State) -> JsonObj:
    path = state.root / "github.json"
    if not path.exists():
        initial = state.scenario.get("github", {})
        path.write_text(json.dumps({"deployments": [], "ci_runs": [], **initial}))
    data: JsonObj = json.loads(path.read_text())
    return data


def _jq(value: Any, expression: str | None) -> str:
    if expression is None:
        return json.dumps(value)
    done = subprocess.run(
        ["jq", "--raw-output", expression],
        input=json.dumps(value),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _ancestors(commits: dict[str, list[str]], sha: str) -> set[str]:
    seen: set[str] = set()
    todo = [sha]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(commits.get(current, []))
    return seen


def _compare(commits: dict[str, list[str]], base: str, head: str) -> JsonObj | None:
    """``GET repos/O/R/compare/BASE...HEAD``: ``status`` is identical, ahead (base is an ancestor
    of head), behind (head is an ancestor of base) or diverged (GitHub REST "Compare two
    commits", api.github.com 2022-11-28). ``commits`` maps each sha to its parents."""
    if base not in commits or head not in commits:
        return None
    if base == head:
        status = "identical"
    elif base in _ancestors(commits, head):
        status = "ahead"
    elif head in _ancestors(commits, base):
        status = "behind"
    else:
        status = "diverged"
    return {"status": status}


def fake_gh(state: State, argv: list[str]) -> int:
    """``gh api`` over the repository's deployments, their statuses, CI runs and commit order.

    ``github.json`` holds ``deployments`` (id, environment, sha, payload, statuses newest
    first), ``ci_runs`` (head_sha, branch, conclusion) and ``commits`` (sha -> parent shas, for
    the compare API), seeded from the scenario's ``github``; for release.yml's squash-merge
    lookup also ``pulls`` (pull requests as GitHub's ``pull-request-simple``: number, state,
    merged_at, merge_commit_sha, head.sha, base.ref) and ``trees`` (commit sha -> tree sha).

    Assumed from GitHub's REST API (version 2022-11-28, docs "List pull requests" and "Get a
    commit object", github/rest-api-description): ``GET /repos/{o}/{r}/pulls?state=closed``
    answers a JSON array of the closed pull requests, merged ones with ``merged_at`` set and
    ``merge_commit_sha`` naming the squash commit or the commit a rebase moved the base to
    (newest first is the caller's ``sort``/``direction``, kept here as given); ``GET
    /repos/{o}/{r}/git/commits/{sha}`` answers the commit with ``tree.sha``; an unknown commit is
    a 404.
    """
    if argv[:1] != ["api"]:
        _err(f"fake gh: {argv[:1]} not simulated")
        return 2
    method = (_option(argv, "--method") or "GET").upper()
    expression = _option(argv, "--jq")
    values = [argv[i + 1] for i, a in enumerate(argv) if a in ("-f", "-F", "--field")]
    fields = dict(v.split("=", 1) for v in values)
    endpoint = next(a for a in argv[1:] if a.startswith("repos/"))
    path, _, query = endpoint.partition("?")
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        fields.setdefault(key, value)
    parts = path.split("/")
    data = _github(state)
    state.record("gh", argv, method=method, endpoint=path, fields=fields)
    result: Any
    if parts[3:] == ["actions", "workflows", "ci.yml", "runs"]:
        runs = [
            r
            for r in data["ci_runs"]
            if r["head_sha"] == fields.get("head_sha")
            and r["branch"] == fields.get("branch")
            and r["conclusion"] == fields.get("status", r["conclusion"])
        ]
        result = {"total_count": len(runs), "workflow_runs": runs}
    elif parts[3:] == ["deployments"] and method == "GET":
        result = [
            {k: d[k] for k in ("id", "environment", "sha", "payload", "task")}
            for d in reversed(data["deployments"])
            if all(d.get(key) == fields[key] for key in ("environment", "sha") if key in fields)
        ]
    elif parts[3:] == ["deployments"] and method == "POST":
        body = json.loads(sys.stdin.read())
        deployment = {
            "id": 1000 + len(data["deployments"]),
            "environment": body["environment"],
            "sha": body["ref"],
            "task": body.get("task", "deploy"),
            "payload": body.get("payload", {}),
            "statuses": [],
        }
        data["deployments"].append(deployment)
        result = {k: v for k, v in deployment.items() if k != "statuses"}
    elif parts[3] == "deployments" and parts[5:] == ["statuses"]:
        found = [d for d in data["deployments"] if str(d["id"]) == parts[4]]
        if not found:
            _err("gh: Not Found (HTTP 404)")
            return 1
        if method == "POST":
            status = {"state": fields["state"], "description": fields.get("description", "")}
            found[0]["statuses"].insert(0, status)
            result = status
        else:
            result = found[0]["statuses"][: int(fields.get("per_page", 30))]
    elif parts[3:] == ["pulls"] and method == "GET":
        state_filter = fields.get("state", "open")
        result = [
            p for p in data.get("pulls", []) if state_filter == "all" or p["state"] == state_filter
        ][: int(fields.get("per_page", 30))]
    elif parts[3:5] == ["git", "commits"] and method == "GET":
        tree_sha = data.get("trees", {}).get(parts[5])
        if tree_sha is None:
            _err("gh: Not Found (HTTP 404)")
            return 1
        result = {"sha": parts[5], "tree": {"sha": tree_sha}}
    elif parts[3:4] == ["compare"] and method == "GET":
        base, _, head = "/".join(parts[4:]).partition("...")
        result = _compare(data.get("commits", {}), base, head)
        if result is None:
            _err(f"gh: No commit found for {base}...{head} (HTTP 404)")
            return 1
    else:
        _err(f"fake gh: {method} {path} not simulated")
        return 2
    (state.root / "github.json").write_text(json.dumps(data, indent=2))
    sys.stdout.write(_jq(result, expression))
    return 0


TOOLS: dict[str, Callable[[State, list[str]], int]] = {
    "kubectl": fake_kubectl,
    "curl": fake_curl,
    "cosign": fake_cosign,
    "gh": fake_gh,
    "trivy": _recording_tool("trivy"),
    "k6": _recording_tool("k6"),
    "snyk": _recording_tool("snyk"),
    "npx": fake_npx_snyk,
    "docker": fake_docker,
    "sleep": fake_sleep,
    "date": fake_date,
    "action-upload-artifact": action_upload_artifact,
    "action-download-artifact": action_download_artifact,
    "action-build-push": action_build_push,
    "action-metadata": action_metadata,
    "action-record": action_record,
    "action-upload-sarif": action_upload_sarif,
    "action-attest-build-provenance": action_attest_build_provenance,
}


def main(argv: list[str]) -> int:
    """Run one fake under the scenario's lock: parallel jobs share the clock and the files."""
    tool, root, *args = argv
    with open(Path(root) / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return TOOLS[tool](State(Path(root)), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
