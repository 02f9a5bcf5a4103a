"""`eligibility report`: the counts caseworkers now make by hand, per Gemeinde and in
total, with the unknowns as a worklist and charts, as one self-contained German HTML
page (inline SVG, a little inline JavaScript for sorting and filtering, no network,
printable and readable without JavaScript).

One population throughout: every row of the list is read once; a row that can be read and
decided is a *person* and is counted in every chart and table — a bad value in a field only
makes that fact unknown, as in `allocation` (§ 29d FAG counts must not drop a person for a
field the count does not read). Such rows are also listed for correction (the same rows
`evaluate` counts as errors). A row that cannot be read or decided is not counted.
Rows = persons + unreadable rows."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from eligibility.decision.records import convert_value
from eligibility.engine import Engine
from eligibility.io.cells import neutralise
from eligibility.io.rosters import InputRow
from eligibility.text.render import environment

MAX_LISTED = 500  # error rows listed by id in the page; the rest are counted
MAX_IDS = 200  # person ids listed per missing fact and Gemeinde; the rest are counted
PERSON_OUTCOMES = ("anschlussunterbringung", "aub_berechtigt_in_gu", "integrationsmanagement", "lastenausgleich")


# What the counts read of a decision: a full `Decision` (per record) and the batch
# path's `TableDecision` both have it, so the report is made from either.
class _Message(Protocol):
    @property
    def de(self) -> str: ...


class _CountedIssue(Protocol):
    @property
    def message(self) -> _Message: ...


class CountedOutcome(Protocol):
    @property
    def value(self) -> Any: ...

    @property
    def status(self) -> str: ...

    @property
    def missing(self) -> Sequence[str]: ...


class CountedDecision(Protocol):
    @property
    def record_id(self) -> str | None: ...

    @property
    def outcomes(self) -> Mapping[str, CountedOutcome]: ...

    @property
    def errors(self) -> Sequence[_CountedIssue]: ...

    @property
    def missing(self) -> Sequence[str]: ...


@dataclasses.dataclass
class Tally:
    persons: int = 0
    yes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    unknown: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    priority: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    errors: int = 0  # rows listed for correction: unreadable ones and persons with a bad value
    unreadable: int = 0  # rows that could not be read or decided: not persons
    any_unknown: int = 0


@dataclasses.dataclass
class ReportData:
    on: dt.date
    kreis: str
    total: Tally
    gemeinden: dict[str, Tally]
    statuses: collections.Counter[str]
    missing: collections.Counter[str]  # fact -> decisions blocked
    missing_persons: collections.Counter[str]  # fact -> persons affected
    error_reasons: collections.Counter[str]
    error_ids: list[tuple[int, str, str]]  # the first MAX_LISTED; error_total counts all
    rows: int
    error_total: int = 0
    # fact -> Gemeinde -> (persons, the first MAX_IDS of their ids or "Zeile n")
    open_by_gemeinde: dict[str, dict[str, tuple[int, list[str]]]] = dataclasses.field(default_factory=dict)
    ignored: list[str] = dataclasses.field(default_factory=list)
    open_persons: int = 0  # persons with at least one missing fact


def collect(
    engine: Engine,
    pairs: Iterable[tuple[InputRow, CountedDecision | None]],
    on: dt.date,
    ignored: Sequence[str] = (),
    row_offset: int = 1,
) -> ReportData:
    """`row_offset` turns data row numbers into the rows a caseworker sees: 1 for a
    spreadsheet or CSV (header = row 1, as in the XLSX result), 0 for JSON lines."""
    ent = engine.entity("person")
    status_spec = ent.facts["aufenthaltsstatus"]
    total = Tally()
    gemeinden: dict[str, Tally] = collections.defaultdict(Tally)
    statuses: collections.Counter[str] = collections.Counter()
    kreise: collections.Counter[str] = collections.Counter()
    missing: collections.Counter[str] = collections.Counter()
    missing_persons: collections.Counter[str] = collections.Counter()
    error_reasons: collections.Counter[str] = collections.Counter()
    error_ids: list[tuple[int, str, str]] = []
    error_total = 0
    rows = 0
    open_ids: dict[str, dict[str, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    open_counts: collections.Counter[tuple[str, str]] = collections.Counter()
    open_persons = 0
    for row, decision in pairs:
        rows += 1
        record = row.record or {}
        # Names and ids are the input's text: neutralised, so a table copied into a
        # spreadsheet holds no live formula (the page escapes them as HTML anyway).
        gemeinde = neutralise(str(record.get("gemeinde") or "").strip()) or "(ohne Gemeinde)"
        kreis = str(record.get("kreis") or "").strip()
        if kreis:
            kreise[kreis] += 1
        g = gemeinden[gemeinde]
        if decision is None:
            for t in (total, g):
                t.errors += 1
                t.unreadable += 1
            error_reasons[row.error or "?"] += 1
            error_total += 1
            if len(error_ids) < MAX_LISTED:
                rid = record.get(ent.id_field or "") if row.record is not None else None
                error_ids.append((row.number + row_offset, neutralise(str(rid or "")), row.error or ""))
            continue
        if decision.errors:
            # Listed for correction, and still counted: the bad field is unknown, and an
            # outcome that does not need it is decided (as allocation counts it).
            for t in (total, g):
                t.errors += 1
            for e in decision.errors:
                error_reasons[e.message.de] += 1
            error_total += 1
            if len(error_ids) < MAX_LISTED:
                error_ids.append(
                    (
                        row.number + row_offset,
                        neutralise(decision.record_id or ""),
                        "; ".join(e.message.de for e in decision.errors),
                    )
                )
        status, _ = convert_value("aufenthaltsstatus", status_spec, record.get("aufenthaltsstatus"))
        label = (
            status_spec.value_labels[status].de if isinstance(status, str) and status_spec.value_labels else "unbekannt"
        )
        statuses[label] += 1
        for t in (total, g):
            t.persons += 1
            unknown_here = False
            for oid in PERSON_OUTCOMES:
                o = decision.outcomes[oid]
                if o.value is True:
                    t.yes[oid] += 1
                elif o.status == "unknown":
                    t.unknown[oid] += 1
                    unknown_here = True
            p = decision.outcomes["prioritaet"]
            t.priority[p.value if isinstance(p.value, str) else ("unklar" if p.status == "unknown" else "keine")] += 1
            if p.status == "unknown":
                unknown_here = True
            if unknown_here:
                t.any_unknown += 1
        for o in decision.outcomes.values():
            for f in o.missing:
                missing[f] += 1
        if decision.missing:
            open_persons += 1
        for f in decision.missing:
            missing_persons[f] += 1
            open_counts[(f, gemeinde)] += 1
            ids = open_ids[f][gemeinde]
            if len(ids) < MAX_IDS:
                ids.append(neutralise(decision.record_id or "") or f"Zeile {row.number + row_offset}")
    kreis = kreise.most_common(1)[0][0] if kreise else ""
    ordered = dict(sorted(gemeinden.items(), key=lambda kv: (-kv[1].persons - kv[1].errors, kv[0])))
    open_by_gemeinde = {
        f: {gm: (open_counts[(f, gm)], ids) for gm, ids in sorted(per.items())} for f, per in open_ids.items()
    }
    return ReportData(
        on,
        kreis,
        total,
        ordered,
        statuses,
        missing,
        missing_persons,
        error_reasons,
        error_ids,
        rows,
        error_total,
        open_by_gemeinde,
        list(ignored),
        open_persons,
    )


def _bars(
    items: list[tuple[str, list[tuple[str, int, str]]]], width: int = 640, bar: int = 16, label_width: int = 190
) -> dict[str, Any]:
    """Geometry of a horizontal stacked bar chart, computed here so the template only draws."""
    top = max((sum(v for _, v, _ in parts) for _, parts in items), default=0) or 1
    scale = (width - label_width - 60) / top
    rows = []
    for i, (name, parts) in enumerate(items):
        x: float = label_width
        segments = []
        for seg_name, value, color in parts:
            w = value * scale
            segments.append({"x": round(x, 1), "w": round(w, 1), "color": color, "name": seg_name, "value": value})
            x += w
        rows.append(
            {
                "y": i * (bar + 6),
                "name": name,
                "segments": segments,
                "total": sum(v for _, v, _ in parts),
                "end": round(x, 1),
            }
        )
    return {"rows": rows, "height": len(items) * (bar + 6) + 4, "width": width, "bar": bar, "label_width": label_width}


COLORS = {
    "im": "#2b6cb0",
    "gu": "#dd8a2e",
    "other": "#b8c4d4",
    "unknown": "#9f7aea",
    "hoch": "#2f855a",
    "normal": "#4299e1",
    "niedrig": "#c05621",
    "unklar": "#9f7aea",
    "keine": "#a0aec0",
}


def created_at() -> dt.datetime:
    """When the page is made: SOURCE_DATE_EPOCH if set (reproducible builds, tests), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC)


def render_report(engine: Engine, data: ReportData, created: dt.datetime | None = None) -> str:
    ent = engine.entity("person")
    gem_bars = _bars(
        [
            (
                name,
                [
                    ("Zielgruppe IM", t.yes["integrationsmanagement"], COLORS["im"]),
                    ("AUB-berechtigt in GU", t.yes["aub_berechtigt_in_gu"], COLORS["gu"]),
                    ("noch offen", t.unknown["integrationsmanagement"], COLORS["unknown"]),
                    (
                        "übrige",
                        max(
                            0,
                            t.persons
                            - t.yes["integrationsmanagement"]
                            - t.yes["aub_berechtigt_in_gu"]
                            - t.unknown["integrationsmanagement"],
                        ),
                        COLORS["other"],
                    ),
                ],
            )
            for name, t in data.gemeinden.items()
            if t.persons
        ]
    )
    status_bars = _bars(
        [(name, [(name, n, COLORS["im"])]) for name, n in data.statuses.most_common()], width=760, label_width=400
    )
    prio_bars = _bars(
        [
            (label, [(label, data.total.priority[key], COLORS[key])])
            for key, label in (
                ("hoch", "hoch"),
                ("normal", "normal"),
                ("niedrig", "niedrig"),
                ("unklar", "noch offen"),
                ("keine", "keine Priorität (eingebürgert oder am Stichtag noch nicht aufgenommen)"),
            )
        ]
    )
    worklist: list[dict[str, Any]] = [
        {
            "fact": f,
            "label": ent.facts[f].label.de,
            "question": ent.facts[f].question.de,
            "blocked": n,
            "persons": data.missing_persons[f],
        }
        for f, n in data.missing.most_common()
    ]
    open_rows = [
        {
            "fact": w["fact"],
            "label": w["label"],
            "question": w["question"],
            "gemeinde": gm,
            "persons": n,
            "ids": ids,
            "more": n - len(ids),
        }
        for w in worklist
        for gm, (n, ids) in data.open_by_gemeinde.get(w["fact"], {}).items()
    ]
    when = (created or created_at()).astimezone(dt.UTC)
    labels = {oid: ent.outcomes[oid].spec.label.de for oid in PERSON_OUTCOMES}
    short = {
        "anschlussunterbringung": "AUB-Kreis",
        "aub_berechtigt_in_gu": "AUB-berechtigt in GU",
        "integrationsmanagement": "Zielgruppe IM",
        "lastenausgleich": "§ 29d FAG",
    }
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            d=data,
            engine=engine,
            info=engine.info,
            gem_bars=gem_bars,
            status_bars=status_bars,
            prio_bars=prio_bars,
            worklist=worklist,
            open_rows=open_rows,
            labels=labels,
            short=short,
            outcomes=PERSON_OUTCOMES,
            colors=COLORS,
            on=data.on.strftime("%d.%m.%Y"),
            created=when.strftime("%d.%m.%Y, %H:%M UTC"),
            status_total=sum(data.statuses.values()),
        )
    )


def summary_line(data: ReportData, out: str, lang: str = "de") -> str:
    """What `eligibility report` says on stderr when the page is written."""
    if lang == "en":
        return (
            f"{data.rows} rows read: {data.total.persons} persons counted, {data.total.errors} with errors; "
            f"report: {out}"
        )
    return (
        f"{data.rows} Zeilen gelesen: {data.total.persons} Personen gezählt, {data.total.errors} mit Fehlern; "
        f"Bericht: {out}"
    )
