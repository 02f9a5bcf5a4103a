"""Synthetic rosters for examples, tests and benchmarks: a fictional Landkreis with a
realistic mix (domain.md section 6), optionally with dirty rows. Deterministic by seed,
streaming, so 10^7 rows need no more memory than 10."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eligibility.io.csv_format import CsvFormat

GEMEINDEN = [
    "Musterstadt",
    "Beispielheim",
    "Neuhausen am Bach",
    "Talbach",
    "Oberfelden",
    "Unterfelden",
    "Kirchberg an der Aach",
    "Lindenau",
    "Rosenthal",
    "Steinach",
    "Wiesental",
    "Bergheim",
    "Mühlhausen im Tal",
    "Eichstetten",
    "Hohenwart",
    "Altdorf",
    "Sonnenbühl",
    "Buchau",
    "Waldkirchen",
    "Seefelden",
    "Hagenau",
    "Grünberg",
    "Ahornhausen",
    "Birkenfeld",
    "Tannweiler",
    "Fichtenau",
    "Erlenbach",
    "Weidenhof",
    "Espenried",
    "Ulmenstetten",
]
# Larger towns take more persons (weights roughly by population).
WEIGHTS = [18, 12, 9, 7, 6, 5, 5, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 1.5, 1.5, 1.5, 1.2, 1.2, 1, 1, 1, 1, 1]
KREIS = "Landkreis Beispiel"

GERMAN_HEADERS = {
    "person_id": "Personen-ID",
    "aufenthaltsstatus": "Aufenthaltsstatus",
    "aufenthaltstitel_datum": "Titel erteilt am",
    "aufnahme_uab_datum": "Aufnahme UAB",
    "zugang_bw_datum": "Zugang BW",
    "asylentscheidung_unanfechtbar_datum": "Asylentscheidung unanfechtbar",
    "gu_pflicht_ende_datum": "Ende GU-Pflicht",
    "unterbringung": "Unterbringung",
    "gemeinde": "Gemeinde",
    "kreis": "Kreis",
    "herkunftsland": "Herkunftsland",
    "familiennachzug": "Familiennachzug",
    "geboren_nach_zugang": "geboren nach Zugang",
    "beratung_beginn_datum": "Beratungsbeginn",
    "beratung_verlaengerung_begruendet": "Verlängerung begründet",
}
FIELDS = list(GERMAN_HEADERS)
EXTRA_COLUMN = "Bemerkung"  # a column the engine does not use: reported, never read

COUNTRIES = [
    ("SYR", 30),
    ("AFG", 15),
    ("IRQ", 12),
    ("ERI", 6),
    ("NGA", 6),
    ("GMB", 6),
    ("TUR", 5),
    ("IRN", 4),
    ("SOM", 3),
    ("PAK", 3),
    ("GEO", 2),
    ("DZA", 2),
    ("KOS", 1),
]


def _pick(rnd: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rnd.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def _day(rnd: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rnd.randrange(max(1, (end - start).days + 1)))


def person(rnd: random.Random, index: int, reference: dt.date) -> dict[str, Any]:
    """One plausible person record (typed values; None = event has not happened)."""
    # People displaced from Ukraine exist in a roster only from March 2022 on.
    ukr = reference >= dt.date(2022, 3, 15) and rnd.random() < 0.12
    if ukr:
        zugang = _day(rnd, dt.date(2022, 3, 1), min(reference, dt.date(2024, 12, 31)))
        status = _pick(rnd, [("schutz_24", 95), ("eingebuergert", 0), ("sonstiger_titel", 5)])
        country = "UKR"
    else:
        # Most arrivals in 2015 and early 2016 (about 185,000 in BW in 2015).
        zugang = _pick_period(rnd)
        status = _pick(
            rnd,
            [
                ("fluechtling", 30),
                ("subsidiaer", 14),
                ("gestattung", 14),
                ("duldung", 12),
                ("abschiebungsverbot", 5),
                ("asylberechtigt", 3),
                ("ausreisepflichtig", 3),
                ("aufnahme_22_23", 3),
                ("sonstiger_titel", 8),
                ("eingebuergert", 2),
            ],
        )
        country = _pick(rnd, [(c, float(w)) for c, w in COUNTRIES])
    familiennachzug = status == "sonstiger_titel" and rnd.random() < 0.7
    if familiennachzug:
        zugang = _day(rnd, dt.date(2016, 6, 1), dt.date(2020, 12, 31))
    geboren = (not ukr) and rnd.random() < 0.05
    aufnahme = zugang + dt.timedelta(days=rnd.randint(5, 90))
    titel = unanfechtbar = gu_ende = None
    if status in ("fluechtling", "subsidiaer", "asylberechtigt", "abschiebungsverbot"):
        unanfechtbar = aufnahme + dt.timedelta(days=rnd.randint(120, 900))
        titel = unanfechtbar + dt.timedelta(days=rnd.randint(10, 120))
    elif status in ("duldung", "ausreisepflichtig"):
        unanfechtbar = aufnahme + dt.timedelta(days=rnd.randint(200, 1200))
    elif status in ("sonstiger_titel", "schutz_24", "aufnahme_22_23", "eingebuergert"):
        titel = aufnahme + dt.timedelta(days=rnd.randint(10, 200))
    if status == "gestattung" and rnd.random() < 0.1:
        gu_ende = aufnahme + dt.timedelta(days=rnd.randint(100, 500))
    vu_end = min(d for d in (titel, unanfechtbar, gu_ende, _add_months(aufnahme, 24)) if d is not None)
    if ukr:
        vu_end = _add_months(aufnahme, 6)
    if vu_end > reference:
        housing = "vorlaeufig"
    else:
        housing = _pick(rnd, [("anschluss", 70), ("privat", 12), ("vorlaeufig", 18)])
    beratung = None
    if (housing in ("anschluss", "privat") or ukr) and rnd.random() < 0.65:
        beratung = _day(rnd, max(dt.date(2017, 7, 1), vu_end), max(dt.date(2017, 7, 2), reference))
    return {
        "person_id": f"LKB-{index:07d}",
        "aufenthaltsstatus": status,
        "aufenthaltstitel_datum": titel if titel and titel <= reference else None,
        "aufnahme_uab_datum": aufnahme,
        "zugang_bw_datum": zugang,
        "asylentscheidung_unanfechtbar_datum": unanfechtbar if unanfechtbar and unanfechtbar <= reference else None,
        "gu_pflicht_ende_datum": gu_ende if gu_ende and gu_ende <= reference else None,
        "unterbringung": housing,
        "gemeinde": rnd.choices(GEMEINDEN, weights=WEIGHTS)[0],
        "kreis": KREIS,
        "herkunftsland": country,
        "familiennachzug": familiennachzug,
        "geboren_nach_zugang": geboren,
        "beratung_beginn_datum": beratung if beratung and beratung <= reference else None,
        "beratung_verlaengerung_begruendet": rnd.random() < 0.15,
    }


def _pick_period(rnd: random.Random) -> dt.date:
    r = rnd.random()
    if r < 0.55:
        return _day(rnd, dt.date(2015, 6, 1), dt.date(2016, 2, 29))
    if r < 0.65:
        return _day(rnd, dt.date(2014, 1, 1), dt.date(2015, 5, 31))
    if r < 0.85:
        return _day(rnd, dt.date(2016, 3, 1), dt.date(2017, 12, 31))
    return _day(rnd, dt.date(2018, 1, 1), dt.date(2021, 12, 31))


def _add_months(d: dt.date, n: int) -> dt.date:
    from eligibility.lang.values import add_months

    return add_months(d, n)


DIRTY_KINDS = ["bad_date", "bad_status", "unknown_word", "missing_housing", "bad_bool", "empty_status"]


def dirty(rnd: random.Random, rec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A record spoiled the ways real exports are: impossible dates, typos, gaps."""
    kind = rnd.choice(DIRTY_KINDS)
    rec = dict(rec)
    if kind == "bad_date":
        rec["aufnahme_uab_datum"] = "31.02.2016"
    elif kind == "bad_status":
        rec["aufenthaltsstatus"] = "dulding"
    elif kind == "unknown_word":
        rec["aufenthaltstitel_datum"] = "unbekannt"
    elif kind == "missing_housing":
        rec["unterbringung"] = ""
    elif kind == "bad_bool":
        rec["familiennachzug"] = "vielleicht"
    else:
        rec["aufenthaltsstatus"] = ""
    return rec, kind


def records(
    n: int, seed: int = 1, reference: dt.date = dt.date(2018, 9, 15), dirty_rate: float = 0.0
) -> Iterator[dict[str, Any]]:
    rnd = random.Random(seed)
    for i in range(1, n + 1):
        rec = person(rnd, i, reference)
        if dirty_rate and rnd.random() < dirty_rate:
            rec, _ = dirty(rnd, rec)
        yield rec


def _german(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def write_roster(
    path: str | Path,
    n: int,
    seed: int = 1,
    reference: dt.date = dt.date(2018, 9, 15),
    dirty_rate: float = 0.0,
    style: str = "excel",
    broken_encoding_rows: int = 0,
) -> int:
    """Write a roster. style "excel": German Excel CSV (";", UTF-8 BOM, TT.MM.JJJJ, German
    headers, ja/nein) or XLSX by suffix; "plain": program CSV ("," UTF-8, ISO dates,
    field names) or JSON lines by suffix. Returns the number of rows written."""
    target = Path(path)
    suffix = target.suffix.lower()
    rnd = random.Random(seed + 7)
    broken_at = set(rnd.sample(range(1, n + 1), min(broken_encoding_rows, n))) if broken_encoding_rows else set()
    rows = records(n, seed, reference, dirty_rate)
    if suffix == ".jsonl":
        with target.open("w", encoding="utf-8", newline="\n") as fh:
            for rec in rows:
                fh.write(json.dumps({k: _plain(v) for k, v in rec.items()}, ensure_ascii=False) + "\n")
        return n
    if suffix == ".xlsx":
        import openpyxl

        from eligibility.io.rosters import _write_deterministic_zip

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("Personen")
        ws.append([GERMAN_HEADERS[f] for f in FIELDS] + [EXTRA_COLUMN])
        for rec in rows:
            ws.append([(_german(rec[f]) if isinstance(rec[f], bool) else rec[f]) for f in FIELDS] + [""])
        fixed = dt.datetime(2000, 1, 1)
        wb.properties.created = wb.properties.modified = fixed
        import io

        buf = io.BytesIO()
        wb.save(buf)
        _write_deterministic_zip(buf.getvalue(), target)
        return n
    german = style == "excel"
    with target.open("wb") as raw:
        if german:
            raw.write(b"\xef\xbb\xbf")
        header = [GERMAN_HEADERS[f] for f in FIELDS] + [EXTRA_COLUMN] if german else FIELDS
        raw.write(_csv_line(header, ";" if german else ","))
        for i, rec in enumerate(rows, start=1):
            cells = [(_german(rec[f]) if german else _plain_cell(rec[f])) for f in FIELDS]
            if german:
                cells.append("")
            if i in broken_at:
                # A row saved as Windows-1252 inside a UTF-8 file, as copy-and-paste makes.
                if german:
                    cells[-1] = "Überprüfung"
                else:
                    cells[FIELDS.index("gemeinde")] = "Mühlhausen im Tal"
                line = _csv_line(cells, ";" if german else ",").decode("utf-8").encode("cp1252")
            else:
                line = _csv_line(cells, ";" if german else ",")
            raw.write(line)
    return n


def _plain_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _csv_line(cells: list[str], delimiter: str) -> bytes:
    return CsvFormat(delimiter, "\r\n" if delimiter == ";" else "\n").line(cells).encode("utf-8")
