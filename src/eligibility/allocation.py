"""`eligibility allocation`: the § 29d FAG count per Gemeinde on 15 September and each
Gemeinde's share of the budget; the Integrationsmanagement budget per Gemeinde from the
15.09.2017 count and the posts it funds at each rate. All amounts come from the rule
set's parameters and the count; nothing is hard-coded."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from .compiler import parameter_version
from .decision import Decision
from .engine import Engine
from .rosters import InputRow


@dataclasses.dataclass
class GemeindeCount:
    name: str
    counted: int = 0
    unknown: int = 0
    errors: int = 0
    share: Decimal = Decimal(0)


@dataclasses.dataclass
class Allocation:
    year: int
    stichtag: dt.date
    budget: Decimal | None
    per_head: Decimal | None
    per_head_source: str
    gemeinden: list[GemeindeCount]
    total: int
    unknown: int
    errors: int
    assumption: bool  # the year's Stichtag or budget rests on a marked assumption


def param_value(engine: Engine, name: str, on: dt.date) -> tuple[object | None, bool]:
    spec = engine.compiled.model.parameters[name]
    v = parameter_version(spec, on)
    return (None, False) if v is None else (v.value, v.assumption)


def money(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def lastenausgleich(engine: Engine, pairs: Iterable[tuple[InputRow, Decision | None]], year: int,
                    budget: Decimal | None = None, per_head: Decimal | None = None) -> Allocation:
    """Counts are taken from decisions made on the year's Stichtag (see `stichtag_of`)."""
    stichtag, assumed = stichtag_of(engine, year)
    counts: dict[str, GemeindeCount] = {}
    for row, decision in pairs:
        name = str((row.record or {}).get("gemeinde") or "").strip() or "(ohne Gemeinde)"
        g = counts.setdefault(name, GemeindeCount(name))
        if decision is None or decision.errors:
            g.errors += 1
            continue
        o = decision.outcomes["lastenausgleich"]
        if o.value is True:
            g.counted += 1
        elif o.status == "unknown":
            g.unknown += 1
    total = sum(g.counted for g in counts.values())
    if budget is None:
        value, b_assumed = param_value(engine, "lastenausgleich_budget_eur", stichtag)
        budget = Decimal(str(value)) if value is not None else None
        assumed = assumed or b_assumed
    source = ""
    if per_head is not None:
        source = "vorgegeben (--per-head)"
    elif budget is not None and total:
        per_head = budget / Decimal(total)
        source = "Budget ÷ Zahl dieser Liste (landesweite Liste angenommen)"
    for g in counts.values():
        g.share = money(per_head * g.counted) if per_head is not None else Decimal(0)
    ordered = sorted(counts.values(), key=lambda g: (-g.counted, g.name))
    return Allocation(year, stichtag, budget, money(per_head) if per_head is not None else None, source, ordered,
                      total, sum(g.unknown for g in counts.values()), sum(g.errors for g in counts.values()), assumed)


def stichtag_of(engine: Engine, year: int) -> tuple[dt.date, bool]:
    value, assumed = param_value(engine, "lastenausgleich_stichtag", dt.date(year, 1, 1))
    if not isinstance(value, dt.date):
        raise ValueError(f"Für {year} gibt es keinen Integrationslastenausgleich im Regelwerk "
                         "(§ 29d FAG: 2017 und 2018, 2019 als markierte Erweiterung)")
    return value, assumed


@dataclasses.dataclass
class ImBudget:
    name: str
    persons: int
    unknown: int
    budget: Decimal
    posts: dict[str, Decimal]  # rate parameter -> fundable VZÄ (steps of 0.25)


def im_budgets(engine: Engine, pairs: Iterable[tuple[InputRow, Decision | None]],
               budget_day: dt.date = dt.date(2018, 1, 1)) -> tuple[list[ImBudget], dict[str, Decimal], bool]:
    """Persons in the IM target group on 15.09.2017 per Gemeinde × the rate per person in
    force on `budget_day`, and the posts that budget funds at each rate."""
    per_person, assumed = param_value(engine, "im_budget_je_person_eur", budget_day)
    if per_person is None:
        raise ValueError("kein IM-Budgetsatz je Person in Kraft")
    rates: dict[str, Decimal] = {}
    for name in ("foerdersatz_hochschule_eur", "foerdersatz_ausbildung_eur"):
        v, _ = param_value(engine, name, budget_day)
        if v is not None:
            rates[name] = Decimal(str(v))
    step_v, _ = param_value(engine, "stelle_vzae_schritt", budget_day)
    step = Decimal(str(step_v or "0.25"))
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for row, decision in pairs:
        name = str((row.record or {}).get("gemeinde") or "").strip() or "(ohne Gemeinde)"
        if decision is None or decision.errors:
            continue
        o = decision.outcomes["integrationsmanagement"]
        if o.value is True:
            counts[name][0] += 1
        elif o.status == "unknown":
            counts[name][1] += 1
    out = []
    for name, (n, unknown) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0])):
        budget = money(Decimal(n) * Decimal(str(per_person)))
        posts = {r: ((budget / rate) / step).to_integral_value(rounding=ROUND_DOWN) * step for r, rate in rates.items()}
        out.append(ImBudget(name, n, unknown, budget, posts))
    return out, rates, assumed
