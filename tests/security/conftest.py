"""The real service on loopback: `eligibility serve` in a subprocess on a free port, with
its own temporary folder (so leftover upload files can be counted) and its log in a file.
Each server stops by itself at the end of its test module (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import contextlib

import httpx  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "buero-schluessel-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int) -> int:
    """Resident memory of a process now, from /proc (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kb(pid: int) -> int:
    """The server and its roster workers (children), kB."""
    total = rss_kb(pid)
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += tree_rss_kb(int(child))
    return total


class Server:
    def __init__(self, tmp: Path, *args: str, token: str | None = TOKEN, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "server.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ELIGIBILITY_TOKEN")}
        environ["TMPDIR"] = str(self.tmp)
        if token is not None:
            environ["ELIGIBILITY_TOKEN"] = token
        environ.update(env or {})
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eligibility", "serve", "--port", str(self.port), "--reload-seconds", "0", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environ,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server did not start: {self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not answer within 30 s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {TOKEN}"}

    def leftovers(self, warm_up: bool = False) -> list[str]:
        """What is left in the server's temporary folder: multiprocessing's own `pymp-*`
        folder (the forkserver socket) aside, and while running the workers' warm-up folder
        (a one-row roster of its own, no upload; it may still be at work after startup)."""
        skip = ("pymp-",) if warm_up else ("pymp-", "eligibility-warm-")
        return sorted(p.name for p in self.tmp.iterdir() if not p.name.startswith(skip))

    def terminate(self, timeout: float = 20) -> bool:
        """SIGTERM and wait: True for a graceful shutdown (the lifespan ran to its end; uvicorn
        then re-raises the signal, so the exit status is -SIGTERM by design)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        finally:
            self.stop()
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.log()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("server"), "--header-seconds", "2", "--body-seconds", "3")
    yield srv
    assert srv.terminate(), srv.log()
    assert srv.leftovers(warm_up=True) == []  # nothing of any upload outlives the server


def login(srv: Server) -> tuple[httpx.Client, str]:
    """A browser session: logged in, with the CSRF token of its forms."""
    import re

    client = httpx.Client(base_url=srv.url, follow_redirects=False, timeout=60)
    r = client.post("/anmelden", data={"schluessel": TOKEN, "weiter": "/"})
    assert r.status_code == 303, r.text
    page = client.get("/")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return client, match.group(1)
