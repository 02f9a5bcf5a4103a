"""Issue 15, bounded work per request, replayed on the real service: the body limit holds
while the body arrives (chunked or not, for JSON, NDJSON, forms and uploads), the record cap
of a batch, and slow clients are cut off. Memory is read from /proc, not guessed."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import httpx
import pytest
from conftest import TOKEN, login, rss_kb
from rawhttp import Reader, head, repeat, send_chunked

LIMIT = 10 * 1024 * 1024
MB = 1024 * 1024
# The server answers 413 once its 10 MiB limit is passed; the bytes it holds for one request
# stay near that limit, so its RSS may grow by at most this much during a 300 MB attack
# (before issue 15 it grew from 60 to 981 MB).
RSS_GROWTH_BOUND_KB = 60 * 1024


class PeakRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss_kb(pid)
        self.done = False

    def run(self) -> None:
        while not self.done:
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done = True
        self.join()


@pytest.mark.parametrize(
    "path,ctype,chunk",
    [
        ("/v1/decide", "application/json", b'{"record": {"x": "' + b"a" * (1024 * 1024)),
        ("/v1/decide/batch", "application/x-ndjson", b'{"person_id": "X"}\n' * 50_000),
        ("/v1/decide/batch", "application/json", b" " * MB),
        ("/v1/timeline", "application/json", b" " * MB),
    ],
)
def test_a_300_mb_chunked_body_is_cut_at_the_limit(server, path, ctype, chunk):
    before = rss_kb(server.pid)
    with PeakRss(server.pid) as rss:
        reader, sent = send_chunked(
            server.port, path, {"Content-Type": ctype, "Authorization": f"Bearer {TOKEN}"}, repeat(chunk, 300 * MB)
        )
    assert reader.status == 413, reader.data[:300]
    assert b"Request body too large" in reader.body
    assert sent < 300 * MB  # the server stopped reading; it did not swallow the rest
    assert rss.peak - before < RSS_GROWTH_BOUND_KB, (before, rss.peak)
    print(f"{path} {ctype}: sent {sent / MB:.1f} MB before the cut, RSS {before // 1024} → peak {rss.peak // 1024} MB")


def test_a_declared_100_mb_upload_is_refused_before_reading(server):
    client, csrf = login(server)
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    client.close()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    reader = Reader(sock)
    reader.start()
    boundary = "xyzzy"
    sock.sendall(
        head(
            "POST",
            "/liste",
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(100 * MB),
                "Cookie": cookie,
            },
        )
    )
    with contextlib.suppress(OSError):
        sock.sendall(b"x" * MB)
    reader.join(30)
    sock.close()
    assert reader.status == 413 and b"at most 10485760 bytes" in reader.body


def test_a_chunked_100_mb_multipart_upload_and_form_are_cut(server):
    client, csrf = login(server)
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    client.close()
    boundary = "xyzzy"
    first = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="datei"; filename="l.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nperson_id;aufenthaltsstatus\r\n"
        ).encode()
    ]
    rows = repeat(b"P-1;fluechtling\r\n" * 60_000, 100 * MB)

    def chunks() -> bytes | None:
        return first.pop() if first else rows()

    before = rss_kb(server.pid)
    with PeakRss(server.pid) as rss:
        reader, sent = send_chunked(
            server.port,
            "/liste",
            {"Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": cookie},
            chunks,
        )
    assert reader.status == 413 and sent < 100 * MB
    assert rss.peak - before < RSS_GROWTH_BOUND_KB
    reader, sent = send_chunked(
        server.port,
        "/pruefen",
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        repeat(b"gemeinde=" + b"a" * MB, 50 * MB),
    )
    # The form parser refuses a field over 1 MiB (400) before the 10 MiB body limit (413)
    # comes into play; either way the body is not read to its end.
    assert reader.status in (400, 413) and sent < 50 * MB
    assert b"Traceback" not in reader.data
    assert server.leftovers() == []


def test_ndjson_over_the_record_cap_is_refused_before_the_first_line(server):
    body = b"{}\n" * 100_001
    r = httpx.post(
        server.url + "/v1/decide/batch?on=2018-09-15",
        content=body,
        headers={"content-type": "application/x-ndjson", **server.auth()},
        timeout=60,
    )
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Too many records" and "at most 100000" in r.json()["detail"]
    # At the cap it is answered, one line per record and the summary.
    r = httpx.post(
        server.url + "/v1/decide/batch?on=2018-09-15",
        content=b"{}\n" * 2_000,
        headers={"content-type": "application/x-ndjson", **server.auth()},
        timeout=60,
    )
    assert r.status_code == 200 and len(r.text.splitlines()) == 2_001


def test_invalid_utf8_in_ndjson_is_an_error_line(server):
    body = b'{"person_id": "U1"}\n{"person_id": "\xff\xfe"}\n{"person_id": "U3"}\n'
    r = httpx.post(
        server.url + "/v1/decide/batch?on=2018-09-15",
        content=body,
        headers={"content-type": "application/x-ndjson", **server.auth()},
    )
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x.get("index") for x in lines[:3]] == [1, 2, 3]
    assert lines[1]["errors"][0]["code"] == "encoding" and "\ufffd" not in r.text
    assert lines[3]["summary"]["problems"] == 1


def test_fifty_trickling_connections_are_cut_and_the_service_keeps_answering(server):
    # The server runs with --header-seconds 2 --body-seconds 3 (conftest).
    socks = []
    readers = []
    start = time.monotonic()
    for _i in range(50):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        reader = Reader(sock)
        reader.start()
        socks.append(sock)
        readers.append(reader)
    # 25 trickle the request head, 25 send a head and then trickle the body.
    for _i, sock in enumerate(socks[25:]):
        sock.sendall(head("POST", "/v1/decide", {"Content-Length": "1000", "Authorization": f"Bearer {TOKEN}"}))
    message = b"POST /v1/decide HTTP/1.1\r\nHost: x\r\n"
    for step in range(40):  # up to 20 s of trickling, one byte per connection every 0.5 s
        if all(r.closed_at is not None for r in readers):
            break
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.send(message[step % len(message) : step % len(message) + 1])
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
        time.sleep(0.5)
    closed = [r.closed_at - start for r in readers if r.closed_at is not None]
    for sock in socks:
        sock.close()
    assert len(closed) == 50, f"{50 - len(closed)} connections still held"
    slow_bodies = [r.status for r in readers[25:]]
    assert set(slow_bodies) == {408}
    print(f"50 trickling connections: all cut after {min(closed):.1f}–{max(closed):.1f} s")
    assert max(closed) < 15


def test_an_idle_connection_is_closed(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    reader = Reader(sock)
    start = time.monotonic()
    reader.start()
    reader.join(15)
    assert reader.closed_at is not None and reader.closed_at - start < 10
    sock.close()
