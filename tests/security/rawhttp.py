"""Raw HTTP/1.1 over a socket, for what httpx will not do on purpose: a chunked body that
goes on and on, a body that trickles, headers one byte at a time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable


class Reader(threading.Thread):
    """Collects everything the server sends until it closes (or resets) the connection."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.data = b""
        self.closed_at: float | None = None

    def run(self) -> None:
        try:
            while True:
                part = self.sock.recv(65536)
                if not part:
                    break
                self.data += part
        except OSError:
            pass
        self.closed_at = time.monotonic()

    @property
    def status(self) -> int | None:
        if not self.data.startswith(b"HTTP/1.1 "):
            return None
        return int(self.data[9:12])

    @property
    def body(self) -> bytes:
        return self.data.partition(b"\r\n\r\n")[2]


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_chunked(
    port: int,
    path: str,
    headers: dict[str, str],
    chunks: Callable[[], bytes | None],
    timeout: float = 60,
) -> tuple[Reader, int]:
    """POST with Transfer-Encoding: chunked; `chunks()` gives the next chunk or None to end.
    Returns the reader (status, body) and how many body bytes got out before the server cut."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    reader = Reader(sock)
    reader.start()
    sock.sendall(head("POST", path, dict(headers, **{"Transfer-Encoding": "chunked"})))
    sent = 0
    try:
        while reader.closed_at is None:
            chunk = chunks()
            if chunk is None:
                sock.sendall(b"0\r\n\r\n")
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
    except OSError:
        pass  # the server closed the connection: what we wanted
    reader.join(timeout)
    sock.close()
    return reader, sent


def repeat(chunk: bytes, total: int) -> Callable[[], bytes | None]:
    left = [total]

    def next_chunk() -> bytes | None:
        if left[0] <= 0:
            return None
        left[0] -= len(chunk)
        return chunk

    return next_chunk
