"""Render decisions for people: the one-line reason per outcome (German and English)
and whole decisions as text or Markdown, from jinja2 templates beside this module."""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from typing import Any

import jinja2

from eligibility.compile.compiler import CompiledEntity, CompiledRuleSet
from eligibility.decision.model import AssumptionRef, Decision, ExplanationNode, Label, OutcomeDecision, Question
from eligibility.decision.shared import share
from eligibility.lang.values import format_value
from eligibility.source.citations import localize
from eligibility.text.verbalize import Narrator

LANGS = ("de", "en")


def _date(value: Any, lang: str = "de") -> str:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()
    return str(value)


def _fmt(node: ExplanationNode, lang: str = "de") -> str:
    if not node.known:
        return "unbekannt" if lang == "de" else "unknown"
    if node.value is None:
        return "nicht eingetreten" if lang == "de" else "has not happened"
    v = node.value
    if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-":
        return _date(v, lang)
    return format_value(v, lang)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # auto_reload off: templates ship with the package; checking their mtime on every
    # render cost a stat() per outcome and decision.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("eligibility.text", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )
    env.filters["date"] = _date
    env.filters["fmt"] = _fmt
    env.filters["cite"] = localize
    return env


# Units are written in the rule files in German; English text says them in English.
_UNITS_EN = {"Monate": "months", "Jahre": "years", "Tage": "days", "VZÄ": "FTE"}


def unit_text(unit: str | None, lang: str) -> str | None:
    if unit is None:
        return None
    if unit == "EUR":
        return "€"
    return _UNITS_EN.get(unit, unit) if lang == "en" else unit


def value_text(entity: CompiledEntity, outcome: str, value: Any, lang: str) -> str:
    spec = entity.outcomes[outcome].spec
    if isinstance(value, str) and spec.value_labels and value in spec.value_labels:
        return spec.value_labels[value].get(lang)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and spec.unit:
        from decimal import Decimal

        return f"{format_value(Decimal(str(value)), lang)} {unit_text(spec.unit, lang)}"
    return format_value(value, lang)


def reason(entity: CompiledEntity, outcome: str, o: OutcomeDecision) -> Label:
    """The one-line reason in German and English. It depends only on the outcome, its
    status, deciding rule, source, assumptions and missing facts, so it is memoised."""
    key = (outcome, o.status, o.rule, o.source, bool(o.assumptions), tuple(o.missing))
    cache = _reasons_of(entity)
    cached = cache.get(key)
    if cached is not None:
        return cached.model_copy()
    tmpl = environment().get_template("reason.j2")
    spec = entity.outcomes[outcome].spec
    rule = next((r for r in entity.outcomes[outcome].rules if r.id == o.rule), None)
    texts = {}
    for lang in LANGS:
        texts[lang] = tmpl.render(
            o=o,
            lang=lang,
            amount=spec.unit == "EUR",
            rule_label=rule.spec.label.get(lang) if rule else "",
            default_label=spec.default.label.get(lang) if spec.default else "",
            missing_labels=[q.label.de if lang == "de" else q.label.en for q in o.questions],
        ).strip()
    result = Label(**texts)
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = result
    return result.model_copy()


# Reasons per compiled entity, held weakly: a reloaded rule set's entities (and with them their
# engine) are freed with their cached reasons instead of living on in a module global.
_REASONS: weakref.WeakKeyDictionary[CompiledEntity, dict[tuple[object, ...], Label]] = weakref.WeakKeyDictionary()


def _reasons_of(entity: CompiledEntity) -> dict[tuple[object, ...], Label]:
    cache = _REASONS.get(entity)
    if cache is None:
        cache = _REASONS[entity] = {}
    return cache


def reason_data(
    entity: CompiledEntity, outcome: str, o: dict[str, Any], shared: dict[tuple[object, ...], Any] | None = None
) -> dict[str, str]:
    """`reason` for an outcome given as data (the evaluator's JSON shape). With `shared` (the
    evaluation's side table for the entity), the same dict for every decision with that reason:
    decision data is read-only."""
    key = (outcome, o["status"], o["rule"], o["source"], bool(o["assumptions"]), tuple(o["missing"]))
    if shared is not None:
        hit = shared.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
    cached = _reasons_of(entity).get(key)
    if cached is None:
        cached = reason(entity, outcome, OutcomeDecision.model_validate(dict(o, reason={"de": "", "en": ""})))
    data: dict[str, str] = {"de": cached.de, "en": cached.en}
    if shared is not None:
        data = share(data)  # one object in many decisions: read-only
        if len(shared) > 10_000:
            shared.clear()
        shared[key] = data
    return data


def short_reason(
    entity: CompiledEntity,
    outcome: str,
    value: Any,
    table_status: str,
    rule_id: str | None,
    assumption: bool,
    missing: list[str],
) -> Label:
    """The same one-line reason as `reason`, from a batch-table row."""
    if table_status == "unknown":
        status = "unknown"
    elif table_status == "not_in_force":
        status = "not_in_force"
    else:
        status = "yes" if value is True else "no" if value is False else "value"
    oc = entity.outcomes[outcome]
    rule = next((r for r in oc.rules if r.id == rule_id), None) if rule_id else None
    source = (
        rule.spec.source
        if rule
        else (oc.spec.default.source if status in ("yes", "no", "value") and oc.spec.default else None)
    )
    key = (outcome, status, rule_id, source, assumption, tuple(missing))
    cached = _reasons_of(entity).get(key)
    if cached is not None:
        return cached
    o = OutcomeDecision(
        value=value,
        status=status,
        label=Label(de="", en=""),
        rule=rule_id,
        source=source,
        assumptions=[AssumptionRef(id="x", kind="rule", label=Label(de="", en=""))] if assumption else [],
        missing=list(missing),
        questions=[
            Question(
                fact=f,
                label=Label(de=entity.facts[f].label.de, en=entity.facts[f].label.get("en")),
                question=Label(de="", en=""),
            )
            for f in missing
        ],
        reason=Label(de="", en=""),
    )
    return reason(entity, outcome, o)


# One narrator per entity, language and rule set, held weakly like the reasons above.
_NARRATORS: weakref.WeakKeyDictionary[CompiledEntity, dict[tuple[str, int], Narrator]] = weakref.WeakKeyDictionary()


def _narrator(entity: CompiledEntity, lang: str, crs: CompiledRuleSet | None) -> Narrator:
    per = _NARRATORS.get(entity)
    if per is None:
        per = _NARRATORS[entity] = {}
    key = (lang, id(crs))
    hit = per.get(key)
    if hit is None or hit.crs is not crs:
        hit = per[key] = Narrator(entity, lang, crs)
    return hit


_VERDICTS = {
    "de": {"yes": "JA", "no": "NEIN", "unknown": "NOCH OFFEN", "not_in_force": "NICHT IN KRAFT"},
    "en": {"yes": "YES", "no": "NO", "unknown": "UNKNOWN", "not_in_force": "NOT IN FORCE"},
}


def _unmet(rule: Any, label: Label, lang: str) -> str:
    """A rule whose condition failed, said as what holds instead: its `label_false`, or
    "nicht erfüllt: <label>" (the label of a rule that grants is a positive statement)."""
    spec = rule.spec if rule is not None else None
    if spec is not None and spec.label_false is not None:
        return str(spec.label_false.get(lang))
    return ("nicht erfüllt: " if lang == "de" else "not met: ") + str(getattr(label, lang))


def outcome_views(
    decision: Decision,
    entity: CompiledEntity,
    lang: str,
    detail: bool,
    timeline: dict[str, Any],
    crs: CompiledRuleSet | None = None,
) -> list[dict[str, Any]]:
    """Per outcome what the text and Markdown templates print, in plain words: no ids,
    operators or rule paths (those go to `technical`)."""
    narrator = _narrator(entity, lang, crs)
    views = []
    for oid, o in decision.outcomes.items():
        seen: set[str] = set()
        oc = entity.outcomes.get(oid)
        rules = {r.id: r for r in oc.rules} if oc is not None else {}
        t = timeline.get(oid) or {}
        view: dict[str, Any] = {
            "id": oid,
            "o": o,
            "label": getattr(o.label, lang),
            "verdict": value_text(entity, oid, o.value, lang) if o.status == "value" else _VERDICTS[lang][o.status],
            # "seit" belongs to an answer; an open question has no "since" a person could act on.
            "since": t.get("since") if o.status != "unknown" else None,
            "reason": getattr(o.reason, lang),
            "missing": [getattr(q.label, lang) for q in o.questions],
            "assumptions": [(getattr(a.label, lang), getattr(a.note, lang) if a.note else "") for a in o.assumptions],
            "lines": [],
            "checked": [],
            "open": [],
            "next": None,
            "conditions": [],
        }
        for tr in o.trace:
            cite = localize(tr.source, lang) if tr.source else ""
            shown = False
            if tr.rule == o.rule and o.rule is not None:
                shown = True
                if detail and tr.explanation is not None:
                    view["lines"] = narrator.lines(tr.explanation, seen)
            elif o.status == "unknown" and tr.condition is None:
                shown = True
                view["open"].append(
                    {
                        "text": getattr(tr.label, lang),
                        "source": cite,
                        "lines": narrator.lines(tr.explanation, seen) if detail and tr.explanation is not None else [],
                    }
                )
            elif o.status == "no" and o.rule is None and tr.condition is False:
                shown = True
                rule = rules.get(tr.rule)
                lines = narrator.lines(tr.explanation, seen) if detail and tr.explanation is not None else []
                if (
                    lines
                    and rule is not None
                    and rule.spec.label_false is not None
                    and tr.explanation is not None
                    and tr.explanation.kind == "derived"
                ):
                    # The rule's own "not" label already says what the derived fact's line would.
                    lines = [(depth - 1, text) for depth, text in lines[1:]]
                view["checked"].append({"text": _unmet(rule, tr.label, lang), "source": cite, "lines": lines})
            if shown and tr.explanation is not None:
                view["conditions"].append((tr.rule, tr.explanation.text, tr.condition))
        if t.get("next"):
            view["next"] = {"on": t["next"], "value": t.get("next_value"), "cause": t.get("next_cause")}
        views.append(view)
    return views


def error_texts(decision: Decision, entity: CompiledEntity, lang: str) -> list[str]:
    """The record's errors with the field's label in front instead of its column name
    (the JSON keeps the name for programs)."""
    out = []
    for e in decision.errors:
        text = str(getattr(e.message, lang))
        field = e.field or ""
        spec = entity.facts.get(field) if field else None
        if spec is not None and text.startswith(f"{field}: "):
            text = f"{spec.label.get(lang)}: {text[len(field) + 2 :]}"
        out.append(text)
    return out


def open_questions(decision: Decision, lang: str) -> list[dict[str, Any]]:
    """Each question once per decision, with the outcomes its answer can settle."""
    out = []
    for q in decision.questions:
        affects = [getattr(o.label, lang) for o in decision.outcomes.values() if q.fact in o.missing]
        out.append(
            {"question": getattr(q.question, lang), "label": getattr(q.label, lang), "fact": q.fact, "affects": affects}
        )
    return out


def render(
    decision: Decision,
    entity: CompiledEntity,
    fmt: str = "text",
    lang: str = "de",
    detail: bool = True,
    timeline: dict[str, Any] | None = None,
    *,
    technical: bool = False,
    crs: CompiledRuleSet | None = None,
) -> str:
    """`timeline`: per outcome {since, next, next_value, next_cause} ("seit", "nächste Änderung").
    `detail`: the conditions under each answer, in words. `technical`: a last section with the
    ids, expressions and rule paths (for rule authors; the default text has none of them)."""
    name = {"text": "decision.txt.j2", "markdown": "decision.md.j2"}[fmt]
    text = (
        environment()
        .get_template(name)
        .render(
            d=decision,
            lang=lang,
            views=outcome_views(decision, entity, lang, detail, timeline or {}, crs),
            questions=open_questions(decision, lang),
            errors=error_texts(decision, entity, lang),
            technical=technical,
        )
    )
    # Templates are written for readability; collapse the blank lines they leave.
    lines = text.splitlines()
    out: list[str] = []
    for line in lines:
        if line.strip() == "" and out and out[-1].strip() == "":
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"
