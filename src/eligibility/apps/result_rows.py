"""One result row per roster row: the output columns and their German headers, the cells of a
decided row and of an error row, the CSV block writer that formats a whole decided block at
once, and the typed view of a decision table's rows (`TableDecision`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from eligibility.decision.model import Decision
from eligibility.engine import Engine
from eligibility.io.csv_format import CsvFormat, neutralised_fields
from eligibility.io.rosters import InputRow, RosterInfo

VALUE_WORDS = {"de": {True: "ja", False: "nein", None: "unklar"}, "en": {True: "yes", False: "no", None: "unknown"}}


def columns_for(engine: Engine, entity: str | None, lang: str) -> list[str]:
    ent = engine.entity(entity)
    de = lang == "de"
    cols = ["zeile" if de else "row", ent.id_field or "id"]
    for oid in ent.outcome_order:
        cols += [oid, f"{oid}_{'grund' if de else 'reason'}"]
    cols += [
        "fehlende_angaben" if de else "missing",
        "fehler" if de else "errors",
        "regelwerk" if de else "ruleset",
        "regelwerk_sha256" if de else "ruleset_sha256",
    ]
    return cols


def german_headers(engine: Engine, entity: str | None, columns: list[str], info: RosterInfo | None = None) -> list[str]:
    """The CSV result's column names as the caseworker XLSX labels them (the id column
    as the input file names it)."""
    ent = engine.entity(entity)
    used = {fact: header for header, fact in info.columns.items()} if info and info.format != "jsonl" else {}
    fixed = {
        "zeile": "Zeile",
        "row": "Zeile",
        "fehlende_angaben": "Fehlende Angaben",
        "missing": "Fehlende Angaben",
        "fehler": "Fehler",
        "errors": "Fehler",
        "regelwerk": "Regelwerk",
        "ruleset": "Regelwerk",
        "regelwerk_sha256": "Regelwerk SHA-256",
        "ruleset_sha256": "Regelwerk SHA-256",
    }
    out = []
    for c in columns:
        base = c.rsplit("_", 1)[0] if c.endswith(("_grund", "_reason")) else None
        if c in ent.outcomes:
            out.append(ent.outcomes[c].spec.label.de)
        elif base in ent.outcomes:
            out.append(f"{ent.outcomes[base].spec.label.de}: Begründung")
        elif c == ent.id_field:
            out.append(used.get(c) or (ent.facts[c].aliases[0] if ent.facts[c].aliases else c))
        else:
            out.append(fixed.get(c, c))
    return out


def cell_value(value: Any, status: str, lang: str, german_numbers: bool) -> Any:
    if status == "not_in_force":
        return "nicht in Kraft" if lang == "de" else "not in force"
    if value is None or isinstance(value, bool):
        return VALUE_WORDS[lang][value]
    if isinstance(value, float) and german_numbers:
        return f"{Decimal(str(value)):.2f}".replace(".", ",")
    return value


def decision_row(
    number: int, decision: Decision, engine: Engine, lang: str, german_numbers: bool, xlsx: bool = False
) -> dict[str, Any]:
    ent = engine.entity(decision.entity)
    de = lang == "de"
    row: dict[str, Any] = {"zeile" if de else "row": number, ent.id_field or "id": decision.record_id or ""}
    for oid, o in decision.outcomes.items():
        v = o.value
        if xlsx and isinstance(v, (int, float)) and not isinstance(v, bool):
            row[oid] = v  # a number stays a number in Excel
        else:
            row[oid] = cell_value(v, o.status, lang, german_numbers)
        row[f"{oid}_{'grund' if de else 'reason'}"] = getattr(o.reason, lang)
    row["fehlende_angaben" if de else "missing"] = ", ".join(decision.missing)
    row["fehler" if de else "errors"] = "; ".join(getattr(e.message, lang) for e in decision.errors)
    row["regelwerk" if de else "ruleset"] = f"{decision.ruleset.name} {decision.ruleset.version}"
    row["regelwerk_sha256" if de else "ruleset_sha256"] = decision.ruleset.sha256
    return row


def error_row(row: InputRow, engine: Engine, entity: str | None, lang: str) -> dict[str, Any]:
    ent = engine.entity(entity)
    de = lang == "de"
    rid = ""
    if row.record is not None and ent.id_field:
        rid = str(row.record.get(ent.id_field) or "")
    out: dict[str, Any] = {"zeile" if de else "row": row.number, ent.id_field or "id": rid}
    out["fehler" if de else "errors"] = row.error if de else row.error_en
    out["regelwerk" if de else "ruleset"] = f"{engine.info.name} {engine.info.version}"
    out["regelwerk_sha256" if de else "ruleset_sha256"] = engine.info.sha256
    return out


UNDECIDABLE = (
    "Datensatz kann nicht entschieden werden: ein Datum liegt zu nahe am Ende des Kalenders (Jahr 9999) oder außerhalb",
    "record cannot be decided: a date lies too close to the end of the calendar (year 9999) or beyond",
)


def undecidable(row: InputRow) -> InputRow:
    """The row as an error row: the engine could not decide its record (a date arithmetic
    overflow). The record is kept so its id can still be written."""
    return dataclasses.replace(row, error=UNDECIDABLE[0], error_en=UNDECIDABLE[1])


def _record_id(row: InputRow, ent: Any) -> str | None:
    if row.record is None or not ent.id_field:
        return None
    v = row.record.get(ent.id_field)
    return None if v is None or v == "" else str(v)


def _unreadable(row: InputRow) -> bool:
    return row.record is None or row.error is not None


class CsvBlockWriter:
    """CSV text of a decided block, built column-wise: the cells of a row depend only on
    each outcome's (value, status, rule, assumption, missing facts), and a roster has few
    distinct combinations of those, so each combination's cells are formatted and quoted
    once and rows are joined in C. Byte for byte what the row writer writes (tested)."""

    def __init__(
        self, engine: Engine, entity: str | None, lang: str, german_numbers: bool, delimiter: str, lineterminator: str
    ) -> None:
        self.engine = engine
        self.ent = engine.entity(entity)
        self.lang = lang
        self.german_numbers = german_numbers
        self.delim = delimiter
        self.eol = lineterminator
        self.csv = CsvFormat(delimiter, lineterminator)
        self.reasons: dict[tuple[Any, ...], tuple[str, str]] = {}
        info = engine.info
        self.tail = self.delim + self.quote(f"{info.name} {info.version}") + self.delim + self.quote(info.sha256)

    def quote(self, text: str) -> str:
        return self.csv.quote(text)

    def block(self, table: Any, first: int) -> tuple[bytes, int, int]:
        """The block's lines in UTF-8 (each ending in the line terminator), its error and
        unknown counts."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from eligibility.text.render import short_reason

        n = len(table)
        if n == 0:
            return b"", 0, 0
        # Rows with the same outcome state over all outcomes have the same cells.
        per_outcome, firsts, inverse = outcome_groups(table, self.ent.outcome_order)
        segs: list[str] = []
        unknown_combo = np.zeros(len(firsts), dtype=bool)
        for j, row in enumerate(firsts.tolist()):
            parts: list[str] = []
            missing: set[str] = set()
            for oid, (v, st, r, a, m) in per_outcome:
                value, status, rule = v.values[v.codes[row]], st.values[st.codes[row]], r.values[r.codes[row]]
                asm, miss = a.values[a.codes[row]], m.values[m.codes[row]]
                rkey = (
                    oid,
                    value if not isinstance(value, float) else repr(value),
                    type(value),
                    status,
                    rule,
                    asm,
                    tuple(miss),
                )
                hit = self.reasons.get(rkey)
                if hit is None:
                    cell = cell_value(value, status, self.lang, self.german_numbers)
                    reason = getattr(short_reason(self.ent, oid, value, status, rule, asm, miss), self.lang)
                    hit = self.reasons[rkey] = (self.quote("" if cell is None else str(cell)), self.quote(reason))
                parts += hit
                missing.update(miss)
                if status == "unknown":
                    unknown_combo[j] = True
            parts.append(self.quote(", ".join(sorted(missing))))
            segs.append(self.delim.join(parts))
        errors = table.codes("errors" if self.lang == "de" else "errors_en")
        err_texts = [self.quote(t) + self.tail + self.eol for t in errors.values.tolist()]
        has_error = np.array([bool(t) for t in errors.values.tolist()], dtype=bool)[errors.codes]
        # Ids are the input's text: neutralised against formula injection like every cell.
        ids = neutralised_fields(_id_texts(table.array("record_id")), self.csv)
        # The lines are joined by Arrow in C++; the string array's data buffer is the text.
        lines = pc.binary_join_element_wise(
            pc.cast(pa.array(np.arange(first, first + n, dtype=np.int64)), pa.string()),
            ids,
            pc.take(pa.array(segs, type=pa.string()), pa.array(inverse)),
            pc.take(pa.array(err_texts, type=pa.string()), pa.array(errors.codes)),
            self.delim,
        )
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
        data = memoryview(lines.buffers()[2])[int(offsets[lines.offset]) : int(offsets[lines.offset + n])]
        unknown = int(np.count_nonzero(unknown_combo[inverse] & ~has_error))
        return bytes(data), int(np.count_nonzero(has_error)), unknown


def _id_texts(ids: np.ndarray) -> Any:
    """The record ids as an Arrow string array (None as null): converted in C where they are
    texts already (a CSV's ids), else each as its text."""
    import pyarrow as pa

    try:
        return pa.array(ids, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in ids.tolist()], type=pa.string())


def outcome_groups(table: Any, outcome_order: Sequence[str]) -> tuple[list[tuple[str, list[Any]]], Any, Any]:
    """A decision table's rows grouped by their state in every outcome (value, status, rule,
    assumption, missing facts): per outcome its coded columns, each group's first row, and
    each row's group. The writers format one row per group and repeat it."""
    n = len(table)
    per_outcome = []
    keys = []
    for oid in outcome_order:
        cs = [
            table.codes(name) for name in (oid, f"{oid}_status", f"{oid}_rule", f"{oid}_assumption", f"{oid}_missing")
        ]
        key = np.zeros(n, dtype=np.int64)
        for c in cs:
            key = key * max(1, len(c.values)) + c.codes
        per_outcome.append((oid, cs))
        keys.append(key)
    firsts, inverse = _group(keys)
    return per_outcome, firsts, inverse


def _group(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by equal keys in every column: each group's first row, and each row's
    group. Mixed-radix codes of the per-column groups while they fit in 62 bits."""
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    space = 1
    for key in keys:
        uniq, inverse = np.unique(key, return_inverse=True)
        space *= len(uniq)
        if space >= 1 << 62:
            _, firsts, inv = np.unique(np.stack(keys, axis=1), axis=0, return_index=True, return_inverse=True)
            return firsts, inv.reshape(-1)
        combined = combined * len(uniq) + inverse.reshape(-1)
    _, firsts, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return firsts, inverse.reshape(-1)


@dataclasses.dataclass
class _Msg:
    de: str
    en: str


@dataclasses.dataclass
class _Issue:
    message: _Msg


@dataclasses.dataclass
class _Outcome:
    value: Any
    status: str
    missing: list[str]
    rule: str | None


@dataclasses.dataclass
class TableDecision:
    """A row of the batch table shaped like the parts of a `Decision` that counts need."""

    record_id: str | None
    outcomes: dict[str, _Outcome]
    errors: list[_Issue]

    @property
    def missing(self) -> list[str]:
        return sorted({f for o in self.outcomes.values() for f in o.missing})
