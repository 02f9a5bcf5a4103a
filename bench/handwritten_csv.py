"""The CSV → CSV peer of `eligibility evaluate`: the hand-written functions of
`bench/handwritten.py` reading a roster with the standard `csv` module and writing the same
columns the engine writes. Part of the benchmark only, not of the product.

What it does, to be a fair peer: reads the German Excel CSV the engine reads (UTF-8 with BOM,
`;`, the German headers of `apps/synth.py`, dates as DD.MM.YYYY, yes/no as ja/nein), decides
each row with `handwritten.decide`, and writes one line per row with the engine's columns in
the engine's dialect (BOM, `;`, CRLF, minimal quoting): row number, id, per outcome its value
word and a reason cell, missing facts, errors, rule set name and hash.

What it leaves out, said so: it knows no unknown facts (the roster must be fully known, so
"missing facts" and "errors" stay empty), it detects neither encoding, delimiter nor header
row, and its reason cell is one fixed text per outcome and value (a hand-written program has no
deciding rule to cite) where the engine writes the deciding rule's reason with its citations.
The reason texts are as long as the engine's, so both write about as many bytes."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from handwritten import decide

# The synthetic roster's German headers (apps/synth.GERMAN_HEADERS), as a program written
# for this one file would spell them.
HEADERS = {
    "Personen-ID": "person_id",
    "Aufenthaltsstatus": "aufenthaltsstatus",
    "Titel erteilt am": "aufenthaltstitel_datum",
    "Aufnahme UAB": "aufnahme_uab_datum",
    "Zugang BW": "zugang_bw_datum",
    "Asylentscheidung unanfechtbar": "asylentscheidung_unanfechtbar_datum",
    "Ende GU-Pflicht": "gu_pflicht_ende_datum",
    "Unterbringung": "unterbringung",
    "Gemeinde": "gemeinde",
    "Kreis": "kreis",
    "Herkunftsland": "herkunftsland",
    "Familiennachzug": "familiennachzug",
    "geboren nach Zugang": "geboren_nach_zugang",
    "Beratungsbeginn": "beratung_beginn_datum",
    "Verlängerung begründet": "beratung_verlaengerung_begruendet",
}
BOOLS = ("familiennachzug", "geboren_nach_zugang", "beratung_verlaengerung_begruendet")
OUTCOMES = ("anschlussunterbringung", "aub_berechtigt_in_gu", "integrationsmanagement", "lastenausgleich", "prioritaet")
WORDS = {True: "ja", False: "nein"}
# One reason per outcome and value, about as long as the engine's reason texts: both files
# have 1,030-1,060 bytes a row.
_CITES = (
    " (Regelwerk Pakt für Integration, siehe Begründung im Bescheid; § 9, § 18 FlüAG; § 29d FAG BW [Gesetz];"
    " VwV Integrationsmanagement vom 11.12.2017)"
)
REASONS = {
    (oid, value): f"{oid}: {WORDS.get(value, value) if not isinstance(value, str) else value}{_CITES}"
    for oid in OUTCOMES
    for value in (True, False, "hoch", "normal", "niedrig")
}


def _date(cell: str) -> dt.date | None:
    """DD.MM.YYYY as written by German Excel; empty: the event has not happened."""
    if not cell:
        return None
    return dt.date(int(cell[6:10]), int(cell[3:5]), int(cell[0:2]))


def evaluate_csv(src: str | Path, on: dt.date, dst: str | Path, ruleset: str, sha256: str) -> int:
    """Decide every row of `src` on `on` into `dst`; returns the number of rows."""
    n = 0
    with (
        open(src, encoding="utf-8-sig", newline="") as f_in,
        open(dst, "w", encoding="utf-8-sig", newline="") as f_out,
    ):
        reader = csv.reader(f_in, delimiter=";")
        names = [HEADERS.get(h) for h in next(reader)]
        dates = [i for i, name in enumerate(names) if name and name.endswith("_datum")]
        bools = [i for i, name in enumerate(names) if name in BOOLS]
        keep = [(i, name) for i, name in enumerate(names) if name]
        writer = csv.writer(f_out, delimiter=";", lineterminator="\r\n")
        header = ["zeile", "person_id"]
        for oid in OUTCOMES:
            header += [oid, f"{oid}_grund"]
        writer.writerow([*header, "fehlende_angaben", "fehler", "regelwerk", "regelwerk_sha256"])
        for number, cells in enumerate(reader, 1):
            values: list[Any] = list(cells)
            for i in dates:
                values[i] = _date(cells[i])
            for i in bools:
                values[i] = cells[i] == "ja"
            record = {name: values[i] for i, name in keep}
            got = decide(record, on)
            line: list[Any] = [number, record["person_id"]]
            for oid in OUTCOMES:
                v = got[oid]
                line += [WORDS.get(v, v), REASONS[(oid, v)]]
            line += ["", "", ruleset, sha256]
            writer.writerow(line)
            n = number
    return n
