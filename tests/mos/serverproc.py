"""Run ``sr4det mos serve`` in a subprocess on a free port and talk to it over real HTTP (helpers for tests)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit


class ServerProcess:
    """``sr4det mos serve --db DB --port 0`` as a child process; ``url`` is read from its first output line."""

    def __init__(self, db: Path, timeout: float = 60.0):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sr4det.cli", "mos", "serve", "--db", str(db), "--port", "0", "--request-threads", "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        found = threading.Event()

        def reader() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                if "serving MOS study" in line:
                    found.set()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("server did not start:\n" + "".join(self.lines))
        match = re.search(r"(http://[\d.]+:\d+)/", "".join(self.lines))
        self.url = match.group(1)
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port

    def request(self, method: str, path: str, payload=None, headers: dict | None = None) -> tuple[int, dict | bytes]:
        """Send ``path`` exactly as given (no client-side normalisation of ``..``)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            body = None if payload is None else json.dumps(payload)
            headers = {**({"Content-Type": "application/json"} if payload is not None else {}), **(headers or {})}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.getheader("Content-Type", "").startswith("application/json"):
                return resp.status, json.loads(data)
            return resp.status, data
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash or power-cut of the process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
