"""The rule set as a caseworker reads it: outcomes, rules in German words with their
sources, parameter histories, assumptions and county overlays. Generated from the rule
files (never written by hand), as Markdown or self-contained HTML."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from eligibility.engine import Engine
from eligibility.lang.values import format_value
from eligibility.source.citations import KIND_LABELS, date_text, kind_label
from eligibility.source.loader import OVERLAY_DIR
from eligibility.text.render import environment
from eligibility.text.verbalize import Verbalizer


@dataclasses.dataclass
class RuleDoc:
    id: str
    label: str
    source: str
    valid: str
    condition: str
    expression: str
    conclusion: str
    overrides: str
    assumption: bool
    note: str


def _valid(vf: Any, vt: Any) -> str:
    start = vf.strftime("%d.%m.%Y") if vf else ""
    return f"{start} – {vt.strftime('%d.%m.%Y')}" if vt else f"ab {start}"


def collect(engine: Engine, lang: str = "de") -> dict[str, Any]:
    crs = engine.compiled
    model = crs.model
    entities = []
    assumptions: list[dict[str, str]] = []
    for ename in engine.entities:
        ent = engine.entity(ename)
        vb = Verbalizer(crs, ent, lang)
        facts = [
            {
                "name": n,
                "label": f.label.get(lang),
                "type": f.type,
                "event": f.event,
                "allowed": ", ".join(f.values or []),
                "question": f.question.get(lang),
                "aliases": ", ".join(f.aliases),
            }
            for n, f in ent.facts.items()
        ]
        derived = []
        for n in sorted(ent.derived):
            d = ent.derived[n]
            derived.append(
                {
                    "name": n,
                    "label": d.spec.label.get(lang),
                    "condition": vb.text(d.node),
                    "expression": d.spec.expr,
                    "source": d.spec.source or "",
                    "assumption": d.spec.assumption,
                    "note": d.spec.note.get(lang) if d.spec.note else "",
                }
            )
            if d.spec.assumption:
                assumptions.append(
                    {
                        "where": f"{ename} / abgeleitet: {n}",
                        "label": d.spec.label.get(lang),
                        "note": d.spec.note.get(lang) if d.spec.note else "",
                    }
                )
        outcomes = []
        for oid in ent.outcome_order:
            oc = ent.outcomes[oid]
            rules = []
            for r in oc.rules:
                if r.compute is not None:
                    conclusion = ("berechnet: " if lang == "de" else "computed: ") + vb.text(r.compute)
                else:
                    v = r.value
                    if isinstance(v, str) and oc.spec.value_labels and v in oc.spec.value_labels:
                        conclusion = oc.spec.value_labels[v].get(lang)
                    else:
                        conclusion = format_value(v, lang)
                overrides = r.spec.overrides
                rules.append(
                    RuleDoc(
                        id=r.id,
                        label=r.spec.label.get(lang),
                        source=r.spec.source or "",
                        valid=_valid(r.valid_from, r.valid_to),
                        condition=vb.text(r.cond),
                        expression=r.spec.when
                        if isinstance(r.spec.when, str)
                        else ("immer" if lang == "de" else "always"),
                        conclusion=conclusion,
                        overrides=("alle anderen Regeln" if lang == "de" else "all other rules")
                        if overrides == "all"
                        else ", ".join(overrides),
                        assumption=r.spec.assumption,
                        note=r.spec.note.get(lang) if r.spec.note else "",
                    )
                )
                if r.spec.assumption:
                    assumptions.append(
                        {
                            "where": f"{ename} / {oid} / {r.id}",
                            "label": r.spec.label.get(lang),
                            "note": r.spec.note.get(lang) if r.spec.note else "",
                        }
                    )
            default = None
            if oc.spec.default is not None:
                default = {
                    "value": format_value(oc.default, lang),
                    "label": oc.spec.default.label.get(lang),
                    "source": oc.spec.default.source or "",
                }
            outcomes.append(
                {
                    "id": oid,
                    "label": oc.spec.label.get(lang),
                    "type": oc.spec.type,
                    "source": oc.spec.source or "",
                    "allowed": ", ".join(oc.spec.values or []),
                    "default": default,
                    "rules": rules,
                }
            )
        entities.append(
            {
                "name": ename,
                "label": ent.model.label.get(lang) if ent.model.label else ename,
                "facts": facts,
                "derived": derived,
                "outcomes": outcomes,
            }
        )
    parameters = []
    for name in sorted(model.parameters):
        p = model.parameters[name]
        versions = []
        for v in sorted(p.versions, key=lambda v: v.valid_from):
            value = v.value
            text = ", ".join(str(x) for x in value) if isinstance(value, list) else format_value(value, lang)
            if p.unit and not isinstance(value, list):
                text += f" {p.unit}"
            versions.append(
                {
                    "valid": _valid(v.valid_from, v.valid_to),
                    "value": text or "(leer)",
                    "source": v.source,
                    "assumption": v.assumption,
                    "note": v.note.get(lang) if v.note else "",
                }
            )
            if v.assumption:
                assumptions.append(
                    {
                        "where": f"Parameter {name} ({_valid(v.valid_from, v.valid_to)})",
                        "label": p.label.get(lang),
                        "note": v.note.get(lang) if v.note else "",
                    }
                )
        parameters.append({"name": name, "label": p.label.get(lang), "versions": versions})
    overlays = []
    overlay_dir = Path(model.root) / OVERLAY_DIR
    if overlay_dir.is_dir():
        from eligibility.source.loader import load_model

        for path in sorted(overlay_dir.glob("*.yaml")):
            m = load_model(model.root, [path])
            spec = m.overlays[0]
            changed = [n for n in m.parameters if m.parameters[n] != model.parameters.get(n)]
            overlays.append(
                {
                    "file": f"{OVERLAY_DIR}/{path.name}",
                    "label": spec.label.get(lang),
                    "source": spec.source,
                    "parameters": ", ".join(changed),
                }
            )
    amendments = [
        {
            "date": a.date.strftime("%d.%m.%Y"),
            "title": a.title.get(lang),
            "source": a.source,
            "encoded": a.encoded,
            "note": a.note.get(lang) if a.note else "",
        }
        for a in model.amendments
    ]
    return {
        "manifest": model.manifest,
        "sha256": model.sha256,
        "entities": entities,
        "parameters": parameters,
        "assumptions": assumptions,
        "overlays": overlays,
        "amendments": amendments,
        "lang": lang,
        "title": model.manifest.title.get(lang),
        "sources": bibliography(engine, lang),
    }


def bibliography(engine: Engine, lang: str = "de") -> list[dict[str, Any]]:
    """The source register as a list of references, grouped by kind in the register's
    order of kinds (law first, the rule set's own assumptions last), with what cites each."""
    model = engine.compiled.model
    cited_by: dict[str, set[str]] = {sid: set() for sid in model.sources}
    for ename in engine.entities:
        ent = engine.entity(ename)
        for oid, oc in ent.outcomes.items():
            for r in oc.rules:
                for ref in getattr(r.spec.source, "refs", ()):
                    cited_by.setdefault(ref.id, set()).add(r.id)
            for c in (oc.spec.source, oc.spec.default.source if oc.spec.default else None):
                for ref in getattr(c, "refs", ()):
                    cited_by.setdefault(ref.id, set()).add(oid)
        for name, d in ent.derived.items():
            for ref in getattr(d.spec.source, "refs", ()):
                cited_by.setdefault(ref.id, set()).add(name)
    for name, spec in model.parameters.items():
        for v in spec.versions:
            for ref in getattr(v.source, "refs", ()):
                cited_by.setdefault(ref.id, set()).add(name)
    order = list(KIND_LABELS)
    out = []
    for sid in sorted(model.sources, key=lambda i: (order.index(model.sources[i].kind), i)):
        source = model.sources[sid]
        out.append(
            {
                "id": sid,
                "kind": kind_label(source.kind, lang),
                "issuer": source.issuer,
                "title": source.title,
                "date": date_text(source.date),
                "locator": source.locator or "",
                "note": source.note.get(lang) if source.note else "",
                "cite_as": source.cite_as,
                "cited_by": ", ".join(sorted(cited_by.get(sid, ()))),
            }
        )
    return out


def render_docs(engine: Engine, fmt: str = "markdown", lang: str = "de") -> str:
    data = collect(engine, lang)
    name = {"markdown": "rules.md.j2", "html": "rules.html.j2"}[fmt]
    text = environment().get_template(name).render(**data)
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() == "" and lines and lines[-1].strip() == "":
            continue
        lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"
