"""From when, and until when: the intervals on which each outcome is constant.

Computed exactly from the change points the rules and the record imply, not by sampling
days: every validity boundary of a rule, outcome or parameter version; every date fact and
date literal; every date the record's facts compute without the reference date (such as
`add_months(aufnahme_uab_datum, 24)`, with the parameter version of each period); and for
each such date X both X and X + 1, because `stichtag > X` changes at X + 1 (the BGB day
after a period's end) while `stichtag >= X` changes at X. Between two change points no
comparison with the reference date can change, so one evaluation per point decides the
whole interval. A rule set whose expressions compute with the reference date itself
(`add_months(stichtag, …)`) is evaluated day by day instead, which is exact but slower."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from eligibility.compile.compiler import CNode, CompiledEntity, CompiledRuleSet, Env, reachable
from eligibility.decision.model import Label
from eligibility.decision.records import normalize
from eligibility.lang.values import NEVER, UNKNOWN, to_json_value

ONE_DAY = dt.timedelta(days=1)


class Interval(BaseModel):
    """A stretch of days on which an outcome has one value."""

    start: dt.date = Field(alias="from")
    end: dt.date | None = Field(default=None, alias="to")  # inclusive; None: open
    value: Any = None
    status: str
    rule: str | None = None
    missing: list[str] = Field(default_factory=list)
    cause: Label | None = None  # what starts this interval

    model_config = {"populate_by_name": True}


class Timeline(BaseModel):
    record_id: str | None
    entity: str
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    outcomes: dict[str, list[Interval]]
    ruleset: dict[str, str]

    model_config = {"populate_by_name": True}

    def at(self, outcome: str, day: dt.date) -> Interval | None:
        for iv in self.outcomes[outcome]:
            if iv.start <= day and (iv.end is None or day <= iv.end):
                return iv
        return None

    def next_change(self, outcome: str, day: dt.date) -> Interval | None:
        """The next interval whose value differs from the value on `day`."""
        now = self.at(outcome, day)
        for iv in self.outcomes[outcome]:
            if iv.start > day and (now is None or (iv.value, iv.status) != (now.value, now.status)):
                return iv
        return None

    def since(self, outcome: str, day: dt.date) -> dt.date | None:
        """First day of the run of days, up to `day`, with the value of `day` (None when it
        holds since the start of the timeline)."""
        ivs = self.outcomes[outcome]
        idx = next((i for i, iv in enumerate(ivs) if iv.start <= day and (iv.end is None or day <= iv.end)), None)
        if idx is None:
            return None
        while idx > 0 and (ivs[idx - 1].value, ivs[idx - 1].status) == (ivs[idx].value, ivs[idx].status):
            idx -= 1
        return None if idx == 0 else ivs[idx].start


@dataclasses.dataclass
class _Point:
    causes: list[tuple[str, Label]]  # (kind key, text)


def _depends_on_stichtag(node: CNode) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if n.kind == "stichtag":
            return True
        stack.extend(n.kids)
    return False


def _all_nodes(ent: CompiledEntity) -> list[CNode]:
    roots = [d.node for d in ent.derived.values()]
    roots += [n for oc in ent.outcomes.values() for r in oc.rules for n in (r.cond, r.compute) if n is not None]
    out: list[CNode] = []
    stack = list(roots)
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(n.kids)
    return out


class TimelineBuilder:
    """Per entity: which sub-expressions yield change points, prepared once."""

    def __init__(self, crs: CompiledRuleSet, ent: CompiledEntity) -> None:
        self.crs = crs
        self.ent = ent
        nodes = _all_nodes(ent)
        self.exact = not any(n.kind in ("call", "arith") and _depends_on_stichtag(n) for n in nodes)
        self.date_facts = [n for n, f in ent.facts.items() if f.type == "date"]
        # Date-valued computations from facts and parameters only (add_months(aufnahme, 24)).
        self.computed = [
            n
            for n in nodes
            if n.kind == "call" and n.name in ("add_months", "add_years", "add_days") and not _depends_on_stichtag(n)
        ]
        seen: set[int] = set()
        self.computed = [n for n in self.computed if not (id(n) in seen or seen.add(id(n)))]  # type: ignore[func-returns-value]
        # Literal nodes carry their value on the AST (typed as the base Node).
        self.literals = sorted(
            {
                n.ast.value  # type: ignore[attr-defined]
                for n in nodes
                if n.kind == "literal" and isinstance(n.ast.value, dt.date)  # type: ignore[attr-defined]
            }
        )
        # Validity boundaries: rules, outcomes, parameter versions, the rule set.
        self.static: dict[dt.date, list[tuple[str, Label]]] = {}
        m = crs.model
        for oid, oc in ent.outcomes.items():
            for r in oc.rules:
                if r.valid_from != m.manifest.valid_from:  # in force from the first day is no change
                    self._add_static(
                        r.valid_from,
                        f"rule:{r.id}",
                        # Said with the rule's label, not its id: the text is read by caseworkers.
                        Label(
                            de=f"ab diesem Tag gilt: {r.spec.label.de} ({r.spec.source})",
                            en=f"from this day: {r.spec.label.get('en')} ({r.spec.source})",
                        ),
                    )
                if r.valid_to:
                    self._add_static(
                        r.valid_to + ONE_DAY,
                        f"rule:{r.id}",
                        Label(
                            de=f"nur bis {r.valid_to:%d.%m.%Y} galt: {r.spec.label.de} ({r.spec.source})",
                            en=f"until {r.valid_to.isoformat()} only: {r.spec.label.get('en')} ({r.spec.source})",
                        ),
                    )
            if oc.spec.valid_from:
                self._add_static(
                    oc.spec.valid_from,
                    f"outcome:{oid}",
                    Label(
                        de=f"„{oc.spec.label.de}“ wird ab diesem Tag entschieden",
                        en=f"“{oc.spec.label.get('en')}” is decided from this day",
                    ),
                )
            if oc.spec.valid_to:
                self._add_static(
                    oc.spec.valid_to + ONE_DAY,
                    f"outcome:{oid}",
                    Label(
                        de=f"„{oc.spec.label.de}“ wird nur bis {oc.spec.valid_to:%d.%m.%Y} entschieden",
                        en=f"“{oc.spec.label.get('en')}” is decided until {oc.spec.valid_to.isoformat()} only",
                    ),
                )
        for name, p in m.parameters.items():
            starts = {v.valid_from for v in p.versions}
            for v in p.versions:
                self._add_static(
                    v.valid_from,
                    f"param:{name}",
                    Label(
                        de=f"{p.label.de}: neue Fassung ({v.source})",
                        en=f"{p.label.get('en')}: new version ({v.source})",
                    ),
                )
                if v.valid_to and v.valid_to + ONE_DAY not in starts:
                    self._add_static(
                        v.valid_to + ONE_DAY,
                        f"param:{name}",
                        Label(de=f"{p.label.de}: Fassung endet", en=f"{p.label.get('en')}: version ends"),
                    )
        for d in self.literals:
            for day in (d, d + ONE_DAY):
                self._add_static(
                    day,
                    "literal",
                    Label(de=f"Stichtag {d:%d.%m.%Y} im Regelwerk", en=f"date {d.isoformat()} in the rules"),
                )
        self.start_of_rules = m.manifest.valid_from
        self._add_static(
            m.manifest.valid_from, "ruleset", Label(de="Beginn des Regelwerks", en="start of the rule set")
        )
        if m.manifest.valid_to:
            self._add_static(
                m.manifest.valid_to + ONE_DAY, "ruleset", Label(de="Ende des Regelwerks", en="end of the rule set")
            )

    def _period_words(self, node: CNode, env: Env) -> tuple[str, str]:
        """ "Frist von 24 Monaten ab Aufnahme durch die untere Aufnahmebehörde"."""
        base, amount = node.kids[0], node.kids[1]
        if base.kind == "fact":
            label = self.ent.facts[base.name].label
            de, en = label.de, label.get("en")
        else:
            de = en = base.text
        n = amount.fn(env)
        # "von" takes the dative: "Frist von 24 Monaten", "von 1 Monat".
        one_de, many_de, one_en, many_en = {
            "add_months": ("Monat", "Monaten", "month", "months"),
            "add_years": ("Jahr", "Jahren", "year", "years"),
            "add_days": ("Tag", "Tagen", "day", "days"),
        }[node.name]
        unit_de, unit_en = (one_de, one_en) if n == 1 else (many_de, many_en)
        return f"Frist von {n} {unit_de} ab {de}", f"period of {n} {unit_en} from {en}"

    def _add_static(self, day: dt.date, key: str, text: Label) -> None:
        self.static.setdefault(day, []).append((key, text))

    def change_points(
        self, facts: Mapping[str, Any], start: dt.date, end: dt.date
    ) -> dict[dt.date, list[tuple[str, Label]]]:
        points: dict[dt.date, list[tuple[str, Label]]] = {start: []}
        for day, causes in self.static.items():
            if start <= day <= end:
                points.setdefault(day, []).extend(causes)
        for name in self.date_facts:
            v = facts.get(name)
            if isinstance(v, dt.date) and v is not NEVER:
                label = self.ent.facts[name].label
                for day in (v, v + ONE_DAY):
                    if start <= day <= end:
                        points.setdefault(day, []).append(
                            (
                                f"fact:{name}",
                                Label(de=f"{label.de}: {v:%d.%m.%Y}", en=f"{label.get('en')}: {v.isoformat()}"),
                            )
                        )
        # Computed dates depend on parameter versions: evaluate them in each stretch in
        # which all parameters are constant.
        param_days = sorted(
            {d for d, cs in self.static.items() if any(k.startswith("param:") for k, _ in cs)} | {start}
        )
        stretches = [d for d in param_days if d <= end]
        for i, day in enumerate(stretches):
            if i + 1 < len(stretches) and stretches[i + 1] <= start:
                continue
            env = Env(
                self.ent,
                dict(facts),
                max(day, start),
                self.crs.params_on(max(day, start)),
                self.crs.rules_on(self.ent.name, max(day, start)),
            )
            for node in self.computed:
                try:
                    v = node.fn(env)
                except (OverflowError, ValueError):
                    continue
                if isinstance(v, dt.date) and v is not NEVER and v is not UNKNOWN:
                    what_de, what_en = self._period_words(node, env)
                    for d in (v, v + ONE_DAY):
                        if start <= d <= end:
                            points.setdefault(d, []).append(
                                (
                                    f"period:{node.text}",
                                    Label(
                                        de=f"{what_de} endet mit Ablauf des {v:%d.%m.%Y}"
                                        if d > v
                                        else f"{what_de}: {v:%d.%m.%Y}",
                                        en=f"{what_en} ends at the end of {v.isoformat()}"
                                        if d > v
                                        else f"{what_en}: {v.isoformat()}",
                                    ),
                                )
                            )
        return points


def _evaluate(
    crs: CompiledRuleSet, ent: CompiledEntity, facts: dict[str, Any], day: dt.date
) -> dict[str, tuple[Any, str, str | None, tuple[str, ...], Any]]:
    from eligibility.eval.evaluator import outcome_missing, status_of

    env = Env(ent, facts, day, crs.params_on(day), crs.rules_on(ent.name, day))
    memo: dict[int, frozenset[str]] = {}
    out = {}
    for oid in ent.outcome_order:
        oc = ent.outcomes[oid]
        r = env.outcome(oid)
        missing = tuple(sorted(outcome_missing(oc, r, env, memo))) if r.value is UNKNOWN else ()
        out[oid] = (r.value, status_of(r.value, oc, r), r.rule.id if r.rule else None, missing, r)
    return out


def _cause_for(
    causes: list[tuple[str, Label]],
    new_rule: str | None,
    old_rule: str | None,
    considered: set[str],
    facts_read: set[str],
) -> Label | None:
    """What starts an interval: the new deciding rule taking effect, the old one ending,
    a period ending, an event of the record, a new parameter version, in that order."""
    if not causes:
        return None
    order: list[Callable[[str], bool]]
    order = [
        lambda k: k == f"rule:{new_rule}",
        lambda k: k == f"rule:{old_rule}",
        lambda k: k.startswith("rule:") and k[5:] in considered,
        lambda k: k.startswith("period:"),
        lambda k: k.startswith("fact:") and k[5:] in facts_read,
        lambda k: k.startswith("param:"),
        lambda k: True,
    ]
    for test in order:
        for key, text in causes:
            if test(key):
                return text
    return None


HORIZON = dt.date(2099, 12, 31)


def build_timeline(
    crs: CompiledRuleSet,
    ent: CompiledEntity,
    builder: TimelineBuilder,
    record: Mapping[str, Any],
    start: dt.date,
    end: dt.date | None,
    record_id: str | None,
    info: dict[str, str],
) -> Timeline:
    """`end` None: one year after the record's last change point (found in the same pass)."""
    facts, _ = normalize(record, ent.facts)
    if end is None:
        points = builder.change_points(facts, start, HORIZON)
        end = max(points) + dt.timedelta(days=365)
        if not builder.exact:
            points = {start + dt.timedelta(days=i): [] for i in range((end - start).days + 1)}
    elif builder.exact:
        points = builder.change_points(facts, start, end)
    else:
        points = {start + dt.timedelta(days=i): [] for i in range((end - start).days + 1)}
    days = sorted(points)
    intervals: dict[str, list[Interval]] = {oid: [] for oid in ent.outcome_order}
    previous: dict[str, tuple[Any, ...]] = {}
    for i, day in enumerate(days):
        values = _evaluate(crs, ent, facts, day)
        for oid, (value, status, rule, missing, result) in values.items():
            key = (repr(value), status, rule, missing)
            if previous.get(oid) == key:
                continue
            if intervals[oid]:
                intervals[oid][-1].end = day - ONE_DAY
            rule_ids = {r.id for r, _ in result.considered}
            facts_read = {
                n.name
                for n in reachable(ent, [x for r, _ in result.considered for x in (r.cond, r.compute)])
                if n.kind == "fact"
            }
            old_rule = intervals[oid][-1].rule if intervals[oid] else None
            cause = None if i == 0 else _cause_for(points[day], rule, old_rule, rule_ids, facts_read)
            intervals[oid].append(
                Interval(
                    start=day,
                    value=None if value is UNKNOWN else to_json_value(value),
                    status=status,
                    rule=rule,
                    missing=list(missing),
                    cause=cause,
                )
            )
            previous[oid] = key
    for ivs in intervals.values():
        if ivs:
            ivs[-1].end = end
    return Timeline(record_id=record_id, entity=ent.name, start=start, end=end, outcomes=intervals, ruleset=info)


# The chart's colours: ja green, nein red, noch offen violet, not in force grey; a value
# outcome (a tier like the Priorität, an amount) is not a "ja" and gets blues of its own,
# darkest for its first value. Each with the text colour readable on it (WCAG AA).
COLORS = {"yes": "#2f855a", "value": "#2b6cb0", "no": "#c53030", "unknown": "#6b46c1", "not_in_force": "#a0aec0"}
TIER_COLORS = ("#2c5282", "#4299e1", "#bee3f8", "#90cdf4")
_DARK_TEXT = frozenset({"#a0aec0", "#4299e1", "#bee3f8", "#90cdf4"})


def words(engine: Any, t: Timeline, lang: str = "de") -> dict[str, list[str]]:
    """Each interval's answer in words; an open one names the missing facts by their label."""
    from eligibility.text.render import value_text

    ent = engine.entity(t.entity)
    out: dict[str, list[str]] = {}
    for oid, ivs in t.outcomes.items():
        ws = []
        for iv in ivs:
            if iv.status == "unknown":
                missing = ", ".join(ent.facts[f].label.get(lang) if f in ent.facts else f for f in iv.missing)
                ws.append(("noch offen" if lang == "de" else "open") + (f" ({missing})" if missing else ""))
            elif iv.status == "not_in_force":
                ws.append("nicht in Kraft" if lang == "de" else "not in force")
            else:
                ws.append(value_text(ent, oid, iv.value, lang))
        out[oid] = ws
    return out


def rule_words(engine: Any, t: Timeline, lang: str = "de") -> dict[str, list[str]]:
    """Each interval's deciding rule by its label (the JSON keeps the rule's id)."""
    ent = engine.entity(t.entity)
    out: dict[str, list[str]] = {}
    for oid, ivs in t.outcomes.items():
        labels = {r.id: r.spec.label.get(lang) for r in ent.outcomes[oid].rules}
        out[oid] = [labels.get(iv.rule, "") if iv.rule else "" for iv in ivs]
    return out


def render_text(engine: Any, t: Timeline, lang: str = "de") -> str:
    ent = engine.entity(t.entity)
    ws = words(engine, t, lang)
    rs = rule_words(engine, t, lang)
    because = "weil" if lang == "de" else "because"
    lines = [
        f"Zeitleiste {t.record_id or ''} · {t.start:%d.%m.%Y} – {t.end:%d.%m.%Y} · "
        f"Regelwerk {t.ruleset['name']} {t.ruleset['version']} (sha256 {t.ruleset['sha256'][:12]})"
        if lang == "de"
        else f"Timeline {t.record_id or ''} · {t.start:%d.%m.%Y} – {t.end:%d.%m.%Y} · "
        f"rule set {t.ruleset['name']} {t.ruleset['version']} (sha256 {t.ruleset['sha256'][:12]})"
    ]
    for oid, ivs in t.outcomes.items():
        lines += ["", ent.outcomes[oid].spec.label.get(lang)]
        for iv, w, r in zip(ivs, ws[oid], rs[oid]):
            until = f"{iv.end:%d.%m.%Y}" if iv.end else ("offen" if lang == "de" else "open")
            cause = (
                f"  ← {iv.cause.get(lang) if hasattr(iv.cause, 'get') else getattr(iv.cause, lang)}" if iv.cause else ""
            )
            lines.append(f"  {iv.start:%d.%m.%Y} – {until:10}  {w}{cause}".rstrip())
            if r:
                lines.append(f"      {because}: {r}")
    return "\n".join(lines) + "\n"


def merged(ivs: list[Interval]) -> list[Interval]:
    """Neighbouring intervals with the same value and status as one: the timeline splits
    where the deciding rule or the missing facts change, a reader only where the answer
    does. The merged interval keeps the cause of its first part."""
    out: list[Interval] = []
    for iv in ivs:
        if out and (out[-1].value, out[-1].status) == (iv.value, iv.status):
            out[-1] = out[-1].model_copy(update={"end": iv.end})
        else:
            out.append(iv.model_copy())
    return out


def _tier_color(ent: Any, oid: str, iv: Interval) -> str:
    values = ent.outcomes[oid].spec.values or []
    if iv.status == "value" and iv.value in values:
        return TIER_COLORS[values.index(iv.value) % len(TIER_COLORS)]
    return COLORS.get(iv.status, "#a0aec0")


def chart(engine: Any, t: Timeline, on: dt.date | None = None, lang: str = "de") -> dict[str, Any]:
    """The chart of a timeline as data for the SVG template: one row per outcome with its
    full label above the bar (nothing cut), merged intervals, colours by status (tiers in
    their own), a legend of the colours used, year ticks and, with `on`, a Stichtag line."""
    from eligibility.text.render import value_text

    ent = engine.entity(t.entity)
    # Margins leave room for the first and last year label below the axis.
    width, left, right, top, row_h = 1000, 18, 18, 22, 44
    span = max(1, (t.end - t.start).days + 1)
    scale = (width - left - right) / span
    rows: list[dict[str, Any]] = []
    legend: dict[str, tuple[str, str]] = {}
    for i, (oid, ivs) in enumerate(t.outcomes.items()):
        segs = []
        for iv in merged(ivs):
            end = iv.end or t.end
            if iv.status == "unknown":
                word = "noch offen" if lang == "de" else "unknown"
            elif iv.status == "not_in_force":
                word = "nicht in Kraft" if lang == "de" else "not in force"
            else:
                word = value_text(ent, oid, iv.value, lang)
            color = _tier_color(ent, oid, iv)
            w = max(0.5, ((end - iv.start).days + 1) * scale)
            # Tiers by their words; amounts and counts share one entry (their value is
            # written in the bar and its tooltip).
            tiered = iv.status == "value" and iv.value in (ent.outcomes[oid].spec.values or [])
            if iv.status == "value" and not tiered:
                legend.setdefault(color, (color, "Wert" if lang == "de" else "value"))
            else:
                legend.setdefault(color + word if tiered else color, (color, word))
            segs.append(
                {
                    "x": round(left + (iv.start - t.start).days * scale, 1),
                    "w": round(w, 1),
                    "color": color,
                    "ink": "#1a202c" if color in _DARK_TEXT else "#ffffff",
                    "text": word,
                    # Only where the word fits (about 7 px a character at 12 px).
                    "show": w >= 7 * len(word) + 8,
                    "span": f"{iv.start:%d.%m.%Y} – {end:%d.%m.%Y}",
                }
            )
        y = top + i * row_h
        rows.append({"y": y, "label": ent.outcomes[oid].spec.label.get(lang), "segments": segs})
    height = top + len(rows) * row_h + 18
    step = 1 if t.end.year - t.start.year <= 20 else 5
    ticks = []
    for year in range(t.start.year, t.end.year + 2):
        d = dt.date(year, 1, 1)
        if t.start <= d <= t.end and year % step == 0:
            ticks.append({"x": round(left + (d - t.start).days * scale, 1), "label": str(year)})
    marker = None
    if on is not None and t.start <= on <= t.end:
        x = round(left + (on - t.start).days * scale, 1)
        marker = {"x": x, "label": f"Stichtag {on:%d.%m.%Y}", "anchor": "end" if x > width - 150 else "start"}
    return {
        "width": width,
        "left": left,
        "height": height,
        "rows": rows,
        "ticks": ticks,
        "marker": marker,
        "legend": list(legend.values()),
    }


def render_html(engine: Any, t: Timeline, on: dt.date | None = None) -> str:
    from eligibility.text.render import environment

    ent = engine.entity(t.entity)
    ws = words(engine, t)
    labels = {oid: ent.outcomes[oid].spec.label.de for oid in t.outcomes}
    return (
        environment()
        .get_template("timeline.html.j2")
        .render(t=t, chart=chart(engine, t, on), labels=labels, words=ws, rules=rule_words(engine, t))
    )
