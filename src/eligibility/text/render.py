"""Render decisions for people: the one-line reason per outcome (German and English)
and whole decisions as text or Markdown, from jinja2 templates beside this module."""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from typing import Any

import jinja2

from eligibility.compile.compiler import CompiledEntity
from eligibility.decision.model import AssumptionRef, Decision, ExplanationNode, Label, OutcomeDecision, Question
from eligibility.lang.values import format_value
from eligibility.source.citations import localize

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


def value_text(entity: CompiledEntity, outcome: str, value: Any, lang: str) -> str:
    spec = entity.outcomes[outcome].spec
    if isinstance(value, str) and spec.value_labels and value in spec.value_labels:
        return spec.value_labels[value].get(lang)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and spec.unit:
        from decimal import Decimal

        unit = "€" if spec.unit == "EUR" else spec.unit
        return f"{format_value(Decimal(str(value)), lang)} {unit}"
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


def reason_data(entity: CompiledEntity, outcome: str, o: dict[str, Any]) -> dict[str, str]:
    """`reason` for an outcome given as data (the evaluator's JSON shape)."""
    key = (outcome, o["status"], o["rule"], o["source"], bool(o["assumptions"]), tuple(o["missing"]))
    cached = _reasons_of(entity).get(key)
    if cached is None:
        cached = reason(entity, outcome, OutcomeDecision.model_validate(dict(o, reason={"de": "", "en": ""})))
    return {"de": cached.de, "en": cached.en}


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


def render(
    decision: Decision,
    entity: CompiledEntity,
    fmt: str = "text",
    lang: str = "de",
    detail: bool = True,
    timeline: dict[str, Any] | None = None,
) -> str:
    """`timeline`: per outcome {since, next, next_value, next_cause} ("seit", "nächste Änderung")."""
    name = {"text": "decision.txt.j2", "markdown": "decision.md.j2"}[fmt]
    values = {oid: value_text(entity, oid, o.value, lang) for oid, o in decision.outcomes.items()}
    reasons = {oid: getattr(o.reason, lang) for oid, o in decision.outcomes.items()}
    text = (
        environment()
        .get_template(name)
        .render(d=decision, lang=lang, values=values, reasons=reasons, detail=detail, timeline=timeline or {})
    )
    # Templates are written for readability; collapse the blank lines they leave.
    lines = text.splitlines()
    out: list[str] = []
    for line in lines:
        if line.strip() == "" and out and out[-1].strip() == "":
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"
