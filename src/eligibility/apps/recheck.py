"""`eligibility log recheck`: whose *recorded* answers an amendment changes. The latest
logged decision of every person is decided again under the new rule set; every outcome
that flips is attributed to the rule (or parameter) whose change flipped it, with the
same attribution as `impact` (`impact.changes`, `impact.attribute`).

Two modes. `original` (the default): on the reference day of the logged decision, old
= the value the log holds (decided under the rule set it was made with). `today`: on
today's date, and old = the *old* rule set's answer on today's date too, decided again
from its snapshot — so that a flip is the amendment's, never the calendar's."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from eligibility.apps.impact import Change, Flip, ImpactResult, _word, attribute, changes, render_text
from eligibility.decision.model import Decision
from eligibility.decisionlog.records import StoredDecision
from eligibility.engine import Engine

MODES = ("original", "today")
CHUNK = 5_000  # entries screened together on the batch path

WORKLIST_COLUMNS = [
    "person",
    "decision_id",
    "on",
    "outcome",
    "old",
    "new",
    "rule",
    "source",
    "note",
]
WORKLIST_HEADERS = [
    "Person",
    "Entscheidungs-Nr.",
    "Stichtag",
    "Ergebnis",
    "vorher",
    "nachher",
    "Regel",
    "Rechtsgrundlage",
    "Hinweis",
]


@dataclasses.dataclass(frozen=True)
class RecheckFlip:
    """One outcome of one person that the amendment changes, in words for the worklist."""

    flip: Flip
    decision_id: str
    on: str
    outcome_label: str
    old_word: str
    new_word: str


@dataclasses.dataclass(frozen=True)
class RecheckError:
    """A person whose logged record cannot be decided again (the reason, never the facts)."""

    number: int
    record_id: str
    decision_id: str
    on: str
    reason: str


@dataclasses.dataclass
class RecheckResult:
    mode: str
    today: dt.date
    new_name: str
    impact: ImpactResult  # the flips, counts and diff, rendered like `impact`
    flips: list[RecheckFlip]
    errors: list[RecheckError]
    persons: int  # every logged person, once (error rows included)
    flipped_persons: int
    old_rulesets: dict[str, int]  # sha256 -> persons decided under it


def recheck(
    log: Any,
    new: Engine,
    new_name: str,
    mode: str = "original",
    entity: str | None = None,
    today: dt.date | None = None,
) -> RecheckResult:
    """Decide the latest logged decision of every person under `new` (see the module)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    day_today = today or dt.date.today()
    flips: list[RecheckFlip] = []
    errors: list[RecheckError] = []
    diffs: dict[tuple[str, str], dict[tuple[str, str], Change]] = {}
    by_outcome: dict[str, collections.Counter[tuple[str, str]]] = collections.defaultdict(collections.Counter)
    by_gemeinde: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_cause: collections.Counter[str] = collections.Counter()
    old_rulesets: collections.Counter[str] = collections.Counter()
    persons = 0
    flipped: set[int] = set()
    for chunk in _chunks(log.latest(entity), CHUNK):
        numbered = list(enumerate(chunk, start=persons + 1))
        persons += len(chunk)
        for number, entry, old_engine, candidate in _screened(log, new, numbered, mode, day_today):
            old_rulesets[entry.ruleset_sha or ""] += 1
            if not candidate:
                continue
            day = day_today if mode == "today" else dt.date.fromisoformat(str(entry.on))
            ent_name = entry.entity or new.default_entity
            try:
                if mode == "today":
                    before = old_engine.decide(entry.facts, day, entity=ent_name, explain=False)
                else:
                    before = Decision.model_validate_json(entry.decision_text or "")
                after = new.decide(entry.facts, day, entity=ent_name, explain=False)
            except (ValueError, OverflowError, KeyError) as exc:
                errors.append(_error(number, entry, exc))
                continue
            if after.errors or before.errors:
                # Field values that cannot be read: no answer to compare, the reason to fix.
                issues = after.errors or before.errors
                reason = "; ".join(e.message.de for e in issues)
                errors.append(RecheckError(number, entry.record_id or "", entry.decision_id, day.isoformat(), reason))
                continue
            key = (entry.ruleset_sha or "", ent_name)
            if key not in diffs:
                diffs[key] = changes(old_engine, new, ent_name)
            diff = diffs[key]
            ent = new.entity(ent_name)
            for oid, o in after.outcomes.items():
                b = before.outcomes.get(oid)
                old_value = b.value if b is not None else None
                if b is not None and old_value == o.value and type(old_value) is type(o.value):
                    continue
                cause = attribute(oid, before, after, old_engine, new, diff) if b is not None else None
                facts = entry.facts if isinstance(entry.facts, dict) else {}
                gemeinde = str(facts.get("gemeinde") or "").strip() or "(ohne Gemeinde)"
                flip = Flip(number, entry.record_id or "", gemeinde, oid, old_value, o.value, cause)
                flips.append(
                    RecheckFlip(
                        flip,
                        entry.decision_id,
                        day.isoformat(),
                        ent.outcomes[oid].spec.label.de if oid in ent.outcomes else oid,
                        _value_word(old_engine, ent_name, oid, old_value, b.status if b else None),
                        _value_word(new, ent_name, oid, o.value, o.status),
                    )
                )
                flipped.add(number)
                by_outcome[oid][(_word(old_value), _word(o.value))] += 1
                by_gemeinde[gemeinde][oid] += 1
                by_cause[cause.id if cause else "(nicht zuzuordnen)"] += 1
    # The report's header names the old rule set most persons were decided under.
    main_sha = old_rulesets.most_common(1)[0][0] if old_rulesets else ""
    old_info = log.engine_for(main_sha).info if main_sha else new.info
    merged: dict[tuple[str, str], Change] = {}
    for d in diffs.values():
        merged.update(d)
    result = ImpactResult(
        day_today if mode == "today" else _first_day(flips, day_today),
        "Protokoll",
        new_name,
        old_info,
        new.info,
        persons,
        [f.flip for f in flips],
        dict(sorted(merged.items())),
        dict(by_outcome),
        dict(sorted(by_gemeinde.items())),
        by_cause,
    )
    return RecheckResult(
        mode, day_today, new_name, result, flips, errors, persons, len(flipped), dict(sorted(old_rulesets.items()))
    )


def _first_day(flips: list[RecheckFlip], default: dt.date) -> dt.date:
    # In `original` mode every person keeps their own day; the header shows the earliest.
    return min((dt.date.fromisoformat(f.on) for f in flips), default=default)


def _error(number: int, entry: StoredDecision, exc: Exception) -> RecheckError:
    from eligibility.apps.result_rows import UNDECIDABLE

    reason = UNDECIDABLE[0] if isinstance(exc, OverflowError) else str(exc) or type(exc).__name__
    return RecheckError(number, entry.record_id or "", entry.decision_id, str(entry.on or ""), reason)


def _value_word(engine: Engine, entity: str, oid: str, value: Any, status: str | None) -> str:
    """The caseworker result's word for a value (ja, nein, noch offen, a label)."""
    from eligibility.io.xlsx_result import NOT_IN_FORCE_WORD, UNKNOWN_WORD, WORDS
    from eligibility.text.render import value_text

    if status == "unknown" or (value is None and status is None):
        return UNKNOWN_WORD
    if status == "not_in_force":
        return NOT_IN_FORCE_WORD
    if isinstance(value, bool):
        return WORDS[value]
    ent = engine.entity(entity)
    if oid in ent.outcomes:
        return value_text(ent, oid, value, "de")
    return str(value)


def _chunks(entries: Iterable[StoredDecision], size: int) -> Iterator[list[StoredDecision]]:
    chunk: list[StoredDecision] = []
    for e in entries:
        chunk.append(e)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _screened(
    log: Any, new: Engine, numbered: list[tuple[int, StoredDecision]], mode: str, today: dt.date
) -> Iterator[tuple[int, StoredDecision, Engine, bool]]:
    """Every entry of a chunk, in order, with its old engine and whether an outcome may flip.
    Entries are grouped by (old rule set, entity, day) and decided on the batch path (the
    same answers as `decide`, property-tested); only the rows whose values differ are decided
    one by one for a cause. An entry the batch path refuses is a candidate (it then fails,
    or flips, when decided one by one)."""
    groups: dict[tuple[str, str, str], list[int]] = collections.defaultdict(list)
    engines: dict[str, Engine] = {}
    for i, (_, e) in enumerate(numbered):
        sha = e.ruleset_sha or ""
        if sha not in engines:
            engines[sha] = log.engine_for(sha)
        day = today.isoformat() if mode == "today" else str(e.on)
        groups[(sha, e.entity or new.default_entity, day)].append(i)
    candidates: set[int] = set()
    for (sha, ent_name, day), idx in groups.items():
        old = engines[sha]
        records = [numbered[i][1].facts for i in idx]
        try:
            if new.outcomes(ent_name) != old.outcomes(ent_name):
                raise ValueError("outcomes differ")  # every row is a candidate
            b = new.decide_table(records, day, entity=ent_name)
            if mode == "today":
                a = old.decide_table(records, day, entity=ent_name)
                old_cols = {oid: list(a.columns[oid]) for oid in new.outcomes(ent_name)}
            else:
                old_cols = {
                    oid: [numbered[i][1].outcomes.get(oid, {}).get("value") for i in idx]
                    for oid in new.outcomes(ent_name)
                }
        except (ValueError, OverflowError, KeyError, TypeError):
            candidates.update(idx)
            continue
        for oid in new.outcomes(ent_name):
            for j, (x, y) in enumerate(zip(old_cols[oid], b.columns[oid])):
                if x != y or type(x) is not type(y):
                    candidates.add(idx[j])
        # A record with field errors is counted as an error row: decided one by one for its reason.
        errs = b.codes("errors")
        for j, code in enumerate(errs.codes.tolist()):
            if errs.values[code]:
                candidates.add(idx[j])
    for i, (number, e) in enumerate(numbered):
        yield number, e, engines[e.ruleset_sha or ""], i in candidates


def render_report(r: RecheckResult, fmt: str = "text") -> str:
    """The report: which mode, how many persons, then what `impact` shows (text, markdown
    or HTML)."""
    mode_de = (
        f"heute ({r.today:%d.%m.%Y}); vorher = altes Regelwerk am selben Tag, neu entschieden"
        if r.mode == "today"
        else "ursprünglicher Stichtag jeder Entscheidung; vorher = Wert im Protokoll"
    )
    head = [
        f"Nachprüfung des Protokolls mit {r.new_name} ({r.impact.new_info.sha256[:12]})",
        f"Stichtag: {mode_de}",
        f"{r.persons} Personen: {r.flipped_persons} mit geändertem Ergebnis, "
        f"{r.persons - r.flipped_persons - len(r.errors)} unverändert, {len(r.errors)} mit Fehlern",
        "Regelwerke im Protokoll: " + ", ".join(f"{sha[:12]} ({n} Personen)" for sha, n in r.old_rulesets.items())
        if r.old_rulesets
        else "Regelwerke im Protokoll: keine",
    ]
    errors = [f"  Person {e.number} {e.record_id} ({e.decision_id}): {e.reason}" for e in r.errors]
    if fmt == "html":
        from eligibility.apps.impact import flip_rows
        from eligibility.text.render import environment

        page = environment().get_template("impact.html.j2").render(r=r.impact, rows=flip_rows(r.impact))
        import html

        intro = "".join(f'<p class="meta">{html.escape(line)}</p>' for line in head)
        intro += "".join(f'<p class="meta">Fehler: {html.escape(line.strip())}</p>' for line in errors)
        return page.replace("<h2>", intro + "<h2>", 1)
    body = render_text(r.impact, row_label="Person")
    text = "\n".join(head) + "\n\n" + body
    if errors:
        text += "\nFehler:\n" + "\n".join(errors) + "\n"
    if fmt == "markdown":
        return "# Nachprüfung des Protokolls\n\n```\n" + text + "```\n"
    return text


def worklist_rows(r: RecheckResult) -> list[dict[str, Any]]:
    """One row per flipped outcome, then one per person that could not be decided again."""
    rows: list[dict[str, Any]] = []
    for f in r.flips:
        cause = f.flip.cause
        rows.append(
            {
                "person": f.flip.record_id,
                "decision_id": f.decision_id,
                "on": dt.date.fromisoformat(f.on),
                "outcome": f.outcome_label,
                "old": f.old_word,
                "new": f.new_word,
                "rule": cause.label if cause else "(nicht zuzuordnen)",
                "source": cause.source if cause else "",
                "note": "",
            }
        )
    for e in r.errors:
        rows.append(
            {
                "person": e.record_id,
                "decision_id": e.decision_id,
                "on": dt.date.fromisoformat(e.on) if e.on else None,
                "outcome": "Fehler",
                "old": "",
                "new": "",
                "rule": "",
                "source": "",
                "note": e.reason,
            }
        )
    return rows


def write_worklist(r: RecheckResult, out: str | Path) -> None:
    """The worklist as CSV (semicolons, BOM, for Excel) or XLSX; text neutralised like
    every roster output (`RosterWriter`), XLSX deterministic."""
    from eligibility.io.rosters import RosterWriter

    target = Path(out)
    fmt = "xlsx" if target.suffix.lower() == ".xlsx" else "csv"
    writer = RosterWriter(target, fmt, WORKLIST_COLUMNS, header=WORKLIST_HEADERS)
    try:
        for row in worklist_rows(r):
            if fmt == "csv" and isinstance(row["on"], dt.date):
                row = {**row, "on": row["on"].strftime("%d.%m.%Y")}
            writer.write(row)
    finally:
        writer.close()


def write_report(r: RecheckResult, out: str | Path) -> str:
    """The report into a file, its format by the extension (.html, .md, else text)."""
    target = Path(out)
    suffix = target.suffix.lower()
    fmt = "html" if suffix in (".html", ".htm") else "markdown" if suffix == ".md" else "text"
    text = render_report(r, fmt)
    target.write_text(text, encoding="utf-8")
    return fmt
