"""`eligibility allocation`'s output: the counts, shares and IM budgets of
`apps/allocation` as German text and as CSV, JSON and Excel tables (the computation and its
output are separate modules so that each stays one job)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from eligibility.apps.allocation import (
    FAG,
    IM_COUNT_DAY,
    IM_RATE_SOURCE,
    NO_AMOUNT,
    POST_RATE_SOURCE,
    VWV_IM,
    WAYS_OUT,
    WAYS_OUT_SOURCE,
    Allocation,
    Count,
    ImTable,
    _german,
    _im_row,
    count_text,
    eur,
    money,
    vzae_text,
)
from eligibility.io.cells import neutralise

# ------------------------------------------------------------------ text


def _rate_label(rate: Decimal | None) -> str:
    return "VZÄ zu " + (NO_AMOUNT if rate is None else _german(rate, 0) + " €/Jahr")


def _counts_line(count: Count) -> str:
    extra = []
    if count.unknown:
        extra.append(f"nicht gezählt, weil noch offen: {count_text(count.unknown)}")
    if count.unread:
        extra.append(f"nicht gezählt, weil die Zeile nicht lesbar ist: {count_text(count.unread)}")
    noted = sum(1 for n in count.notes if n.counted)
    if noted:
        extra.append(f"gezählt trotz einer ungültigen Angabe: {count_text(noted)}")
    return f"Gezählte Personen: {count_text(count.total)}" + (f" – {'; '.join(extra)}" if extra else "")


def _notes_lines(count: Count) -> list[str]:
    if not count.notes:
        return []
    counted = sum(1 for n in count.notes if n.counted)
    lines = [
        "",
        f"Hinweise zur Zählung vom {count.day:%d.%m.%Y}: {count_text(len(count.notes))} Zeilen mit ungültigen Angaben, deren Zählung "
        f"trotzdem entschieden ist (die Angabe gilt als unbekannt); davon {count_text(counted)} gezählt. "
        "Die Angaben bitte berichtigen:",
    ]
    for n in count.notes:
        ident = f" ({n.record_id})" if n.record_id else ""
        verdict = "gezählt" if n.counted else "nicht gezählt (entschieden: nein)"
        what = "Angabe" if len(n.fields) == 1 else "Angaben"
        fields = ", ".join(f"„{f}“" for f in n.fields)
        lines.append(f"  Zeile {n.row}{ident}, {n.gemeinde}: {what} {fields} ungültig – {verdict}")
    return lines


def allocation_text(result: Allocation) -> str:
    c = result.count
    lines = [
        f"Integrationslastenausgleich nach {FAG}, Jahr {result.year} – Stichtag {result.stichtag:%d.%m.%Y}"
        + (
            " [Annahme des Regelwerks: Stichtag oder Budget dieses Jahres ist keiner Vorschrift entnommen]"
            if result.assumption
            else ""
        )
    ]
    if result.missing is None or result.budget is None:
        lines.append(
            f"Budget des Landes: {eur(result.budget)}"
            + (f" ({result.budget_source})" if result.budget is not None else "")
        )
    lines.append(_counts_line(c))
    if result.per_head is not None:
        shown = money(result.per_head)
        exact = "" if shown == result.per_head else "; gerundet angezeigt, gerechnet mit dem ungerundeten Betrag"
        lines.append(f"Betrag je Person: {eur(result.per_head)} ({result.per_head_basis}{exact})")
    if result.statewide_count is not None and result.county_part is not None:
        lines.append(
            f"Anteil dieser Liste am Budget: {eur(result.county_part)} "
            f"({count_text(c.total)} × Budget ÷ {count_text(result.statewide_count)})"
        )
    lines.append("")
    width = max([30] + [len(g.name) for g in c.gemeinden])
    money_col = result.per_head is not None
    head = f"{'Gemeinde':{width}} {'gezählt':>8} {'offen':>6} {'unlesbar':>8}"
    lines.append(head + (f" {'Anteil':>18}" if money_col else ""))
    by_name = {s.name: s for s in result.shares}
    for g in c.gemeinden:
        line = f"{g.name:{width}} {count_text(g.counted):>8} {count_text(g.unknown):>6} {count_text(g.unread):>8}"
        lines.append(line + (f" {eur(by_name[g.name].share):>18}" if money_col else ""))
    total = f"{'Gesamt':{width}} {count_text(c.total):>8} {count_text(c.unknown):>6} {count_text(c.unread):>8}"
    lines.append(total + (f" {eur(result.total_share):>18}" if money_col else ""))
    if money_col:
        lines.append("")
        lines.append(
            "Rundung: jeder Anteil kaufmännisch (ab 0,5 Cent aufwärts) auf Cent gerundet, berechnet aus dem "
            "ungerundeten Betrag je Person."
        )
        if result.rounding_difference:
            lines.append(
                f"Rundungsdifferenz zum Anteil dieser Liste: {eur(result.rounding_difference)} "
                f"(Anteil {eur(result.county_part)}, Summe der Anteile {eur(result.total_share)})"
            )
    else:
        lines += ["", result.missing or ""]
    lines += _notes_lines(c)
    return "\n".join(lines)


def im_text(table: ImTable, notes: bool = True) -> str:
    """`notes=False` leaves the Hinweise out where the § 29d table of the same day shows them."""
    years = _german(Decimal(table.months) / Decimal(12), 0 if table.months % 12 == 0 else 2)
    lines = [
        f"Integrationsmanagement ({VWV_IM}): Budget 2018–2019 je Gemeinde aus der Zählung vom "
        f"{IM_COUNT_DAY:%d.%m.%Y} nach {FAG}",
        f"Satz je gezählte Person: {eur(table.per_person)} für den ganzen Zeitraum von {table.months} Monaten"
        + (f" ({IM_RATE_SOURCE})" if table.per_person is not None and table.per_person_assumption else ""),
    ]
    if table.months_fallback:
        lines.append(
            f"Zeitraum: {table.months} Monate – das Regelwerk nennt keinen Zeitraum des IM-Budgets; die "
            "veröffentlichten Zuteilungen 2018–2019 decken 24 Monate."
        )
    lines.append(
        f"Finanzierbare Stellen (VZÄ) = Budget ÷ (Förderung je Jahr × {years} Jahre), auf zwei "
        "Nachkommastellen abgerundet: eine Stelle wird nie über das Budget hinaus gefördert. " + POST_RATE_SOURCE + "."
    )
    lines.append(_counts_line(table.count))
    lines.append("")
    width = max([30] + [len(r.name) for r in table.rows])
    head = f"{'Gemeinde':{width}} {'Personen':>8} {'offen':>6} {'Budget':>22}"
    for r in table.rates:
        head += f" {_rate_label(table.rates[r]):>24}"
    lines.append(head)
    flagged = []
    for row in table.rows + (table.total,):
        line = f"{row.name:{width}} {count_text(row.persons):>8} {count_text(row.unknown):>6} {eur(row.budget):>22}"
        for r in table.rates:
            line += f" {vzae_text(row.posts[r]):>24}"
        if row.below_one_post:
            line += "  *"
            flagged.append(row.name)
        lines.append(line)
    if flagged:
        lines += [
            "",
            f"* Budget reicht für keine volle Stelle (auch zum niedrigeren Satz unter 1,00 VZÄ): "
            f"{count_text(len(flagged))} Gemeinden. Wege: {WAYS_OUT} ({WAYS_OUT_SOURCE}).",
        ]
    if table.per_person is None or any(v is None for v in table.rates.values()):
        lines += ["", f"„{NO_AMOUNT}“: das Regelwerk hält für den Zeitraum keinen Satz fest."]
    if notes:
        lines += _notes_lines(table.count)
    return "\n".join(lines)


# ------------------------------------------------------------------ table files

# Column kinds decide the cell format in each file type.
TEXT, COUNT, EUR, VZAE = "text", "count", "eur", "vzae"


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    kind: str


def table_model(
    result: Allocation | None, table: ImTable | None
) -> tuple[list[Column], list[list[int | str | Decimal | None]]]:
    """The table(s) as typed cells: one row per Gemeinde (§ 29d first, then Gemeinden that
    occur only in the 2017 count), a last row "Gesamt". A money cell is a Decimal, None where
    no amount is computed (no state-wide figure given), or "kein Betrag festgelegt" where the
    rules hold no budget or rate."""
    columns = [Column("gemeinde", TEXT)]
    share_gap: str | None = None
    if result is not None:
        columns += [
            Column("gezaehlt", COUNT),
            Column("offen", COUNT),
            Column("fehler", COUNT),
            Column("hinweise", COUNT),
            Column("anteil_eur", EUR),
        ]
        if result.per_head is None and result.budget is None and result.statewide_count is not None:
            share_gap = NO_AMOUNT
    if table is not None:
        columns += [Column("im_personen_15092017", COUNT), Column("im_offen", COUNT), Column("im_budget_eur", EUR)]
        columns += [Column(f"vzae_{r.removeprefix('foerdersatz_').removesuffix('_eur')}", VZAE) for r in table.rates]
    names: list[str] = []
    if result is not None:
        names += [g.name for g in result.count.gemeinden]
    if table is not None:
        names += [r.name for r in table.rows if r.name not in names]
    counts = {g.name: g for g in result.count.gemeinden} if result is not None else {}
    shares = {s.name: s.share for s in result.shares} if result is not None else {}
    ims = {r.name: r for r in table.rows} if table is not None else {}
    rows: list[list[int | str | Decimal | None]] = []
    for name in names + ["Gesamt"]:
        line: list[int | str | Decimal | None] = [name]
        if result is not None:
            if name == "Gesamt":
                c = result.count
                line += [
                    c.total,
                    c.unknown,
                    c.unread,
                    sum(1 for n in c.notes if n.counted),
                    result.total_share if result.per_head is not None else share_gap,
                ]
            elif name in counts:
                g = counts[name]
                line += [
                    g.counted,
                    g.unknown,
                    g.unread,
                    g.noted,
                    shares[name] if result.per_head is not None else share_gap,
                ]
            else:
                line += [0, 0, 0, 0, Decimal(0) if result.per_head is not None else share_gap]
        if table is not None:
            im = table.total if name == "Gesamt" else ims.get(name)
            if im is None:  # not in the 2017 count at all: nobody there was counted on 15.09.2017
                im = _im_row(name, 0, 0, table.per_person, table.rates, table.months, False)
            line += [im.persons, im.unknown, NO_AMOUNT if im.budget is None else im.budget]
            line += [NO_AMOUNT if im.posts[r] is None else im.posts[r] for r in table.rates]
        rows.append(line)
    return columns, rows


def _cell_text(value: int | str | Decimal | None, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _german(value, 2).replace(".", "")  # Excel reads 1234,50; thousands dots would be text
    # Gemeinde names come from the input: a formula trigger must not arrive armed in Excel.
    return neutralise(value) if isinstance(value, str) else str(value)


def csv_text(result: Allocation | None, table: ImTable | None) -> str:
    """For Excel: semicolons, German decimals, CRLF."""
    import csv
    import io

    columns, rows = table_model(result, table)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow([c.name for c in columns])
    for row in rows:
        w.writerow([_cell_text(v, c.kind) for v, c in zip(row, columns)])
    return buf.getvalue()


def _json_number(value: int | str | Decimal | None) -> int | float | str | None:
    # amounts have two decimals, VZÄ two: a float prints them exactly (shortest repr)
    return float(value) if isinstance(value, Decimal) else value


def json_text(result: Allocation | None, table: ImTable | None) -> str:
    """The same rows as the CSV, with numbers as JSON numbers, and the figures they rest on."""
    import json

    columns, rows = table_model(result, table)
    doc: dict[str, Any] = {"zeilen": [{c.name: _json_number(v) for v, c in zip(row, columns)} for row in rows]}
    if result is not None:
        doc["lastenausgleich"] = {
            "jahr": result.year,
            "stichtag": result.stichtag.isoformat(),
            "quelle": FAG,
            "budget_eur": _json_number(result.budget) if result.budget is not None else NO_AMOUNT,
            "landesweite_anzahl": result.statewide_count,
            "betrag_je_person_eur": None if result.per_head is None else float(money(result.per_head)),
            "grundlage_betrag": result.per_head_basis or None,
            "anteil_liste_eur": _json_number(result.county_part),
            "rundungsdifferenz_eur": _json_number(result.rounding_difference),
            "rundung": "je Anteil kaufmännisch auf Cent, aus dem ungerundeten Betrag je Person",
            "fehlt": result.missing,
            "hinweise": [
                {
                    "zeile": n.row,
                    "id": n.record_id,
                    "gemeinde": n.gemeinde,
                    "felder": list(n.fields),
                    "gezaehlt": n.counted,
                }
                for n in result.count.notes
            ],
        }
    if table is not None:
        doc["im_budget"] = {
            "zaehlung_vom": IM_COUNT_DAY.isoformat(),
            "quelle": f"{VWV_IM}; {FAG}",
            "satz_je_person_eur": _json_number(table.per_person) if table.per_person is not None else NO_AMOUNT,
            "satz_quelle": IM_RATE_SOURCE if table.per_person_assumption else None,
            "zeitraum_monate": table.months,
            "foerdersatz_je_jahr_eur": {r: NO_AMOUNT if v is None else _json_number(v) for r, v in table.rates.items()},
            "keine_volle_stelle": [r.name for r in table.rows if r.below_one_post],
            "wege": f"{WAYS_OUT} ({WAYS_OUT_SOURCE})",
            "hinweise": [
                {
                    "zeile": n.row,
                    "id": n.record_id,
                    "gemeinde": n.gemeinde,
                    "felder": list(n.fields),
                    "gezaehlt": n.counted,
                }
                for n in table.count.notes
            ],
        }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


EUR_FORMAT = '#,##0.00 "€"'


def write_xlsx(result: Allocation | None, table: ImTable | None, path: str) -> None:
    """One sheet; money cells are numbers with a € number format, VZÄ numbers with two
    decimals; fixed timestamps, so equal content gives equal bytes."""
    import io

    import openpyxl
    from openpyxl.styles import Font

    from eligibility.io.rosters import _write_deterministic_zip

    columns, rows = table_model(result, table)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Zuteilung"
    ws.append([c.name for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([float(v) if isinstance(v, Decimal) else neutralise(v) if isinstance(v, str) else v for v in row])
        for cell, c in zip(ws[ws.max_row], columns):
            if c.kind == EUR and isinstance(cell.value, float):
                cell.number_format = EUR_FORMAT
            elif c.kind == VZAE and isinstance(cell.value, float):
                cell.number_format = "0.00"
    ws.freeze_panes = "A2"
    fixed = dt.datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    buffer = io.BytesIO()
    wb.save(buffer)
    _write_deterministic_zip(buffer.getvalue(), Path(path))
