"""The notification scripts run with the real curl (Debian's 7.88.1 here; runners ship 8.x), not
the pipeline tier's fake: the secrets reach curl the way curl reads them, and the exit codes the
fake claims (tests/pipeline/fakes.py ``_fake_curl_smtp``) are the real ones.

- A webhook URL is the credential: the script hands it to curl on stdin (``--config -``), so no
  process's argv holds it; a ``curl`` first on PATH records its argv and runs the real curl,
  whose POST reaches a local HTTP server at that URL.
- A webhook secret with a CR, LF or double quote (it would end curl's config line or value) is
  a warning and nothing is sent; an SMTP login with CR or LF likewise.
- E-mail recipients are split without pathname expansion (``*`` in an address stays ``*``).
- An e-mail through the real curl to a stand-in SMTP server over TLS (a self-signed certificate
  made by the ``openssl`` command): the login, escaped for curl's config line, arrives intact;
  the recipients and headers are the script's.
- The fake curl's SMTP codes: a server replying 550 to MAIL FROM is exit 55, an unresolvable
  host exit 6 (the stand-in SMTP listener below, RFC 5321 replies 220/250/550/221).

The stand-in servers are the one thing here that is not the real component: no SMTP server
package is installed (``aiosmtpd`` is not in the venv); they implement only the RFC 5321 and
RFC 4954 replies their docstrings name, and curl is the real client talking to them.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

import pytest

from components.workflows.common import SCRIPTS_DIR

pytestmark = pytest.mark.subprocess

CURL: Final = shutil.which("curl") or "/usr/bin/curl"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A local HTTP server taking POSTs: its base URL and what it received (path, body)."""
    received: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((self.path, self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _run(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[str, list[list[str]]]:
    """Run scripts/NAME with the real curl behind a recorder of its argv; stdout and argvs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "argv"
    calls.mkdir(exist_ok=True)
    recorder = bin_dir / "curl"
    recorder.write_text(
        f'#!/usr/bin/env bash\nprintf \'%s\\0\' "$@" >"$(mktemp -p {calls})"\nexec {CURL} "$@"\n'
    )
    recorder.chmod(0o755)
    result = subprocess.run(
        ["bash", str(SCRIPTS_DIR / name)],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    argvs = [call.read_text().removesuffix("\0").split("\0") for call in calls.iterdir()]
    return result.stdout, argvs


@pytest.mark.parametrize(
    ("name", "channel"), [("notify.sh", "Slack"), ("notify.sh", "Discord"), ("notify_teams.sh", "")]
)
def test_the_webhook_url_reaches_curl_on_stdin_never_in_its_argv(
    tmp_path: Path, webhook: tuple[str, list[tuple[str, bytes]]], name: str, channel: str
) -> None:
    base, received = webhook
    url = f"{base}/services/T1/B2/s3cr3t-token?sig=a%2Fb&sv=1.0"
    stdout, argvs = _run(
        tmp_path, name, {"CHANNEL": channel, "WEBHOOK_URL": url, "MESSAGE": "Deploy: success"}
    )
    assert "::warning::" not in stdout, stdout
    ((path, body),) = received
    assert path == "/services/T1/B2/s3cr3t-token?sig=a%2Fb&sv=1.0"
    assert b"Deploy: success" in body
    (argv,) = argvs
    assert not any("s3cr3t-token" in arg for arg in argv), argv
    assert argv[-2:] == ["--config", "-"]


@pytest.mark.parametrize("bad", ['"', "\n", "\r"])
@pytest.mark.parametrize("name", ["notify.sh", "notify_teams.sh"])
def test_a_webhook_secret_that_would_break_the_config_line_is_refused(
    tmp_path: Path, webhook: tuple[str, list[tuple[str, bytes]]], name: str, bad: str
) -> None:
    base, received = webhook
    # After the break: a second config line that would send the message elsewhere.
    url = f"{base}/hook{bad}url = {base}/elsewhere"
    stdout, argvs = _run(
        tmp_path, name, {"CHANNEL": "Slack", "WEBHOOK_URL": url, "MESSAGE": "Deploy: success"}
    )
    assert "webhook secret holds a line break or a double quote" in stdout, stdout
    assert "/hook" not in stdout  # the value is never printed
    assert argvs == [] and received == []


def test_email_recipients_are_not_glob_expanded(tmp_path: Path) -> None:
    """``ops*@acme.example`` beside a file named ``ops-x@acme.example`` stays the address."""
    (tmp_path / "ops-x@acme.example").write_text("")
    stdout, argvs = _run(
        tmp_path,
        "notify_email.sh",
        {
            # Nothing listens on port 1: the send fails (a warning); the argv is what counts.
            "SMTP_URL": "smtp://127.0.0.1:1",
            "MAIL_FROM": "ci@acme.example",
            "MAIL_TO": "ops*@acme.example  lead@acme.example",
            "SMTP_CREDENTIALS": "ci-bot:pw",
            "MESSAGE": "Deploy: success",
        },
    )
    (argv,) = argvs
    rcpt = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--mail-rcpt"]
    assert rcpt == ["ops*@acme.example", "lead@acme.example"]
    assert "the e-mail notification failed" in stdout


@pytest.mark.parametrize("bad", ["\n", "\r"])
def test_an_smtp_login_with_a_line_break_is_refused(tmp_path: Path, bad: str) -> None:
    stdout, argvs = _run(
        tmp_path,
        "notify_email.sh",
        {
            "SMTP_URL": "smtp://127.0.0.1:1",
            "MAIL_FROM": "ci@acme.example",
            "MAIL_TO": "lead@acme.example",
            "SMTP_CREDENTIALS": f"ci-bot:pw{bad}url = smtp://elsewhere.example",
            "MESSAGE": "Deploy: success",
        },
    )
    assert "the SMTP credentials secret holds a line break" in stdout, stdout
    assert "elsewhere" not in stdout and argvs == []


def _refusing_smtp_server(listener: socket.socket) -> None:
    """A stand-in SMTP server for one session, the RFC 5321 replies it needs (section 4.2,
    4.3.2): 220 greeting, 250 to EHLO, 550 to MAIL FROM (mailbox unavailable / refused), 221 to
    QUIT, 250 to anything else."""
    connection, _ = listener.accept()
    with connection, connection.makefile("rwb") as stream:
        stream.write(b"220 test.example ESMTP\r\n")
        stream.flush()
        for line in stream:
            command = line.decode().strip().upper()
            reply = {"MAIL": b"550 5.7.1 refused\r\n", "QUIT": b"221 bye\r\n"}.get(
                command[:4], b"250 test.example\r\n"
            )
            stream.write(reply)
            stream.flush()
            if command.startswith("QUIT"):
                return


def test_the_fake_curls_smtp_exit_codes_are_the_real_ones(tmp_path: Path) -> None:
    message = tmp_path / "mail.txt"
    message.write_text("Subject: x\r\n\r\nbody\r\n")
    mail = ["--mail-from", "ci@acme.example", "--mail-rcpt", "a@acme.example"]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=_refusing_smtp_server, args=(listener,), daemon=True)
        server.start()
        port = listener.getsockname()[1]
        refused = subprocess.run(
            [CURL, "-sS", "--url", f"smtp://127.0.0.1:{port}", *mail, "-T", str(message)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        server.join(timeout=10)
    assert (refused.returncode, refused.stderr.strip()) == (55, "curl: (55) MAIL failed: 550")
    unknown = subprocess.run(
        [CURL, "-sS", "--url", "smtps://smtp.down.invalid", *mail, "-T", str(message)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert unknown.returncode == 6
    assert unknown.stderr.strip() == "curl: (6) Could not resolve host: smtp.down.invalid"


class _SmtpSession:
    """What the stand-in SMTP server received in one session."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.login = b""
        self.message = b""


def _smtps_server(listener: socket.socket, context: ssl.SSLContext, session: _SmtpSession) -> None:
    """A stand-in SMTP submission server for one session over implicit TLS (smtps), the replies
    of RFC 5321 (4.2, 4.3.2) and RFC 4954 (AUTH) that curl's client needs: 220 greeting, 250
    EHLO offering AUTH PLAIN, 334 then 235 for the login (RFC 4616 PLAIN: NUL user NUL
    password), 250 to MAIL and RCPT, 354 to DATA then 250 after the lone ``.``, 221 to QUIT."""
    raw, _ = listener.accept()
    with context.wrap_socket(raw, server_side=True) as connection:
        stream = connection.makefile("rwb")

        def reply(text: bytes) -> None:
            stream.write(text)
            stream.flush()

        reply(b"220 test.example ESMTP\r\n")
        for line in stream:
            command = line.decode().rstrip("\r\n")
            session.commands.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                reply(b"250-test.example\r\n250 AUTH PLAIN\r\n")
            elif verb == "AUTH":
                initial = command.split(" ")[2:]
                if not initial:
                    reply(b"334 \r\n")
                    initial = [stream.readline().decode().strip()]
                session.login = base64.b64decode(initial[0])
                reply(b"235 2.7.0 accepted\r\n")
            elif verb == "DATA":
                reply(b"354 go ahead\r\n")
                for data in stream:
                    if data == b".\r\n":
                        break
                    session.message += data
                reply(b"250 2.0.0 queued\r\n")
            elif verb == "QUIT":
                reply(b"221 bye\r\n")
                return
            else:
                reply(b"250 ok\r\n")


@pytest.fixture
def smtps(tmp_path: Path) -> Iterator[tuple[str, Path, _SmtpSession]]:
    """The stand-in SMTP server on loopback with a self-signed certificate for 127.0.0.1: its
    URL, the certificate (curl trusts it through CURL_CA_BUNDLE) and what it received."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    name = "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        ["openssl", *request.split(), *name.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    session = _SmtpSession()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(
            target=_smtps_server, args=(listener, context, session), daemon=True
        )
        server.start()
        yield f"smtps://127.0.0.1:{listener.getsockname()[1]}", cert, session
        server.join(timeout=10)


def test_an_email_reaches_a_real_smtp_exchange_with_the_login_on_stdin(
    tmp_path: Path, smtps: tuple[str, Path, _SmtpSession]
) -> None:
    """The real curl against the stand-in server: TLS, the login (a password with a double quote
    and a backslash, escaped for curl's config line) arrives intact, every recipient once, the
    headers the script writes; the password is in no argv."""
    url, cert, session = smtps
    password = 'pa:ss"word\\with-quotes'
    stdout, argvs = _run(
        tmp_path,
        "notify_email.sh",
        {
            "SMTP_URL": url,
            "CURL_CA_BUNDLE": str(cert),
            "MAIL_FROM": "ci@acme.example",
            "MAIL_TO": "ops*@acme.example lead@acme.example",
            "SMTP_CREDENTIALS": f"ci-bot:{password}",
            "MESSAGE": "Deploy to development: deploy success\nimage ghcr.io/acme/webshop",
        },
    )
    assert "::warning::" not in stdout, stdout
    assert session.login == f"\0ci-bot\0{password}".encode()
    assert "MAIL FROM:<ci@acme.example>" in session.commands
    rcpt = [c for c in session.commands if c.startswith("RCPT")]
    assert rcpt == ["RCPT TO:<ops*@acme.example>", "RCPT TO:<lead@acme.example>"]
    headers, _, body = session.message.decode().partition("\r\n\r\n")
    assert "Subject: Deploy to development: deploy success" in headers.split("\r\n")
    assert "To: ops*@acme.example, lead@acme.example" in headers.split("\r\n")
    assert body.startswith("Deploy to development: deploy success")
    (argv,) = argvs
    assert not any("word" in arg for arg in argv), argv
