"""A stand-in for one pod of the sample app, serving the ``app`` metric contract.

Why not the sample app itself: tests/pipeline/sample-app is TypeScript run from its compiled
output, so running it needs ``npm ci`` and ``tsc --build`` (tens of seconds, the npm registry)
before every tier run; this tier needs five short-lived pods, each started in well under a
second. The stand-in serves exactly what the sample app's server serves (apps/api/src/server.ts): ``GET
/healthz`` the health document, ``GET /metrics`` the request counter in the Prometheus text
format, and every answer but /metrics counted as ``http_requests_total{code, method}``. It
differs in what the scenarios need: any other path answers 200 (an app with more routes than
the sample's 404), and a ``broken`` release answers 503 there, as a release with a bad
dependency would (its /healthz says ``degraded``).

Run as a real process: ``python -m tests.analysis.stand_in PORT ok|broken 127.0.0.N``; it
listens on that loopback address only (each pod its own, as pods have their own IP) and stops
on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Final

METRIC: Final = "http_requests_total"


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_code_method: Counter[tuple[int, str]] = Counter()

    def add(self, code: int, method: str) -> None:
        with self.lock:
            self.by_code_method[(code, method)] += 1

    def exposition(self) -> str:
        lines = [
            f"# HELP {METRIC} Requests answered, by status code and method.",
            f"# TYPE {METRIC} counter",
        ]
        with self.lock:
            for (code, method), count in sorted(self.by_code_method.items()):
                lines.append(f'{METRIC}{{code="{code}",method="{method}"}} {count}')
        return "\n".join(lines) + "\n"


def serve(host: str, port: int, broken: bool) -> ThreadingHTTPServer:
    counts = _Counts()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the test reads Prometheus, not access logs

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/metrics":
                body = counts.exposition().encode()
                self._answer(200, body, "text/plain; version=0.0.4")
                return
            if self.path == "/healthz":
                counts.add(200, "GET")
                status = "degraded" if broken else "ok"
                body = json.dumps({"status": status, "version": "stand-in"}).encode()
                self._answer(200, body, "application/json")
                return
            code = 503 if broken else 200
            counts.add(code, "GET")
            self._answer(code, b"{}", "application/json")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str]) -> int:
    port, mode, host = int(argv[0]), argv[1], argv[2]
    if not host.startswith("127."):
        raise SystemExit("stand_in: loopback addresses only")
    server = serve(host, port, broken=mode == "broken")

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
