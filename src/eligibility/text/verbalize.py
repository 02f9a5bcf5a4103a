"""Conditions written out in German (or English) words, for documentation and pages:
`aufenthaltsstatus in ["duldung", "ausreisepflichtig"]` becomes
"Aufenthaltsstatus ist „Duldung (§ 60a AufenthG)“ oder „Vollziehbar ausreisepflichtig“"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from eligibility.compile.compiler import CNode, CompiledEntity, CompiledRuleSet

_OPS = {
    "de": {
        "==": "ist",
        "!=": "ist nicht",
        "<": "vor/kleiner als",
        "<=": "bis/höchstens",
        ">": "nach/größer als",
        ">=": "ab/mindestens",
        "in": "ist eines von",
        "not in": "ist keines von",
        "and": "und",
        "or": "oder",
        "not": "nicht",
    },
    "en": {
        "==": "is",
        "!=": "is not",
        "<": "before/less than",
        "<=": "up to",
        ">": "after/greater than",
        ">=": "from/at least",
        "in": "is one of",
        "not in": "is none of",
        "and": "and",
        "or": "or",
        "not": "not",
    },
}
_DATE_OPS = {
    "de": {
        "<": "liegt vor",
        "<=": "liegt spätestens am",
        ">": "liegt nach",
        ">=": "liegt frühestens am",
        "==": "ist",
        "!=": "ist nicht",
    },
    "en": {
        "<": "is before",
        "<=": "is on or before",
        ">": "is after",
        ">=": "is on or after",
        "==": "is",
        "!=": "is not",
    },
}


def _literal(v: Any, lang: str) -> str:
    if isinstance(v, bool):
        return ("wahr" if v else "falsch") if lang == "de" else ("true" if v else "false")
    if isinstance(v, dt.date):
        return v.strftime("%d.%m.%Y") if lang == "de" else v.isoformat()
    if isinstance(v, Decimal):
        return format(v, "f").replace(".", ",") if lang == "de" else format(v, "f")
    if isinstance(v, str):
        return f"„{v}“" if lang == "de" else f'"{v}"'
    return str(v)


class Verbalizer:
    def __init__(self, crs: CompiledRuleSet, entity: CompiledEntity, lang: str = "de") -> None:
        self.crs = crs
        self.entity = entity
        self.lang = lang

    def name(self, node: CNode) -> str:
        lang = self.lang
        if node.kind == "stichtag":
            return "Stichtag" if lang == "de" else "the reference date"
        if node.kind == "fact":
            return self.entity.facts[node.name].label.get(lang)
        if node.kind == "derived":
            return self.entity.derived[node.name].spec.label.get(lang)
        if node.kind == "outcome":
            return self.entity.outcomes[node.name].spec.label.get(lang)
        if node.kind == "param":
            return self.crs.model.parameters[node.name].label.get(lang)
        return node.text

    def enum_value(self, node: CNode, value: str) -> str:
        """An enum literal with its label where the other side is an enum fact."""
        if node.kind == "fact":
            spec = self.entity.facts[node.name]
            if spec.value_labels and value in spec.value_labels:
                return (
                    f"„{spec.value_labels[value].get(self.lang)}“"
                    if self.lang == "de"
                    else f'"{spec.value_labels[value].get(self.lang)}"'
                )
        return _literal(value, self.lang)

    def text(self, node: CNode | None, top: bool = True) -> str:
        lang = self.lang
        if node is None:
            return "immer" if lang == "de" else "always"
        k = node.kind
        if k in ("and", "or"):
            parts = [self.text(c, False) for c in node.kids]
            joined = f" {_OPS[lang][k]} ".join(parts)
            return joined if top else f"({joined})"
        if k == "not":
            return f"{_OPS[lang]['not']} ({self.text(node.kids[0], True)})"
        if k in ("fact", "derived", "outcome", "param", "stichtag"):
            return self.name(node)
        if k == "literal":
            return _literal(node.ast.value, lang)  # type: ignore[attr-defined]
        if k == "list":
            return ", ".join(self.text(c, False) for c in node.kids)
        if k == "known":
            inner = self.text(node.kids[0], False)
            return f"{inner} ist bekannt" if lang == "de" else f"{inner} is known"
        if k == "call":
            args = [self.text(c, False) for c in node.kids]
            if node.name in ("add_months", "add_years", "add_days") and lang == "de":
                unit = {"add_months": "Monate", "add_years": "Jahre", "add_days": "Tage"}[node.name]
                return f"({args[0]} + {args[1]} {unit})"
            if node.name in ("add_months", "add_years", "add_days"):
                unit = {"add_months": "months", "add_years": "years", "add_days": "days"}[node.name]
                return f"({args[0]} + {args[1]} {unit})"
            return f"{node.name}({', '.join(args)})"
        if k in ("arith", "neg"):
            if k == "neg":
                return f"-{self.text(node.kids[0], False)}"
            return f"{self.text(node.kids[0], False)} {node.name} {self.text(node.kids[1], False)}"
        if k == "compare":
            left, right = node.kids
            op = node.name
            if op in ("in", "not in") and right.kind == "list":
                values = [
                    self.enum_value(left, c.ast.value)  # type: ignore[attr-defined]
                    if c.kind == "literal" and isinstance(c.ast.value, str)  # type: ignore[attr-defined]
                    else self.text(c, False)
                    for c in right.kids
                ]
                sep = " oder " if lang == "de" else " or "
                verb = _OPS[lang][op]
                return f"{self.text(left, False)} {verb}: {sep.join(values)}"
            if op in _DATE_OPS[lang] and self._is_date(left) and self._is_date(right):
                return f"{self.text(left, False)} {_DATE_OPS[lang][op]} {self.text(right, False)}"
            if right.kind == "literal" and isinstance(right.ast.value, str):  # type: ignore[attr-defined]
                rtext = self.enum_value(left, right.ast.value)  # type: ignore[attr-defined]
            else:
                rtext = self.text(right, False)
            return f"{self.text(left, False)} {_OPS[lang][op]} {rtext}"
        return node.text

    def _is_date(self, node: CNode) -> bool:
        if node.kind in ("stichtag",) or (node.kind == "call" and node.name in ("add_months", "add_years", "add_days")):
            return True
        if node.kind == "fact":
            return self.entity.facts[node.name].type == "date"
        if node.kind == "param":
            return self.crs.model.parameters[node.name].type == "date"
        if node.kind == "literal":
            return isinstance(node.ast.value, dt.date)  # type: ignore[attr-defined]
        return False
