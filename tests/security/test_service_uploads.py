"""Issue 15, roster uploads: evaluated in a worker process off the event loop (so /healthz
answers during the largest allowed upload), within a time and a memory budget, and the
uploaded personal data removed on every path: success, failure, disconnect, shutdown."""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import Server, login
from rawhttp import head

LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def big_roster(tmp_path_factory) -> bytes:
    """A synthetic county roster just under the 10 MiB body limit (with the form around it)."""
    path = tmp_path_factory.mktemp("roster") / "gross.csv"
    subprocess.run(
        [sys.executable, "-m", "eligibility", "generate-roster", "--rows", "76000", "--out", str(path)],
        check=True,
        capture_output=True,
    )
    data = path.read_bytes()
    assert 9 * 1024 * 1024 < len(data) < LIMIT - 4096, len(data)
    return data


def upload(srv: Server, content: bytes, name: str = "liste.csv", what: str = "ergebnis") -> httpx.Response:
    client, csrf = login(srv)
    try:
        return client.post(
            "/liste",
            data={"stichtag": "15.09.2018", "ausgabe": what, "csrf": csrf},
            files={"datei": (name, content, "text/csv")},
            timeout=300,
        )
    finally:
        client.close()


def test_healthz_answers_while_the_largest_upload_is_evaluated(server, big_roster):
    answer: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: answer.append(upload(server, big_roster)))
    latencies = []
    worker.start()
    with httpx.Client(timeout=10) as client:
        while worker.is_alive():
            start = time.perf_counter()
            assert client.get(server.url + "/healthz").status_code == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.05)
    worker.join()
    assert answer[0].status_code == 200, answer[0].text[:500]
    assert answer[0].content[:2] == b"PK"
    assert len(latencies) > 10  # the upload took long enough to measure anything
    print(
        f"/healthz during a {len(big_roster) / 1024 / 1024:.1f} MB upload: {len(latencies)} requests, "
        f"median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    assert max(latencies) < 1.0  # bound generous for a shared machine; the measured value is printed
    assert server.leftovers() == []


def test_report_and_failure_leave_no_files(server):
    roster = (Path(__file__).resolve().parents[2] / "examples" / "roster_landkreis_beispiel.csv").read_bytes()
    r = upload(server, roster, what="bericht")
    assert r.status_code == 200 and "Zielgruppenbericht" in r.text
    assert server.leftovers() == []
    r = upload(server, b"PK\x03\x04 not really a spreadsheet", name="kaputt.xlsx")
    assert r.status_code == 422 and "Traceback" not in r.text
    assert "Die Liste kann nicht gelesen werden" in r.text or "abgebrochen" in r.text
    assert server.leftovers() == []
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_client_that_goes_away_mid_upload_leaves_no_files(server):
    client, csrf = login(server)
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    client.close()
    boundary = "b0undary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="datei"; filename="l.csv"\r\n\r\n'
    ).encode() + b"P-1;fluechtling\r\n" * 200_000
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(
        head(
            "POST",
            "/liste",
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(part) + 10_000),
                "Cookie": cookie,
            },
        )
        + part
    )
    time.sleep(0.5)
    sock.close()
    time.sleep(1.0)
    assert server.leftovers() == []
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_job_over_its_time_budget_is_ended_and_the_service_goes_on(tmp_path, big_roster):
    srv = Server(tmp_path, "--job-seconds", "1")
    try:
        # The report: the result file of this roster is written in under a second since the
        # block XLSX writer (session 5); the report takes some three seconds.
        r = upload(srv, big_roster, what="bericht")
        assert r.status_code == 422 and "länger als 1 s" in r.text
        assert srv.leftovers() == []
        small = (Path(__file__).resolve().parents[2] / "examples" / "roster_landkreis_beispiel.csv").read_bytes()
        r = upload(srv, small)  # a new worker takes the next job
        assert r.status_code == 200 and r.content[:2] == b"PK"
    finally:
        assert srv.terminate(), srv.log()


def test_a_job_over_its_memory_budget_is_refused(tmp_path, big_roster):
    srv = Server(tmp_path, "--job-memory-mb", "64")
    try:
        r = upload(srv, big_roster)
        assert r.status_code == 422 and "Traceback" not in r.text
        assert "Speicher" in r.text or "abgebrochen" in r.text, r.text[-800:]
        assert srv.leftovers() == []
        assert httpx.get(srv.url + "/healthz").status_code == 200
    finally:
        assert srv.terminate(), srv.log()


def test_sigterm_during_a_job_shuts_down_and_removes_the_upload(tmp_path, big_roster):
    srv = Server(tmp_path)
    worker = threading.Thread(target=lambda: _swallow(upload, srv, big_roster), daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while not [n for n in srv.leftovers() if n.startswith("eligibility-upload-")] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.leftovers(), "the upload never reached the worker"
    family = descendants(srv.pid)
    assert family  # the forkserver and its worker
    start = time.monotonic()
    assert srv.terminate(timeout=30), srv.log()
    print(f"SIGTERM during a roster job: down in {time.monotonic() - start:.1f} s")
    assert srv.leftovers(warm_up=True) == []
    deadline = time.monotonic() + 10
    while alive(family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(family), f"outlived the server: {alive(family)}"


def descendants(pid: int) -> list[int]:
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += [int(child), *descendants(int(child))]
    return out


def alive(pids: list[int]) -> list[str]:
    """The processes among `pids` still running (zombies, already dead, do not count)."""
    out = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        if "\nState:\tZ" not in status:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
    return out


def _swallow(fn, *args):
    # The server goes away mid-request: what this test does to it.
    with contextlib.suppress(httpx.HTTPError):
        fn(*args)
