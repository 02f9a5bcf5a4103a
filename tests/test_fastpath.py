"""The fast paths give exactly what the exact paths give: Arrow and polars tables in
`decide_table`, the Arrow CSV reader against the Python one, and the column-wise CSV
writer against csv.writer."""

import csv
import datetime as dt
import io
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import FIELDS, person_records, reference_dates

from eligibility import Engine
from eligibility.apps.evaluate import evaluate_roster
from eligibility.apps.result_rows import CsvBlockWriter
from eligibility.apps.synth import GERMAN_HEADERS
from eligibility.io import csv_reader
from eligibility.io.csv_format import CsvFormat
from eligibility.io.rosters import read_csv, read_csv_blocks

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
FACTS = ENGINE.entity().facts
COLUMNS = ["person_id"] + list(FIELDS)

cells = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "unbekannt",
            "31.02.2016",
            "2016-02-29",
            "01.03.2016",
            "ja",
            "nein",
            "dulding",
            "GESTATTUNG",
            " duldung ",
            "SYR",
        ]
    ),
)


def _rows(table):
    return [tuple(r.items()) for r in table.rows()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(person_records(), min_size=1, max_size=30), reference_dates, st.data())
def test_arrow_and_polars_tables_equal_the_record_path(records, on, data):
    # A table has every column for every row: an absent value is an empty cell (None).
    spoil = data.draw(
        st.lists(st.tuples(st.integers(0, len(records) - 1), st.sampled_from(COLUMNS[1:]), cells), max_size=5)
    )
    rows = [{k: r.get(k) for k in COLUMNS} for r in records]
    for i, k, v in spoil:
        if isinstance(rows[i][k], (str, type(None))):
            rows[i][k] = v
    expected = _rows(ENGINE.decide_table(rows, on))
    columns = {k: [r[k] for r in rows] for k in COLUMNS}
    assert _rows(ENGINE.decide_table(columns, on)) == expected
    try:
        table = pa.table(columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return  # a column of mixed types is no Arrow table
    assert _rows(ENGINE.decide_table(table, on)) == expected
    assert _rows(ENGINE.decide_table(table, on, chunk_size=7)) == expected
    # Date columns as Arrow dates where every cell is a date or empty.
    typed = {}
    for k, v in columns.items():
        try:
            typed[k] = (
                pa.array([None if x is None else dt.date.fromisoformat(x) for x in v], pa.date32())
                if k.endswith("_datum")
                else table.column(k)
            )
        except (TypeError, ValueError):
            typed[k] = table.column(k)
    assert _rows(ENGINE.decide_table(pa.table(typed), on)) == expected
    try:
        import polars as pl
    except ImportError:
        return
    assert _rows(ENGINE.decide_table(pl.from_arrow(table), on)) == expected


def test_a_large_table_is_split_over_threads_and_keeps_order():
    records = [
        {"person_id": f"P{i}", "aufenthaltsstatus": "duldung" if i % 3 else "fluechtling", "unterbringung": "anschluss"}
        for i in range(60_000)
    ]
    table = ENGINE.decide_table(pa.Table.from_pylist(records), dt.date(2019, 1, 1))
    assert table.columns["record_id"] == [r["person_id"] for r in records]
    assert table.columns["prioritaet"] == ["hoch" if i % 3 == 0 else "niedrig" for i in range(60_000)]


def test_typed_arrow_dates_equal_date_strings():
    rows = [
        {
            "person_id": "a",
            "aufenthaltsstatus": "fluechtling",
            "unterbringung": "vorlaeufig",
            "aufnahme_uab_datum": "2016-01-01",
            "aufenthaltstitel_datum": None,
            "asylentscheidung_unanfechtbar_datum": "2016-07-28",
            "gu_pflicht_ende_datum": None,
        }
    ]
    on = dt.date(2016, 9, 1)
    typed = pa.table(
        {
            k: (
                pa.array([None if v is None else dt.date.fromisoformat(v) for v in [r[k] for r in rows]], pa.date32())
                if k.endswith("datum")
                else pa.array([r[k] for r in rows])
            )
            for k in rows[0]
        }
    )
    assert _rows(ENGINE.decide_table(typed, on)) == _rows(ENGINE.decide_table(rows, on))


# ---------------------------------------------------------------- CSV reading

line_kinds = st.sampled_from(
    [
        "record",
        "record",
        "record",
        "blank",
        "semicolons",
        "spaces",
        "few_fields",
        "many_fields",
        "quoted",
        "quoted_newline",
        "bad_bytes",
        "nul",
        "lone_cr",
        "cp1252",
        "unbalanced_quote",
        "unbalanced_quote_last",
        "newline_in_last_cell",
        "latin1_cell",
    ]
)


def _line(kind, i, record):
    cells = [record.get(f) or "" for f in COLUMNS]
    cells[0] = f"P{i:05d}"
    text = ";".join(str(c) for c in cells)
    if kind == "blank":
        return b"\r\n"
    if kind == "semicolons":
        return b";" * (len(COLUMNS) - 1) + b"\r\n"
    if kind == "spaces":
        return b" ; \t" + b";" * (len(COLUMNS) - 2) + b"\r\n"
    if kind == "few_fields":
        return ";".join(str(c) for c in cells[:5]).encode() + b"\r\n"
    if kind == "many_fields":
        return (text + ";x;y").encode() + b"\r\n"
    if kind == "quoted":
        return (f'"P{i:05d}";' + ";".join(str(c) for c in cells[1:])).encode() + b"\r\n"
    if kind == "quoted_newline":
        return (f'"P{i:05d}\r\nzwei"' + ";" + ";".join(str(c) for c in cells[1:])).encode() + b"\r\n"
    if kind == "bad_bytes":
        return text.encode().replace(b"P", b"P\xff", 1) + b"\r\n"
    if kind == "nul":
        return text.encode().replace(b"P", b"P\x00", 1) + b"\r\n"
    if kind == "lone_cr":
        return text.encode().replace(b"P", b"P\r", 1) + b"\r\n"
    if kind == "cp1252":
        return text.replace(f"P{i:05d}", f"Pä{i:05d}").encode() + b"\r\n"
    if kind == "unbalanced_quote":
        return (f'P{i:05d};"' + ";".join(str(c) for c in cells[1:])).encode() + b"\r\n"
    if kind == "unbalanced_quote_last":
        return (";".join(str(c) for c in cells[:-1]) + ';"' + str(cells[-1])).encode() + b"\r\n"
    if kind == "newline_in_last_cell":
        return (";".join(str(c) for c in cells[:-1]) + ';"Zeile 1\r\nZeile 2"').encode() + b"\r\n"
    if kind == "latin1_cell":  # a Windows-1252 line inside a UTF-8 file
        return (";".join(str(c) for c in cells[:-1]) + ";Mühlhausen").encode("cp1252") + b"\r\n"
    return text.encode() + b"\r\n"


def _exact(path):
    return [(r.number, r.record, r.error) for r in read_csv(path, FACTS)[1]]


def _blocks(path, block_rows):
    out = []
    for b in read_csv_blocks(path, FACTS, block_rows=block_rows)[1]:
        if b.rows is not None:
            out += [(r.number, r.record, r.error) for r in b.rows]
        else:
            lists = {k: v.to_pylist() for k, v in b.columns.items()}
            out += [(b.first + j, {k: v[j] for k, v in lists.items()}, None) for j in range(b.n)]
            assert len(next(iter(lists.values()))) == b.n
    return out


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(line_kinds, person_records()), max_size=40),
    st.integers(1, 900),
    st.integers(1, 9),
    st.booleans(),
)
def test_arrow_csv_blocks_read_what_the_exact_reader_reads(tmp_path, lines, block_bytes, block_rows, bom):
    body = b"".join(_line(kind, i, rec) for i, (kind, rec) in enumerate(lines))
    header = ";".join(GERMAN_HEADERS.get(f, f) for f in COLUMNS).encode() + b"\r\n"
    src = tmp_path / "in.csv"
    src.write_bytes((b"\xef\xbb\xbf" if bom else b"") + header + body)
    old = csv_reader.BLOCK_BYTES
    csv_reader.BLOCK_BYTES = block_bytes  # many small blocks: every kind of block boundary
    try:
        assert _blocks(src, block_rows) == _exact(src)
    finally:
        csv_reader.BLOCK_BYTES = old


def test_lines_with_broken_bytes_do_not_keep_the_rest_from_arrow():
    # The example roster has rows in the wrong encoding: only those take the exact reader.
    info, blocks = read_csv_blocks(ROOT / "examples" / "roster_landkreis_beispiel.csv", FACTS)
    blocks = list(blocks)
    exact = sum(b.n for b in blocks if b.rows is not None)
    assert sum(b.n for b in blocks) == 1500 and 0 < exact <= 5


# ---------------------------------------------------------------- CSV writing


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet=st.characters(codec="utf-8")), min_size=2, max_size=5),
    st.sampled_from([";", ","]),
    st.sampled_from(["\r\n", "\n"]),
)
def test_block_writer_quotes_so_that_csv_reads_the_fields_back(fields, delimiter, eol):
    w = CsvBlockWriter(ENGINE, None, "de", True, delimiter, eol)
    line = delimiter.join(w.quote(f) for f in fields) + eol
    assert line == CsvFormat(delimiter, eol).line(fields)
    # The ids' column form (Arrow kernels) quotes as the row form does.
    import pyarrow as pa

    from eligibility.io.cells import neutralise
    from eligibility.io.csv_format import neutralised_fields

    got = neutralised_fields(pa.array(fields, pa.string()), CsvFormat(delimiter, eol)).to_pylist()
    assert got == [w.quote(neutralise(f)) for f in fields]
    if all("\x00" not in f for f in fields):  # the csv module refuses NUL when reading
        assert next(csv.reader(io.StringIO(line, newline=""), delimiter=delimiter)) == fields


@pytest.mark.parametrize("field", ["a\rb", "\r", "a\nb", 'a"b', "a;b"])
def test_a_field_with_cr_lf_quote_or_delimiter_is_quoted_on_every_python(field):
    # Python < 3.13's csv.writer leaves a bare CR unquoted with "\n" lines; ours never does.
    assert CsvFormat(";", "\n").quote(field) == '"' + field.replace('"', '""') + '"'
    assert CsvFormat(";", "\n").quote("a b") == "a b"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_fast_csv_output_equals_the_row_writer_on_a_dirty_roster(tmp_path, lang):
    from eligibility.apps.evaluate import _table_rows
    from eligibility.apps.result_rows import columns_for
    from eligibility.apps.synth import write_roster
    from eligibility.io.rosters import RosterWriter, read_roster

    src = tmp_path / "in.csv"
    write_roster(src, 3000, seed=5, dirty_rate=0.05, broken_encoding_rows=3)
    on = dt.date(2019, 3, 1)
    fast = tmp_path / "fast.csv"
    summary = evaluate_roster(ENGINE, src, on, fast, lang=lang)
    info, rows = read_roster(src, FACTS)
    slow = tmp_path / "slow.csv"
    w = RosterWriter(slow, "csv", columns_for(ENGINE, None, lang), delimiter=";", bom=True)
    counts = {"error": 0, "unknown": 0, "decided": 0}
    chunk = list(rows)
    for out_row, state in _table_rows(ENGINE, chunk, on, None, lang, True, False):
        counts[state] += 1
        w.write(out_row)
    w.close()
    assert fast.read_bytes() == slow.read_bytes()
    assert (summary.errors, summary.unknown, summary.decided) == (counts["error"], counts["unknown"], counts["decided"])


def test_a_pandas_frame_equals_the_record_path():
    pd = pytest.importorskip("pandas")
    rows = [
        {
            "person_id": "a",
            "aufenthaltsstatus": "gestattung",
            "unterbringung": "vorlaeufig",
            "aufnahme_uab_datum": "2016-01-01",
            "aufenthaltstitel_datum": None,
            "herkunftsland": "SYR",
            "familiennachzug": True,
        },
        {
            "person_id": "b",
            "aufenthaltsstatus": "duldung",
            "unterbringung": None,
            "aufnahme_uab_datum": "31.02.2016",
            "aufenthaltstitel_datum": "2017-03-01",
            "herkunftsland": None,
            "familiennachzug": None,
        },
    ]
    on = dt.date(2018, 9, 15)
    frame = pd.DataFrame(rows)
    # pandas marks a missing value as NaN, None or NaT: all of them are empty cells.
    frame["zugang_bw_datum"] = pd.to_datetime(["2015-10-19", None])
    for r, d in zip(rows, (dt.date(2015, 10, 19), None)):
        r["zugang_bw_datum"] = d
    table = ENGINE.decide_table(frame, on)
    assert _rows(table) == _rows(ENGINE.decide_table(rows, on))
    assert list(table.to_pandas()["record_id"]) == ["a", "b"]


def test_fast_csv_output_for_a_record_type_with_computed_amounts(tmp_path):
    # Post applications compute amounts, so their table comes from the per-record path;
    # the CSV written from it is still the row writer's, byte for byte.
    from eligibility.apps.evaluate import _table_rows
    from eligibility.apps.result_rows import columns_for
    from eligibility.io.rosters import RosterWriter, read_roster

    src = tmp_path / "stellen.csv"
    src.write_text(
        "antragsteller_art;personen_stichtag_2017;stelleninhaber_qualifikation;vzae\n"
        "gemeinde;166;hochschule;1\ngemeinde;13;ausbildung;0,5\nlandkreis;;hochschule;x\n",
        encoding="utf-8",
    )
    on = dt.date(2018, 3, 1)
    fast = tmp_path / "fast.csv"
    evaluate_roster(ENGINE, src, on, fast, entity="stelle")
    facts = ENGINE.entity("stelle").facts
    slow = tmp_path / "slow.csv"
    w = RosterWriter(slow, "csv", columns_for(ENGINE, "stelle", "de"), delimiter=";", bom=True)
    for out_row, _ in _table_rows(ENGINE, list(read_roster(src, facts)[1]), on, "stelle", "de", True, False):
        w.write(out_row)
    w.close()
    assert fast.read_bytes() == slow.read_bytes()


def test_the_strip_class_is_exactly_what_python_strips():
    import pyarrow.compute as pc

    from eligibility.decision.records import STRIP_CLASS

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    matched = pc.match_substring_regex(pa.array(chars), rf"^{STRIP_CLASS}$").to_pylist()
    assert [c for c, m in zip(chars, matched) if m] == [c for c in chars if c.strip() == ""]


def test_equal_but_differently_typed_cells_are_converted_each_by_its_own_type():
    # True == 1 == 1.0 in Python; as cells they are "ja", "1" and no yes/no answer at all.
    records = [
        {"person_id": str(i), "aufenthaltsstatus": "duldung", "familiennachzug": v}
        for i, v in enumerate([True, 1.0, 1, "1", [1]])
    ]
    records.append({"person_id": "x", "herkunftsland": ["SYR"]})  # a list is no text, not even "['SYR']"
    on = dt.date(2019, 1, 1)
    table = ENGINE.decide_table(records, on)
    for rec, row in zip(records, table.rows()):
        d = ENGINE.decide(rec, on, explain=False)
        assert row["errors"] == "; ".join(e.message.de for e in d.errors)
    assert table.columns["errors"][1] and not table.columns["errors"][0]


# ---------------------------------------------------------------- dates: ASCII digits only, on every path

# Digits Python's int() and \d accept: ASCII, Arabic-Indic, Extended Arabic-Indic, Devanagari,
# fullwidth. Only the first may make a date (issue 15), and the record path (decide_data),
# the Arrow column path and the list-of-rows table path must agree on every mix.
DIGIT_SETS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "０１２３４５６７８９"]


@st.composite
def written_dates(draw: st.DrawFn) -> str:
    day = draw(st.dates(min_value=dt.date(2014, 1, 1), max_value=dt.date(2030, 12, 31)))
    plain = day.isoformat() if draw(st.booleans()) else f"{day:%d.%m.%Y}"
    out = []
    for ch in plain:
        if ch.isdigit():
            digits = draw(st.sampled_from(DIGIT_SETS) if draw(st.integers(0, 4)) == 0 else st.just(DIGIT_SETS[0]))
            ch = digits[int(ch)]
        out.append(ch)
    return "".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(written_dates(), min_size=1, max_size=12))
def test_dates_with_foreign_digits_are_refused_alike_on_the_record_and_column_paths(written):
    from eligibility.decision.records import parse_date

    rows = [
        {
            "person_id": f"P{i}",
            "aufenthaltsstatus": "gestattung",
            "unterbringung": "vorlaeufig",
            "aufnahme_uab_datum": w,
        }
        for i, w in enumerate(written)
    ]
    on = dt.date(2018, 9, 15)
    for w in written:
        assert (parse_date(w) is not None) == w.isascii()
    by_record = [ENGINE.decide_data(r, on, explain=False) for r in rows]
    for w, d in zip(written, by_record):
        assert bool(d["errors"]) == (not w.isascii()), w
        if d["errors"]:
            assert [e["code"] for e in d["errors"]] == ["date"]
    table = ENGINE.decide_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), on)
    assert _rows(table) == _rows(ENGINE.decide_table(rows, on))
    errors = [r.get("errors") or r.get("fehler") for r in table.rows()]
    assert [bool(e) for e in errors] == [not w.isascii() for w in written]
