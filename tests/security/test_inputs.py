"""No traceback from any input (issue 15): each hostile or broken input replayed through the
real CLI (a subprocess with a memory bound and a generous timeout) or the real app, asserting
the located message, exit code 2 or an error row/line, and no "Traceback"."""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "anerkannter_fluechtling.yaml"
ROSTER = ROOT / "examples" / "roster_landkreis_beispiel.csv"
MEMORY_BOUND = 3 * 1024**3  # address space of one CLI run; the readers need far less
TIMEOUT = 180


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))


def cli(*args: str | Path, cwd: Path | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "eligibility", *map(str, args)],
        capture_output=True,
        input=stdin.decode("utf-8", "surrogateescape") if stdin is not None else None,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_bounded,
        cwd=cwd,
        encoding="utf-8",
        errors="replace",
    )
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
    return r


def refused(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-1000:])
    for n in needles:
        assert n in r.stderr, (n, r.stderr[-1000:])


# ---------------------------------------------------------------- dates at the calendar's end


def test_check_on_the_last_day_of_the_calendar() -> None:
    refused(cli("check", EXAMPLE, "--on", "9999-12-31"), "--on: Stichtag nach dem 31.12.9899")
    # The last computable day itself decides; its "next change" horizon stops at the calendar's end.
    assert cli("check", EXAMPLE, "--on", "9899-12-31").returncode == 0


def test_timeline_of_a_record_with_a_date_in_year_9999(tmp_path: Path) -> None:
    far = tmp_path / "far.yaml"
    far.write_text(EXAMPLE.read_text(encoding="utf-8").replace("2015-11-03", "9999-12-31"), encoding="utf-8")
    refused(cli("timeline", far), "zugang_bw_datum: Datum nach dem 31.12.9899")
    refused(cli("timeline", EXAMPLE, "--to", "9999-12-31"), "--to: Datum nach dem 31.12.9899")
    refused(cli("timeline", EXAMPLE, "--from", "2020-01-01", "--to", "2019-01-01"), "--to liegt vor --from")


def test_upcoming_with_a_window_beyond_the_calendar() -> None:
    refused(cli("upcoming", ROSTER, "--within", "99999999d", "--on", "2018-09-15"), "--within")


# ---------------------------------------------------------------- person files


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("deep.json", '{"person_id": "X", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "zu tief verschachtelt"),
        ("deep.yaml", "person_id: X\nx: " + "[" * 100_000 + "]" * 100_000 + "\n", "zu tief verschachtelt"),
        (
            "deep_block.yaml",
            "person_id: X\nx:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(3000)),
            "zu tief verschachtelt",
        ),
        (
            "dup.json",
            '{"person_id": "X", "aufenthaltsstatus": "duldung", "aufenthaltsstatus": "fluechtling"}',
            "„aufenthaltsstatus“ kommt zweimal vor",
        ),
        (
            "dup.yaml",
            "person_id: X\naufenthaltsstatus: duldung\naufenthaltsstatus: fluechtling\n",
            "dup.yaml:3:1: kein gültiges YAML (Schlüssel „aufenthaltsstatus“ kommt zweimal vor)",
        ),
        ("alias.yaml", "person_id: &a X\nkreis: *a\n", "Anker und Aliase"),
        ("surrogate.json", '{"person_id": "S\\ud800T"}', "einzelnes UTF-16-Surrogat"),
    ],
)
def test_broken_person_files_are_refused_with_a_located_message(
    tmp_path: Path, name: str, content: str, needle: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    refused(cli("check", path, "--on", "2018-09-15"), needle)


def test_duplicate_keys_on_stdin_are_refused() -> None:
    body = b'{"person_id": "X", "aufenthaltsstatus": "duldung", "aufenthaltsstatus": "fluechtling"}'
    refused(cli("check", "-", "--on", "2018-09-15", stdin=body), "kommt zweimal vor")


# ---------------------------------------------------------------- spreadsheets


def _good_xlsx(tmp_path: Path) -> Path:
    out = tmp_path / "good.xlsx"
    r = cli("convert", ROSTER, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def _rewrite(src: Path, dst: Path, change) -> Path:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, change(info.filename, zin.read(info.filename)))
    return dst


def _ods(path: Path, rows: int, cols: int) -> Path:
    """An .ods whose one data row repeats one cell `cols` times, `rows` times over."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content'
        ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="T">'
        '<table:table-row><table:table-cell office:value-type="string"><text:p>person_id</text:p>'
        "</table:table-cell></table:table-row>"
        f'<table:table-row table:number-rows-repeated="{rows}">'
        f'<table:table-cell table:number-columns-repeated="{cols}" office:value-type="string">'
        "<text:p>x</text:p></table:table-cell>"
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell'
        ' table:number-columns-repeated="1024"/></table:table-row>'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
            "</manifest:manifest>",
        )
    return path


def test_an_ods_whose_repeated_cells_would_fill_the_memory_is_refused(tmp_path: Path) -> None:
    # 1.3 KB asking calamine for 95,000 x 1,000 cells aborted the process (Rust OOM, signal 6).
    bomb = _ods(tmp_path / "bombe.ods", 95_000, 1_000)
    assert bomb.stat().st_size < 2_000
    # One language at a time: German by default, English with --lang en.
    refused(cli("convert", bomb, "--out", tmp_path / "o.csv"), "reicht über 95.001.000 Zellen")
    refused(cli("convert", bomb, "--out", tmp_path / "o.csv", "--lang", "en"), "spans 95,001,000 cells")
    # Repeated empty cells and rows (as LibreOffice writes them to the sheet's end) are fine.
    small = _ods(tmp_path / "klein.ods", 3, 2)
    ok = cli("convert", small, "--out", tmp_path / "k.csv")
    assert ok.returncode == 0, ok.stderr


def test_broken_and_hostile_spreadsheets_are_refused_before_reading(tmp_path: Path) -> None:
    good = _good_xlsx(tmp_path)
    cases = {
        "leer.xlsx": (b"", "Tabellendatei ist leer (0 Bytes)"),
        "text.xlsx": (b"person_id;aufenthaltsstatus\nX;duldung\n", "keine gültige Tabellendatei"),
        "halb.xlsx": (good.read_bytes()[:3000], "Tabellendatei ist beschädigt"),
    }
    for name, (data, needle) in cases.items():
        (tmp_path / name).write_bytes(data)
        refused(cli("evaluate", tmp_path / name, "--on", "2018-09-15", "--out", tmp_path / "o.csv"), needle)
    dtd = _rewrite(
        good,
        tmp_path / "dtd.xlsx",
        lambda n, d: d.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "aaaa">]>', 1) if n == "xl/workbook.xml" else d,
    )
    refused(cli("evaluate", dtd, "--on", "2018-09-15", "--out", tmp_path / "o.csv"), "enthält eine DTD")
    # 1.6 KB that claims the whole Excel grid: refused under the memory bound, not read.
    dim = _rewrite(
        good,
        tmp_path / "dim.xlsx",
        lambda n, d: (
            re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', d) if "worksheets/" in n else d
        ),
    )
    refused(cli("evaluate", dim, "--on", "2018-09-15", "--out", tmp_path / "o.csv"), "A1:XFD1048576")
    # 5 KB with two cells, at A1 and XFD1048576, and no dimension: calamine would allocate the
    # dense range between them (it aborts under this bound); the pre-check refuses it first.
    far = _rewrite(
        good,
        tmp_path / "far.xlsx",
        lambda n, d: (
            (
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>person_id</t></is>'
                b'</c></row><row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
                b"</sheetData></worksheet>"
            )
            if "worksheets/" in n
            else d
        ),
    )
    refused(cli("evaluate", far, "--on", "2018-09-15", "--out", tmp_path / "o.csv"), "reicht bis Zelle XFD1048576")
    # And the good file still reads.
    assert cli("evaluate", good, "--on", "2018-09-15", "--out", tmp_path / "o.csv").returncode in (0, 1)


def test_the_archive_check_is_independent_of_any_reader(tmp_path: Path) -> None:
    from eligibility.io.archive_check import ArchiveLimits, ArchiveRefused, check_archive, dimension_cells

    good = _good_xlsx(tmp_path)
    check_archive(good)
    big = tmp_path / "ss.xlsx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != "xl/sharedStrings.xml":  # the result's own table, replaced below
                zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr("xl/sharedStrings.xml", b'<?xml version="1.0"?><sst><si><t>' + b"a" * 40_000 + b"</t></si></sst>")
    check_archive(big)
    small = ArchiveLimits(max_shared_strings_bytes=10_000)
    with pytest.raises(ArchiveRefused, match="Texttabelle") as info:
        check_archive(big, small)
    assert info.value.code == "shared_strings" and "shared-string" in info.value.en
    with pytest.raises(ArchiveRefused, match="ZIP-Bombe"):
        check_archive(big, ArchiveLimits(ratio_floor_bytes=1000, max_ratio=10))
    with pytest.raises(ArchiveRefused, match="Teile"):
        check_archive(big, ArchiveLimits(max_entries=3))
    with pytest.raises(ArchiveRefused, match="entpackt"):
        check_archive(big, ArchiveLimits(max_total_bytes=1000))
    utf16 = _rewrite(
        good,
        tmp_path / "u16.xlsx",
        lambda n, d: (
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><x/>'.encode("utf-16") if n == "docProps/app.xml" else d
        ),
    )
    with pytest.raises(ArchiveRefused, match="DTD"):
        check_archive(utf16)
    assert dimension_cells("A1:P1501") == 16 * 1501
    assert dimension_cells("A1") == 1
    assert dimension_cells("A1:XFE1") is None and dimension_cells("A0:B2") is None


def test_utf16_and_cr_only_csv_give_one_row_per_record(tmp_path: Path) -> None:
    lines = ROSTER.read_bytes().decode("utf-8-sig", errors="replace").splitlines()[:21]
    text = "\n".join(lines) + "\n"
    for name, data in {
        "u16.csv": text.encode("utf-16"),
        "u16le.csv": text.encode("utf-16-le"),
        "cr.csv": text.replace("\n", "\r").encode("utf-8"),
    }.items():
        out = tmp_path / f"{name}.jsonl"
        (tmp_path / name).write_bytes(data)
        r = cli("evaluate", tmp_path / name, "--on", "2018-09-15", "--out", out)
        assert r.returncode in (0, 1), r.stderr
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [x["row"] for x in rows] == list(range(1, 21))
        assert rows[0]["record_id"] == lines[1].split(";")[0]


# ---------------------------------------------------------------- JSON lines


def test_json_lines_give_an_error_row_for_each_broken_record_in_order(tmp_path: Path) -> None:
    good = {"person_id": "A", "aufenthaltsstatus": "fluechtling"}
    lines = [
        json.dumps(good).encode(),
        b'{"person_id": "B", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"person_id": "C", "person_id": "D"}',
        '{"person_id": "E", "gemeinde": "Göppingen"}'.encode("cp1252"),
        b'{"person_id": "F\\ud800"}',
        '{"person_id": "G", "aufnahme_uab_datum": "٢٠١٧-٠١-٠١"}'.encode(),
        '{"person_id": "H", "aufnahme_uab_datum": "０１.０２.２０１７"}'.encode(),
        json.dumps(dict(good, person_id="I")).encode(),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    r = cli("evaluate", src, "--on", "2018-09-15", "--out", out, "--allow-missing")
    assert r.returncode == 1, r.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [x["row"] for x in rows] == list(range(1, 9))
    msgs = [" ".join(e["message"]["de"] for e in x["errors"]) for x in rows]
    assert msgs[0] == "" and msgs[7] == ""
    assert "zu tief verschachtelt" in msgs[1]
    assert "„person_id“ kommt zweimal vor" in msgs[2]
    assert "nicht UTF-8-kodiert" in msgs[3] and rows[3]["record_id"] is None  # no guessed decoding
    assert "Surrogat" in msgs[4]
    assert "aufnahme_uab_datum: kein gültiges Datum" in msgs[5] and "aufnahme_uab_datum" in msgs[6]
    assert all(rows[i]["errors"][0]["message"]["en"] for i in range(1, 7))
    assert "\ufffd" not in out.read_text(encoding="utf-8")


# ---------------------------------------------------------------- XLSX output


def test_control_characters_in_ids_give_an_xlsx_that_opens_and_is_deterministic(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    src = tmp_path / "ctl.jsonl"
    src.write_text(
        '{"person_id": "A\\u0000B", "aufenthaltsstatus": "fluechtling", "gemeinde": "X\\u0001Y"}\n'
        '{"person_id": "V\\u000bW\\u001f\\u0008", "gemeinde": "\\uffff"}\n'
        '{"person_id": "T\\tU", "gemeinde": "Zeile\\nzwei"}\n',
        encoding="utf-8",
    )
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}.xlsx"
        r = cli("evaluate", src, "--on", "2018-09-15", "--out", out, "--allow-missing", "--keep", "all")
        assert r.returncode in (0, 1), r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    ws = openpyxl.load_workbook(tmp_path / "out0.xlsx").worksheets[0]
    header = [c.value for c in ws[1]]
    ids = [ws.cell(row=i, column=header.index("ID") + 1).value for i in (2, 3, 4)]
    assert ids == ["A\ufffdB", "V\ufffdW\ufffd\ufffd", "T\tU"]
    assert ws.cell(row=2, column=header.index("Gemeinde") + 1).value == "X\ufffdY"


def test_xlsx_text_replaces_every_character_xml_cannot_carry() -> None:
    from eligibility.io.cells import xlsx_text

    forbidden = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\ud800", "\udfff", "\ufffe", "\uffff"]
    for ch in forbidden:
        assert xlsx_text(f"a{ch}b") == "a\ufffdb", repr(ch)
    assert xlsx_text("a\tb\nc\rd") == "a\tb\nc\rd"
    assert xlsx_text("=1+1") == "'=1+1"


# ---------------------------------------------------------------- the service

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eligibility.service.app import create_app  # noqa: E402

CLIENT = TestClient(create_app(reload_seconds=None), raise_server_exceptions=False)
JSON = {"content-type": "application/json"}


def test_the_page_with_a_reference_date_in_year_9999() -> None:
    r = CLIENT.post("/pruefen", data={"stichtag": "31.12.9999", "aufenthaltsstatus": "fluechtling"})
    assert r.status_code == 422 and "Stichtag: Datum nach dem 31.12.9899" in r.text
    r = CLIENT.post("/pruefen", data={"stichtag": "31.12.9899", "aufenthaltsstatus": "fluechtling"})
    assert r.status_code == 200 and "Traceback" not in r.text


def test_decide_refuses_dates_beyond_the_calendar_duplicates_nesting_and_surrogates() -> None:
    r = CLIENT.post("/v1/decide", json={"record": {"person_id": "X"}, "on": "9999-12-31"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "on"
    r = CLIENT.post(
        "/v1/decide",
        content='{"record": {"person_id": "X", "aufenthaltsstatus": "duldung", "aufenthaltsstatus": "fluechtling"}}',
        headers=JSON,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "record.aufenthaltsstatus"
    r = CLIENT.post(
        "/v1/decide", content='{"record": {"person_id": "X"}, "on": "2018-01-01", "on": "2019-01-01"}', headers=JSON
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "on"
    deep = '{"record": {"person_id": "X", "x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    r = CLIENT.post("/v1/decide", content=deep, headers=JSON)
    assert 400 <= r.status_code < 500 and "Traceback" not in r.text
    r = CLIENT.post("/v1/decide", content='{"record": {"person_id": "S\\ud800T"}}', headers=JSON)
    assert r.status_code == 422 and "surrogate" in r.text
    r = CLIENT.post("/v1/decide", json={"record": {"person_id": "X", "zugang_bw_datum": "٢٠١٧-٠١-٠١"}})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "date"


def test_timeline_refuses_a_record_with_a_date_in_year_9999() -> None:
    r = CLIENT.post("/v1/timeline", json={"record": {"person_id": "X", "zugang_bw_datum": "9999-12-31"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "record.zugang_bw_datum"
    r = CLIENT.post("/v1/timeline", content='{"record": {"a": 1, "a": 2}}', headers=JSON)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "record.a"


def test_ndjson_batch_gives_an_error_line_per_broken_record_in_order() -> None:
    body = b"\n".join(
        [
            b'{"person_id": "A"}',
            b'{"person_id": "B\xff\xfe"}',
            b'{"person_id": "C", "person_id": "D"}',
            b'{"person_id": "E", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            b'{"person_id": "F\\udc00"}',
            b"{nope",
            b'{"person_id": "G"}',
        ]
    )
    r = CLIENT.post("/v1/decide/batch?on=2018-09-15", content=body, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200
    lines = [json.loads(x) for x in r.text.splitlines()]
    summary = lines.pop()["summary"]
    assert summary["records_in"] == summary["lines_out"] == 7 and summary["problems"] == 5
    assert [x["index"] for x in lines] == list(range(1, 8))
    codes = [x["errors"][0]["code"] if "problem" in x else None for x in lines]
    assert codes == [None, "encoding", "duplicate_key", "nesting", "encoding", "json", None]
    assert "\ufffd" not in r.text


def test_json_batch_gives_an_error_line_for_a_record_with_a_duplicate_key() -> None:
    body = '{"records": [{"person_id": "A"}, {"person_id": "B", "person_id": "C"}], "on": "2018-09-15"}'
    r = CLIENT.post("/v1/decide/batch", content=body, headers=JSON)
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert "problem" not in lines[0] and lines[1]["errors"][0]["code"] == "duplicate_key"
    assert lines[2]["summary"]["records_in"] == 2
    r = CLIENT.post("/v1/decide/batch", content='{"records": [], "on": "2018-01-01", "on": "2019-01-01"}', headers=JSON)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "on"
