"""`eligibility serve` in its own process on 127.0.0.1 for the service benchmarks: a free port,
wait for /healthz, a few seconds for the roster workers to warm up (not measured), and the
server ended afterwards. Only 127.0.0.1 is contacted."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence

import httpx


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextlib.contextmanager
def serving(extra: Sequence[str] = (), env: Mapping[str, str] | None = None, warm_seconds: float = 3) -> Iterator[str]:
    """The base URL of a running service started with `serve --port P --reload-seconds 0 EXTRA`."""
    port = free_port()
    cmd = [sys.executable, "-m", "eligibility", "serve", "--port", str(port), "--reload-seconds", "0", *extra]
    # stderr to a file, not a pipe: a pipe nobody reads would stall a chatty server mid-run.
    with tempfile.TemporaryFile() as errors:
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors, env=None if env is None else dict(env))
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
                if server.poll() is not None:
                    errors.seek(0)
                    raise SystemExit(f"server did not start: {errors.read().decode(errors='replace')[-2000:]}")
            else:
                raise SystemExit("server did not answer /healthz within 30 s")
            time.sleep(warm_seconds)  # the service warms its roster worker at startup; not part of the measurement
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)
