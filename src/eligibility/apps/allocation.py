"""`eligibility allocation`: the § 29d FAG count per Gemeinde on 15 September and each
Gemeinde's share of the budget; the Integrationsmanagement budget per Gemeinde from the
15.09.2017 count and the posts it funds at each rate.

The law divides the budget by the *state-wide* count (§ 29d FAG). A county's roster is a
part of the state, so money is computed only from a figure the user gives: the state-wide
count, a per-head amount, or the declaration that the roster itself is state-wide. Without
one, the counts are reported and no amount is printed. All other figures come from the rule
set's parameters; nothing is hard-coded except the citations of the documents the
computations themselves rest on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from eligibility.compile.compiler import parameter_version
from eligibility.engine import Engine
from eligibility.io.rosters import InputRow

# The documents the computations in this module rest on, cited as a caseworker can look them up.
FAG = "§ 29d FAG BW i. d. F. vom 21.02.2017"
VWV_IM = "VwV Integrationsmanagement vom 11.12.2017"
IM_RATE_SOURCE = (
    "Satz je Person errechnet aus veröffentlichten Zuteilungen 2018–2019 (Tettnang, Neukirch, "
    "Meckenbeuren, Kressbronn) – Annahme des Regelwerks, keiner Vorschrift entnommen"
)
POST_RATE_SOURCE = (
    "Förderung je Vollzeitstelle und Jahr: Landratsamt Göppingen, Sitzungsvorlage für den "
    "Sozialausschuss vom 18.09.2018, und Ortenaukreis 2017 (Verwaltungspraxis der Kreise)"
)
WAYS_OUT_SOURCE = (
    "„Informationen zum Integrationspakt“, Informationsblatt 2017; Ministerium für Soziales, "
    "Gesundheit und Integration Baden-Württemberg, „Pakt für Integration mit den Kommunen“ "
    "(Internetseite)"
)
WAYS_OUT = (
    "mit Nachbargemeinden zusammenschließen und gemeinsam beantragen, oder die Aufgabe dem "
    "Landratsamt übertragen, das dann für die Gemeinde beantragt"
)
NO_AMOUNT = "kein Betrag festgelegt"
NO_GEMEINDE = "(ohne Gemeinde)"
IM_COUNT_DAY = dt.date(2017, 9, 15)
IM_BUDGET_DAY = dt.date(2018, 1, 1)  # the IM budget from the 2017 count is the budget of 2018–2019
# Used only when the rule set has no parameter `im_budget_zeitraum_monate`: the published
# 2018–2019 allocations (Tettnang 166 persons → 132.149 €) cover 24 months.
IM_BUDGET_MONTHS_FALLBACK = 24

CENT = Decimal("0.01")


class AllocationError(ValueError):
    """A combination of options or figures that cannot give a lawful result (German message)."""


# ------------------------------------------------------------------ number formats


def money(x: Decimal) -> Decimal:
    """Half-up to cents: the rounding rule for every amount this module prints."""
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _german(x: Decimal, places: int) -> str:
    text = f"{x:,.{places}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def eur(x: Decimal | None) -> str:
    """`1.234.567,89 €`; "kein Betrag festgelegt" where there is no amount (never 0 €)."""
    return NO_AMOUNT if x is None else _german(money(x), 2) + " €"


def count_text(n: int) -> str:
    return _german(Decimal(n), 0)


def vzae_text(x: Decimal | None) -> str:
    return NO_AMOUNT if x is None else _german(x, 2)


def parse_amount(text: str, option: str) -> Decimal:
    """A positive amount as people type it: `1125`, `1.125`, `1125,50`, `90.000.000 €`."""
    s = text.strip().removesuffix("€").removesuffix("EUR").strip().replace(" ", "")
    if "," in s:
        s = s.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d{1,3}(\.\d{3})+", s):  # German thousands separators only
        s = s.replace(".", "")
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise AllocationError(f"{option}: keine Zahl (erwartet z. B. 1125 oder 1.125,50)") from None
    if not value.is_finite() or value <= 0:
        raise AllocationError(f"{option}: muss ein Betrag größer als 0 sein")
    return value


def parse_count(text: str, option: str) -> int:
    """A positive whole number of persons: `80000` or `80.000`."""
    s = text.strip().replace(" ", "")
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", s):
        s = s.replace(".", "")
    if not s.isdigit() or int(s) <= 0:
        raise AllocationError(f"{option}: erwartet eine ganze Zahl von Personen größer als 0")
    return int(s)


# ------------------------------------------------------------------ parameters


def param_value(engine: Engine, name: str, on: dt.date) -> tuple[object | None, bool]:
    """The parameter's value on `on` and whether it is a marked assumption; (None, False)
    where the rule set has no such parameter or no version in force."""
    spec = engine.compiled.model.parameters.get(name)
    if spec is None:
        return None, False
    v = parameter_version(spec, on)
    return (None, False) if v is None else (v.value, v.assumption)


def _decimal(value: object | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def stichtag_of(engine: Engine, year: int) -> tuple[dt.date, bool]:
    value, assumed = param_value(engine, "lastenausgleich_stichtag", dt.date(year, 1, 1))
    if not isinstance(value, dt.date):
        raise AllocationError(
            f"Für {year} gibt es keinen Integrationslastenausgleich im Regelwerk "
            f"({FAG}: 2017 und 2018, 2019 als markierte Erweiterung)"
        )
    return value, assumed


# ------------------------------------------------------------------ who is counted


@dataclasses.dataclass(frozen=True)
class Note:
    """A row with a field that could not be read, whose counting outcome was still decided:
    the person is in the count (or not) as decided; the unread fields are named, not their values."""

    row: int
    record_id: str | None
    gemeinde: str
    fields: tuple[str, ...]  # German labels of the fields that could not be read
    counted: bool


@dataclasses.dataclass(frozen=True)
class GemeindeCount:
    name: str
    counted: int
    unknown: int  # counting outcome unknown: not counted, reported
    unread: int  # row could not be read at all
    noted: int  # counted although a field the count does not need could not be read


@dataclasses.dataclass(frozen=True)
class Count:
    """The `lastenausgleich` outcome per Gemeinde on one day."""

    day: dt.date
    gemeinden: tuple[GemeindeCount, ...]  # most counted first, then by name
    total: int
    unknown: int
    unread: int
    notes: tuple[Note, ...]
    kreise: frozenset[str] = frozenset()  # the roster's Stadt- and Landkreise, as `kreis_key` gives them


def kreis_key(name: str) -> str:
    """A Kreis or Gemeinde name compared without its kind: "Landkreis Tuttlingen" = "Tuttlingen"."""
    key = " ".join(name.lower().split())
    for prefix in ("landkreis ", "stadtkreis ", "lkr. ", "lk "):
        key = key.removeprefix(prefix)
    return key


def _gemeinde(row: InputRow) -> str:
    return str((row.record or {}).get("gemeinde") or "").strip() or NO_GEMEINDE


def _unread_fields(engine: Engine, row: InputRow, decision: Any, day: dt.date) -> tuple[str, ...]:
    """The labels of the fields the row's decision names as unreadable. A batch decision
    carries only messages, so the row is decided once more on the record path for the
    field names (only rows with errors take this path)."""
    issues = decision.errors
    if not all(hasattr(e, "field") for e in issues):
        issues = engine.decide(row.record or {}, day, explain=False).errors
    facts = engine.entity().facts
    labels = []
    for e in issues:
        if e.field is None or e.field == "on":
            continue  # a problem of the reference date, not of the row
        spec = facts.get(e.field)
        label = spec.label.de if spec is not None else e.field
        if label not in labels:
            labels.append(label)
    return tuple(labels)


def count_lastenausgleich(engine: Engine, pairs: Iterable[tuple[InputRow, Any]], day: dt.date) -> Count:
    """Who counts for § 29d FAG on `day`, per Gemeinde. `pairs` are the roster's rows with
    their decisions made on `day` (None for a row that could not be read).

    A person is left out only when the row cannot be read or the counting outcome is
    unknown. A bad value in some field does not remove anyone: the engine treats that
    field as unknown and still decides; if `lastenausgleich` is decided, the decision stands."""
    tallies: dict[str, list[int]] = {}
    notes: list[Note] = []
    kreise: set[str] = set()
    for row, decision in pairs:
        name = _gemeinde(row)
        kreis = str((row.record or {}).get("kreis") or "").strip()
        if kreis:
            kreise.add(kreis_key(kreis))
        t = tallies.setdefault(name, [0, 0, 0, 0])
        if decision is None:
            t[2] += 1
            continue
        o = decision.outcomes["lastenausgleich"]
        if o.status == "unknown":
            t[1] += 1
            continue
        counted = o.value is True
        if counted:
            t[0] += 1
        if decision.errors:
            fields = _unread_fields(engine, row, decision, day)
            if fields:
                # The row as the caseworker sees it in the file (Excel row, header = 1).
                notes.append(Note(row.line or row.number + 1, decision.record_id, name, fields, counted))
                t[3] += counted
    gemeinden = tuple(
        GemeindeCount(name, *t)
        for name, t in sorted(tallies.items(), key=lambda kv: (kv[0] == NO_GEMEINDE, -kv[1][0], kv[0]))
    )
    return Count(
        day,
        gemeinden,
        sum(g.counted for g in gemeinden),
        sum(g.unknown for g in gemeinden),
        sum(g.unread for g in gemeinden),
        tuple(notes),
        frozenset(kreise),
    )


# ------------------------------------------------------------------ § 29d shares


@dataclasses.dataclass(frozen=True)
class Share:
    name: str
    counted: int
    share: Decimal | None  # rounded half-up to cents; None: no money without a state-wide figure


@dataclasses.dataclass(frozen=True)
class Allocation:
    year: int
    stichtag: dt.date
    assumption: bool  # the year's Stichtag or budget rests on a marked assumption
    count: Count
    budget: Decimal | None  # None: the rules hold no budget for the year
    budget_source: str
    per_head: Decimal | None  # unrounded; shares are computed from it
    per_head_basis: str  # how the per-head amount was obtained, in German
    statewide_count: int | None
    county_part: Decimal | None  # this roster's part of the budget, rounded to cents
    shares: tuple[Share, ...]
    total_share: Decimal | None  # sum of the rounded shares
    rounding_difference: Decimal | None  # county_part − total_share
    missing: str | None  # German: what the user must give to compute money


def needed_figure(year: int, have_budget: bool, have_count: bool) -> str:
    """What the tool needs before it can print money, in plain German."""
    if have_count and not have_budget:
        return (
            f"Kein Geldbetrag berechnet: Für {year} hält das Regelwerk kein Budget fest ({NO_AMOUNT}). "
            "Bitte das Budget des Landes mit --budget EUR angeben oder statt der landesweiten Zahl den "
            "Betrag je Person mit --per-head EUR."
        )
    lines = [
        f"Kein Geldbetrag berechnet: Nach {FAG} ist der Betrag je Person das Budget des Landes "
        "geteilt durch die landesweite Zahl der gezählten Personen. Eine Kreisliste ist nur ein Teil "
        "des Landes; aus ihrer eigenen Zahl ergibt sich kein Betrag."
    ]
    if not have_budget:
        lines.append(
            f"Für {year} hält das Regelwerk kein Budget fest ({NO_AMOUNT}): zur landesweiten Zahl "
            "also auch --budget EUR angeben, oder --per-head EUR verwenden."
        )
    lines.append(
        "Bitte eine der Angaben machen: --landesweit-anzahl N (landesweite Zahl der gezählten "
        "Personen, z. B. vom Statistischen Landesamt), --per-head EUR (Betrag je Person) oder "
        "--statewide (diese Liste umfasst das ganze Land)."
    )
    return "\n".join(lines)


def lastenausgleich(
    engine: Engine,
    pairs: Iterable[tuple[InputRow, Any]],
    year: int,
    budget: Decimal | None = None,
    per_head: Decimal | None = None,
    statewide_count: int | None = None,
    statewide: bool = False,
) -> Allocation:
    """Counts from decisions made on the year's Stichtag (see `stichtag_of`), and the
    shares: per-head given → count × per-head; state-wide count N → count × budget ÷ N;
    `statewide` → N is this roster's own count. Each share is rounded half-up to cents
    from the unrounded per-head amount; the difference between the roster's part of the
    budget and the sum of the rounded shares is reported."""
    if per_head is not None and (statewide_count is not None or statewide):
        raise AllocationError(
            "--per-head und eine landesweite Zahl (--landesweit-anzahl/--statewide) "
            "schließen sich aus: bitte nur eine Angabe machen"
        )
    if statewide_count is not None and statewide:
        raise AllocationError(
            "--landesweit-anzahl und --statewide schließen sich aus: bei --statewide ist "
            "die landesweite Zahl die Zahl dieser Liste"
        )
    stichtag, assumed = stichtag_of(engine, year)
    count = count_lastenausgleich(engine, pairs, stichtag)
    source = "vorgegeben mit --budget"
    if budget is None:
        value, b_assumed = param_value(engine, "lastenausgleich_budget_eur", stichtag)
        budget = _decimal(value)
        source = FAG if budget is not None else ""
        assumed = assumed or (b_assumed and budget is not None)
    if statewide:
        statewide_count = count.total
        if not statewide_count:
            raise AllocationError("--statewide: die Liste enthält keine gezählte Person, es gibt nichts zu teilen")
    if statewide_count is not None and statewide_count < count.total:
        raise AllocationError(
            f"--landesweit-anzahl {count_text(statewide_count)} ist kleiner als die Zahl der "
            f"in dieser Liste gezählten Personen ({count_text(count.total)}): die landesweite "
            "Zahl umfasst jede Liste des Landes"
        )
    basis = ""
    missing = None
    rate: Decimal | None = None  # the exact per-head amount
    if per_head is not None:
        rate, basis = per_head, "vorgegeben mit --per-head"
    elif statewide_count is not None and budget is not None:
        rate = budget / Decimal(statewide_count)
        who = (
            "Zahl dieser Liste, als landesweit erklärt (--statewide)"
            if statewide
            else "landesweite Zahl (--landesweit-anzahl)"
        )
        basis = f"Budget ÷ {count_text(statewide_count)} Personen, {who}; {FAG}"
    else:
        missing = needed_figure(year, budget is not None, statewide_count is not None)

    def amount(n: int) -> Decimal | None:
        if statewide_count is not None and budget is not None and per_head is None:
            # n × budget ÷ N in one step, so no rounded per-head amount enters a share
            return money(Decimal(n) * budget / Decimal(statewide_count))
        return None if rate is None else money(Decimal(n) * rate)

    shares = tuple(Share(g.name, g.counted, amount(g.counted)) for g in count.gemeinden)
    county_part = total_share = difference = None
    if rate is not None:
        county_part = amount(count.total)  # the roster's part as the law has it, not the sum of rounded shares
        total_share = sum((s.share for s in shares if s.share is not None), Decimal(0))
        difference = county_part - total_share if county_part is not None else None
    return Allocation(
        year,
        stichtag,
        assumed,
        count,
        budget,
        source,
        rate,
        basis,
        statewide_count,
        county_part,
        shares,
        total_share,
        difference,
        missing,
    )


# ------------------------------------------------------------------ Integrationsmanagement budget


@dataclasses.dataclass(frozen=True)
class ImBudget:
    name: str
    persons: int  # § 29d count on 15.09.2017
    unknown: int
    budget: Decimal | None  # for the whole budget period
    posts: dict[str, Decimal | None]  # rate parameter -> fundable VZÄ, two decimals rounded down
    below_one_post: bool  # the budget does not fund one full post at any rate


@dataclasses.dataclass(frozen=True)
class ImTable:
    count: Count
    per_person: Decimal | None
    per_person_assumption: bool
    months: int
    months_fallback: bool  # the rule set has no `im_budget_zeitraum_monate`; 24 is used
    rates: dict[str, Decimal | None]  # per full-time post and year
    rows: tuple[ImBudget, ...]
    total: ImBudget


RATE_PARAMETERS = ("foerdersatz_hochschule_eur", "foerdersatz_ausbildung_eur")


def fundable_posts(budget: Decimal, rate: Decimal, months: int) -> Decimal:
    """VZÄ the budget funds over the period: budget ÷ (annual rate × years), two decimals,
    rounded down: a post cannot be funded beyond the budget."""
    return (budget / (rate * Decimal(months) / Decimal(12))).quantize(CENT, rounding=ROUND_DOWN)


def _im_row(
    name: str,
    persons: int,
    unknown: int,
    per_person: Decimal | None,
    rates: dict[str, Decimal | None],
    months: int,
    applicant: bool,
) -> ImBudget:
    budget = None if per_person is None else money(Decimal(persons) * per_person)
    posts = {
        r: None if budget is None or rate is None else fundable_posts(budget, rate, months) for r, rate in rates.items()
    }
    known = [v for v in posts.values() if v is not None]
    return ImBudget(name, persons, unknown, budget, posts, applicant and bool(known) and max(known) < 1)


def im_budgets(engine: Engine, pairs17: Iterable[tuple[InputRow, Any]], budget_day: dt.date = IM_BUDGET_DAY) -> ImTable:
    """The IM budget of 2018–2019 per Gemeinde (domain: the § 29d count on 15.09.2017 — the
    `lastenausgleich` outcome on that day, not the IM target group — × the rate per person,
    for the whole period) and the posts it funds at each annual rate. `pairs17` are the
    roster's rows decided on 15.09.2017."""
    count = count_lastenausgleich(engine, pairs17, IM_COUNT_DAY)
    value, assumed = param_value(engine, "im_budget_je_person_eur", budget_day)
    per_person = _decimal(value)
    months_v, _ = param_value(engine, "im_budget_zeitraum_monate", budget_day)
    months = int(str(months_v)) if months_v is not None else IM_BUDGET_MONTHS_FALLBACK
    rates = {name: _decimal(param_value(engine, name, budget_day)[0]) for name in RATE_PARAMETERS}
    # Only a Gemeinde is told to pool or hand the task over; a Stadtkreis (Gemeinde and Kreis
    # in one) or the Landkreis itself is the fallback applicant and is never flagged.
    rows = tuple(
        _im_row(
            g.name,
            g.counted,
            g.unknown,
            per_person,
            rates,
            months,
            g.name != NO_GEMEINDE and kreis_key(g.name) not in count.kreise,
        )
        for g in count.gemeinden
    )
    # the total is not an applicant: it is never flagged (the Landkreis is the fallback itself)
    total = _im_row("Gesamt", count.total, count.unknown, per_person, rates, months, False)
    total = dataclasses.replace(
        total, budget=None if per_person is None else sum((r.budget for r in rows if r.budget is not None), Decimal(0))
    )
    return ImTable(count, per_person, assumed and per_person is not None, months, months_v is None, rates, rows, total)
