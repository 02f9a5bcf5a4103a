"""`CaseworkerResult` is the `evaluate` result for people, written by `xlsx_writer.XlsxSheet`:
German headers (or the codes, for programs), the chosen input columns, per outcome its word
and the reason with its citation, the questions to ask, the field errors in the row's own
words. A decided block is written column-wise: each column's cell XML per distinct value,
the rows joined and numbered in C (`write_columns`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eligibility.io.xlsx_writer import (
    _PLAIN,
)
from eligibility.io.xlsx_writer import (
    DATE_FORMAT as DATE_FORMAT,
)
from eligibility.io.xlsx_writer import (
    FIXED_CREATED as FIXED_CREATED,
)
from eligibility.io.xlsx_writer import (
    MAX_WIDTH as MAX_WIDTH,
)
from eligibility.io.xlsx_writer import (
    WIDTH_SAMPLE as WIDTH_SAMPLE,
)
from eligibility.io.xlsx_writer import (
    XlsxSheet as XlsxSheet,
)

# ---------------------------------------------------------------- caseworker result


def xlsx_cell(spec: Any, value: Any) -> Any:
    """An input value as an XLSX cell: a readable date of a date field becomes a real
    date; anything else is written as it is (text neutralised by the sheet)."""
    if isinstance(value, str) and getattr(spec, "type", None) == "date" and value.strip():
        from eligibility.decision.records import parse_date

        d = parse_date(value)
        return d if d is not None else value
    return value


# ---------------------------------------------------------------- caseworker result


WORDS = {True: "ja", False: "nein"}
UNKNOWN_WORD = "noch offen"
ERROR_WORD = "Fehler"
NOT_IN_FORCE_WORD = "nicht in Kraft"


@dataclasses.dataclass(frozen=True)
class ResultColumns:
    """Which columns the caseworker result has, and their headers."""

    keep: tuple[str, ...]  # input facts copied in
    codes: bool  # headers as field and outcome codes (for programs) instead of German labels
    outcomes: tuple[str, ...]


def parse_keep(values: Sequence[str], facts: Mapping[str, Any], id_field: str | None) -> tuple[str, ...]:
    """`--keep` values → fact names, in schema order for `all`. Accepts field names and
    the schema's German labels and aliases."""
    from eligibility.io.headers import norm_header as _norm

    default = tuple(f for f in (id_field, "gemeinde", "kreis") if f and f in facts)
    if not values:
        return default
    if any(v.strip().lower() in ("all", "alle") for v in values):
        return tuple(facts)
    lookup: dict[str, str] = {}
    for name, spec in facts.items():
        lookup[_norm(name)] = name
        lookup.setdefault(_norm(spec.label.de), name)
        for alias in spec.aliases:
            lookup.setdefault(_norm(alias), name)
    out: list[str] = [id_field] if id_field and id_field in facts else []
    for v in values:
        field = lookup.get(_norm(v))
        if field is None:
            raise ValueError(f"--keep: unbekannte Spalte '{v}' (erlaubt: Feldnamen, Spaltennamen oder 'all')")
        if field not in out:
            out.append(field)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class _Groups:
    """A decided table's rows grouped by their outcomes: per group its cells' template,
    their texts (for the widths) and whether an outcome is open; per row its group and
    the code of its field errors."""

    templates: list[str]
    texts: list[list[tuple[int, str]]]
    unknown: list[bool]
    inverse: list[int]
    err_values: list[str]
    err_codes: list[int]


class CaseworkerResult:
    """The `evaluate` result as a caseworker reads it, one row per input row, in order."""

    def __init__(
        self,
        path: str | Path,
        engine: Any,
        entity: str | None,
        keep: Sequence[str],
        codes: bool,
        on: dt.date,
        source_name: str,
        headers: Mapping[str, str] | None = None,
        row_offset: int = 1,
    ) -> None:
        """`row_offset`: added to the data row number for "Zeile" — 1 for a spreadsheet or
        CSV (the header is row 1), 0 for JSON lines (line n is record n)."""
        self.engine = engine
        self.ent = engine.entity(entity)
        self.keep = list(keep)
        self.codes = codes
        self.on = on
        self.source_name = source_name
        self.headers = dict(headers or {})  # fact -> the header the input file used
        self.row_offset = row_offset
        self.rows = 0
        self.decided = 0
        self.unknown = 0
        self.errors = 0
        facts = self.ent.facts
        cols: list[str] = ["zeile" if codes else "Zeile"]
        for f in self.keep:
            cols.append(
                f
                if codes
                else (self.headers.get(f) or (facts[f].aliases[0] if facts[f].aliases else facts[f].label.de))
            )
        for oid in self.ent.outcome_order:
            label = self.ent.outcomes[oid].spec.label.de
            cols += [oid, f"{oid}_grund"] if codes else [label, f"{label}: Begründung"]
        cols += (
            ["fragen", "hinweise", "regelwerk", "regelwerk_sha256"]
            if codes
            else ["Zu klären", "Hinweise", "Regelwerk", "Regelwerk SHA-256"]
        )
        self.columns = cols
        id_field = self.ent.id_field
        self.sheet = XlsxSheet(path, cols, unique=tuple(1 + i for i, f in enumerate(self.keep) if f == id_field))
        # The questions and the hints are sentences a caseworker reads: wide from the start,
        # whatever the first rows hold (many rows leave them empty).
        for j in (len(cols) - 4, len(cols) - 3):
            self.sheet._widths[j] = MAX_WIDTH
        info = engine.info
        self._ruleset = f"{info.name} {info.version}"
        self._sha = info.sha256
        self._sources: dict[tuple[str, str | None, bool], str | None] = {}

    def source_of(self, oid: str, rule_id: str | None, status: str) -> str | None:
        """The citation of the rule that decided, or of the outcome's default."""
        # An open outcome has no deciding rule: no citation (the key keeps it apart from
        # an outcome decided by the default, which has no rule id either).
        key = (oid, rule_id, status == "unknown")
        if key not in self._sources:
            oc = self.ent.outcomes[oid]
            rule = next((r for r in oc.rules if r.id == rule_id), None) if rule_id else None
            if status == "unknown":
                src = None
            elif rule is not None:
                src = rule.spec.source
            elif status != "unknown" and oc.spec.default is not None:
                src = oc.spec.default.source
            else:
                src = None
            self._sources[key] = str(src) if src else None
        return self._sources[key]

    def word(self, oid: str, value: Any, status: str) -> Any:
        if status == "unknown":
            return UNKNOWN_WORD
        if status == "not_in_force":
            return NOT_IN_FORCE_WORD
        if isinstance(value, bool):
            return WORDS[value]
        if isinstance(value, str):
            from eligibility.text.render import value_text

            return value_text(self.ent, oid, value, "de")
        return value  # a number stays a number

    def questions(self, missing: Sequence[str]) -> str:
        facts = self.ent.facts
        # One line: a cell's line breaks show only with wrapping, which would make rows tall.
        return " · ".join(f"{facts[f].question.de}" for f in missing if f in facts)

    def hints(self, record: Mapping[str, Any] | None, errors: str) -> str:
        """Field errors in the row's own words: the header the file used and the value
        it holds (the user's own data, in the user's own file; never logged)."""
        out = []
        for part in errors.split("; ") if errors else []:
            field, sep, message = part.partition(": ")
            if sep and record is not None and field in self.ent.facts:
                header = self.headers.get(field) or self.ent.facts[field].label.de
                raw = record.get(field)
                shown = raw.isoformat() if isinstance(raw, dt.date) else str(raw)
                if raw is None or shown == "":
                    out.append(f"{header}: {message}")
                elif message.startswith("kein") or message.startswith("nicht"):
                    out.append(f"{header}: '{shown}' ist {message}")
                else:
                    out.append(f"{header}: '{shown}' – {message}")
            else:
                out.append(part)
        return "; ".join(out)

    def _kept(self, record: Mapping[str, Any] | None) -> list[Any]:
        out: list[Any] = []
        for f in self.keep:
            out.append(xlsx_cell(self.ent.facts[f], record.get(f) if record is not None else None))
        return out

    def write_error(self, number: int, record: Mapping[str, Any] | None, reason: str) -> None:
        """A row that could not be read or decided: every outcome "Fehler", the reason."""
        self.rows += 1
        self.errors += 1
        cells: list[Any] = [number + self.row_offset, *self._kept(record)]
        for _ in self.ent.outcome_order:
            cells += [ERROR_WORD, ""]
        cells += ["", reason, self._ruleset, self._sha]
        self.sheet.write(cells)

    def write_decided(
        self,
        number: int,
        record: Mapping[str, Any] | None,
        outcomes: Sequence[tuple[str, Any, str, str | None, str, Sequence[str]]],
        errors: str,
    ) -> None:
        """`outcomes`: per outcome (id, value, status, rule, reason text, missing facts)."""
        self.rows += 1
        cells: list[Any] = [number + self.row_offset, *self._kept(record)]
        missing: list[str] = []
        unknown = False
        for oid, value, status, rule, reason, miss in outcomes:
            cells.append(self.word(oid, value, status))
            src = self.source_of(oid, rule, status)
            cells.append(f"{reason} [{src}]" if src and src not in reason else reason)
            for f in miss:
                if f not in missing:
                    missing.append(f)
            unknown = unknown or status == "unknown"
        if errors:
            self.errors += 1
        elif unknown:
            self.unknown += 1
        else:
            self.decided += 1
        cells += [self.questions(sorted(missing)), self.hints(record, errors), self._ruleset, self._sha]
        self.sheet.write(cells)

    def write_table(
        self,
        table: Any,
        rows: Sequence[tuple[int, Sequence[Any], Any, str | None]],
        reason_of: Any,
        record_at: Any = None,
    ) -> None:
        """A decided block, in input order. `rows`: per input row (number, kept values,
        the record — or its index for `record_at`, which builds it only when a hint needs
        it —, error or None); rows without error are the table's rows, in order. Runs of
        rows without error go to `write_columns`' block path; an error row is written by
        `write_error`."""
        groups = self._groups(table, reason_of)
        run: list[tuple[int, Sequence[Any], Any]] = []
        t = 0

        def flush() -> None:
            nonlocal t, run
            if not run:
                return
            records = [r for _, _, r in run]

            def record_of(k: int) -> Any:
                rec = records[k]
                return record_at(rec) if record_at is not None and isinstance(rec, int) else rec

            kept_cols = [list(c) for c in zip(*[k for _, k, _ in run])] if self.keep else []
            self._write_run(groups, [number for number, _, _ in run], kept_cols, t, record_of)
            t += len(run)
            run = []

        for number, kept, record, error in rows:
            if error is not None:
                flush()
                if record_at is not None and isinstance(record, int):
                    record = record_at(record)
                self.write_error(number, record, error)
            else:
                run.append((number, kept, record))
        flush()

    def write_columns(
        self, table: Any, first: int, kept_cols: Sequence[Sequence[Any]], reason_of: Any, record_at: Any
    ) -> None:
        """A decided block of `len(table)` rows numbered from `first`, every row decided;
        `kept_cols`: per kept fact its cells; `record_at(i)` builds row i's record (only
        rows whose hints need it)."""
        self._write_run(self._groups(table, reason_of), range(first, first + len(table)), kept_cols, 0, record_at)

    def _groups(self, table: Any, reason_of: Any) -> _Groups:
        """The table's rows grouped by their outcomes (as the CSV block writer groups them):
        per group the template of its outcome and question cells, built once."""
        from eligibility.apps.result_rows import outcome_groups

        sheet = self.sheet
        first_col = 1 + len(self.keep)
        if not len(table):
            return _Groups([], [], [], [], [""], [])
        per_outcome, firsts, inverse = outcome_groups(table, self.ent.outcome_order)
        templates: list[str] = []
        texts_of: list[list[tuple[int, str]]] = []
        unknown_of: list[bool] = []
        for row in firsts.tolist():
            texts: list[tuple[int, str]] = []
            missing: list[str] = []
            unknown = False
            j = first_col
            for oid, (v, st, r, a, m) in per_outcome:
                value, status, rule = v.values[v.codes[row]], st.values[st.codes[row]], r.values[r.codes[row]]
                asm, miss = a.values[a.codes[row]], list(m.values[m.codes[row]])
                reason = reason_of(oid, value, status, rule, asm, miss)
                src = self.source_of(oid, rule, status)
                texts.append((j, self.word(oid, value, status)))
                texts.append((j + 1, f"{reason} [{src}]" if src and src not in reason else reason))
                missing += [f for f in miss if f not in missing]
                unknown = unknown or status == "unknown"
                j += 2
            texts.append((j, self.questions(sorted(missing))))
            templates.append("".join(sheet.cell_xml(c, t) for c, t in texts))
            texts_of.append(texts)
            unknown_of.append(unknown)
        errors = table.codes("errors")
        return _Groups(templates, texts_of, unknown_of, inverse.tolist(), errors.values.tolist(), errors.codes.tolist())

    def _kept_templates(self, j: int, spec: Any, values: Sequence[Any]) -> list[str]:
        """The cell templates of kept column j: per distinct value once, mapped in C; an id
        column (nearly all values distinct) of plain ids straight from one format string."""
        sheet = self.sheet
        if j in sheet._xml.unique:
            try:
                plain = all(map(_PLAIN.match, values)) and max(map(len, values), default=0) <= 32767
            except TypeError:  # not all text
                plain = False
            if plain:
                letter = sheet._xml.letters[j]
                return list(map(f'<c r="{letter}\x00" t="inlineStr"><is><t>{{}}</t></is></c>'.format, values))
            return [sheet.cell_xml(j, xlsx_cell(spec, v)) for v in values]
        distinct = dict.fromkeys(values)
        kinds = {type(v) for v in distinct}
        if bool in kinds and kinds & {int, float}:
            # True == 1, but one is "ja" and the other 1: keyed by type as well.
            memo: dict[tuple[type, Any], str] = {}
            out = []
            for v in values:
                key = (type(v), v)
                if key not in memo:
                    memo[key] = sheet.cell_xml(j, xlsx_cell(spec, v))
                out.append(memo[key])
            return out
        by_value = {v: sheet.cell_xml(j, xlsx_cell(spec, v)) for v in distinct}
        return list(map(by_value.__getitem__, values))

    def _write_run(
        self, g: _Groups, numbers: Sequence[int], kept_cols: Sequence[Sequence[Any]], t0: int, record_of: Any
    ) -> None:
        """Rows t0.. of a table, none with a reading error, as one piece of sheet XML: each
        column's cell templates come from its distinct values, the rows' templates are
        joined from the columns and numbered with `str.format`, all in C."""
        n = len(numbers)
        if not n:
            return
        sheet = self.sheet
        cols = len(self.columns)
        groups = g.inverse[t0 : t0 + n]
        errs = list(map(g.err_values.__getitem__, g.err_codes[t0 : t0 + n]))
        err_rows = [k for k, e in enumerate(errs) if e]
        hints_col = cols - 3
        hint_tpls: Any = itertools.repeat("", n)
        hints: dict[int, str] = {}
        if err_rows:
            hint_list = [""] * n
            for k in err_rows:
                h = hints[k] = self.hints(record_of(k), errs[k])
                hint_list[k] = sheet.cell_xml(hints_col, h) if h else ""
            hint_tpls = hint_list
        keep_facts = [self.ent.facts[f] for f in self.keep]
        kept_tpls = [
            self._kept_templates(1 + c, spec, vals) for c, (spec, vals) in enumerate(zip(keep_facts, kept_cols))
        ]
        # The counts: an error row counts as error, else a row with an open outcome as unknown.
        unknown_rows = sum(map(g.unknown.__getitem__, groups))
        unknown_errors = sum(g.unknown[groups[k]] for k in err_rows)
        self.rows += n
        self.errors += len(err_rows)
        self.unknown += unknown_rows - unknown_errors
        self.decided += n - len(err_rows) - (unknown_rows - unknown_errors)
        # The widths are measured on the first WIDTH_SAMPLE rows, as the row-wise path does.
        if sheet.count < WIDTH_SAMPLE:
            sheet.measure(cols - 2, self._ruleset)
            sheet.measure(cols - 1, self._sha)
            for k in range(min(n, WIDTH_SAMPLE - sheet.count)):
                for c, (spec, vals) in enumerate(zip(keep_facts, kept_cols), start=1):
                    sheet.measure(c, xlsx_cell(spec, vals[k]))
                for c, v in g.texts[groups[k]]:
                    sheet.measure(c, v)
                sheet.measure(hints_col, hints.get(k, ""))
        tail = sheet.cell_xml(cols - 2, self._ruleset) + sheet.cell_xml(cols - 1, self._sha) + "</row>"
        base = sheet.count + 2  # sheet row of the run's first row (the header is row 1)
        offset = self.row_offset
        shown = (
            range(numbers.start + offset, numbers.stop + offset)
            if isinstance(numbers, range)
            else [x + offset for x in numbers]
        )
        heads = map('<row r="{0}"><c r="A{0}"><v>{1}</v></c>'.format, range(base, base + n), shown)
        rests = map(
            "".join, zip(*kept_tpls, map(g.templates.__getitem__, groups), hint_tpls, itertools.repeat(tail, n))
        )
        numbered = map(str.replace, rests, itertools.repeat("\x00", n), map(str, range(base, base + n)))
        sheet.write_block("".join(itertools.chain.from_iterable(zip(heads, numbered))), n)

    def close(self, ignored: Sequence[str] = ()) -> None:
        info = self.engine.info
        self.sheet.info_sheet(
            "Angaben zur Auswertung",
            [
                ("Stichtag", self.on),
                ("Regelwerk", info.name),
                ("Version", info.version),
                ("SHA-256 des Regelwerks", info.sha256),
                ("Eingabedatei", self.source_name),
                ("Zeilen gelesen", self.rows),
                ("davon entschieden", self.decided),
                ("davon mit offenen Fragen", self.unknown),
                ("davon mit Fehlern", self.errors),
                ("Nicht verwendete Spalten", ", ".join(ignored) if ignored else "keine"),
                (
                    "Spalte „Zeile“",
                    (
                        "Nummer der Datenzeile + 1, also die Zeile, wie Excel sie zeigt, wenn die "
                        "Kopfzeile in Zeile 1 steht (erste Datenzeile = 2); zugleich die Zeile in diesem "
                        "Blatt. Leerzeilen der Eingabe werden nicht mitgezählt."
                    )
                    if self.row_offset
                    else "Nummer des Datensatzes in der Eingabe (JSON Lines: Zeile n = Datensatz n; Leerzeilen nicht "
                    "mitgezählt).",
                ),
            ],
        )
        self.sheet.close()
