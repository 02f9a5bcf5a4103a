"""Conditions written out in German (or English) words, for documentation and pages:
`aufenthaltsstatus in ["duldung", "ausreisepflichtig"]` becomes
"Aufenthaltsstatus ist „Duldung (§ 60a AufenthG)“ oder „Vollziehbar ausreisepflichtig“"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from eligibility.compile.compiler import CNode, CompiledEntity, CompiledRuleSet
from eligibility.source.citations import localize

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


# ---------------------------------------------------------------- explanations read aloud
#
# The decision's explanation tree (ExplanationNode) carries values but not the literals
# (they are only in the expression text) nor the operators as words. The narrator pairs each
# explanation node with its compiled node (found by entity and source text: one text means
# one thing within an entity) and says it in the polarity of its value: a condition that
# failed is said as the fact that holds instead ("Aufenthaltsstatus ist nicht „Eingebürgert“"),
# never as "nicht erfüllt: …nicht…". And/or/not get no line of their own: the tree keeps only
# the operands that made the value, so their list is already the reason.

_UNITS = {
    "de": {"add_months": "Monate", "add_years": "Jahre", "add_days": "Tage"},
    "en": {"add_months": "months", "add_years": "years", "add_days": "days"},
}
# Comparison verbs by operator, for the condition holding (True) and not holding (False).
_DATE_VERBS = {
    "de": {
        "<": ("liegt vor", "liegt am oder nach"),
        "<=": ("liegt am oder vor", "liegt nach"),
        ">": ("liegt nach", "liegt am oder vor"),
        ">=": ("liegt am oder nach", "liegt vor"),
        "==": ("ist", "ist nicht"),
        "!=": ("ist nicht", "ist"),
    },
    "en": {
        "<": ("is before", "is on or after"),
        "<=": ("is on or before", "is after"),
        ">": ("is after", "is on or before"),
        ">=": ("is on or after", "is before"),
        "==": ("is", "is not"),
        "!=": ("is not", "is"),
    },
}
_NUMBER_VERBS = {
    "de": {
        "<": ("ist kleiner als", "ist mindestens"),
        "<=": ("ist höchstens", "ist größer als"),
        ">": ("ist größer als", "ist höchstens"),
        ">=": ("ist mindestens", "ist kleiner als"),
        "==": ("ist gleich", "ist ungleich"),
        "!=": ("ist ungleich", "ist gleich"),
    },
    "en": {
        "<": ("is less than", "is at least"),
        "<=": ("is at most", "is more than"),
        ">": ("is more than", "is at most"),
        ">=": ("is at least", "is less than"),
        "==": ("equals", "differs from"),
        "!=": ("differs from", "equals"),
    },
}
_ARITH_WORDS: dict[str, dict[str, str]] = {
    "de": {"+": "plus", "-": "minus", "*": "mal", "/": "geteilt durch", "%": "Rest bei Teilung durch"},
    "en": {"+": "plus", "-": "minus", "*": "times", "/": "divided by", "%": "remainder when divided by"},
}
# Pairs of words: (holds, does not hold), and "weder … noch".
_PAIRED: dict[str, dict[str, tuple[str, str]]] = {
    "de": {
        "known": ("ist bekannt", "ist unbekannt"),
        "in_param": ("steht in der Liste", "steht nicht in der Liste"),
        "either": ("weder", "noch"),
    },
    "en": {
        "known": ("is known", "is unknown"),
        "in_param": ("is on the list", "is off the list"),
        "either": ("neither", "nor"),
    },
}
_WORDS: dict[str, dict[str, str]] = {
    "de": {
        "unknown": "unbekannt",
        "never": "nicht eingetreten",
        "yes": "ja",
        "no": "nein",
        "open": "offen",
        "stichtag": "der Stichtag",
        "false": "trifft nicht zu",
        "none_of": "keines von:",
        "or": "oder",
        "year": "Jahr von",
        "days": "Tage von {a} bis {b}",
        "after": "{base} plus {n} {unit}",
        "stichtag_object": "dem Stichtag",
    },
    "en": {
        "unknown": "unknown",
        "never": "has not happened",
        "yes": "yes",
        "no": "no",
        "open": "open",
        "stichtag": "the reference date",
        "false": "does not apply",
        "none_of": "none of:",
        "or": "or",
        "year": "year of",
        "days": "days from {a} to {b}",
        "after": "{base} plus {n} {unit}",
        "stichtag_object": "the reference date",
    },
}


def number_text(v: Any, lang: str) -> str:
    """A number as a caseworker writes it: German 1.234,56 in German text."""
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    if d == d.to_integral():
        text = f"{d:,.0f}"
    else:
        text = f"{d.normalize():,f}"
        # More than two places are noise here (0,333…): round like amounts.
        if len(text.split(".")[-1]) > 2:
            text = f"{d:,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".") if lang == "de" else text


def _is_iso_date(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-" and v[:4].isdigit()


def date_text(v: Any, lang: str) -> str:
    d = dt.date.fromisoformat(v) if isinstance(v, str) else v
    return d.strftime("%d.%m.%Y") if lang == "de" else d.isoformat()


def _quote(text: str, lang: str) -> str:
    return f"„{text}“" if lang == "de" else f"“{text}”"


def _by_text(e: Any) -> dict[str, Any]:
    """The nodes of an explanation subtree by their expression text."""
    out: dict[str, Any] = {}
    stack = [e]
    while stack:
        n = stack.pop()
        out.setdefault(n.text, n)
        stack.extend(n.children)
    return out


def _label_of(e: Any, lang: str) -> str | None:
    if e.label is None:
        return None
    return str(e.label.get(lang) if isinstance(e.label, dict) else getattr(e.label, lang, None) or "")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


class Narrator:
    """Explanation trees of one entity as sentences in one language."""

    def __init__(self, entity: CompiledEntity, lang: str = "de", crs: CompiledRuleSet | None = None) -> None:
        self.entity = entity
        self.lang = lang
        self.crs = crs
        self.w = _WORDS[lang]
        self.nodes: dict[str, CNode] = {}
        roots: list[CNode] = [d.node for d in entity.derived.values()]
        roots += [n for oc in entity.outcomes.values() for r in oc.rules for n in (r.cond, r.compute) if n is not None]
        stack = list(roots)
        while stack:
            n = stack.pop()
            self.nodes.setdefault(n.text, n)
            stack.extend(n.kids)

    # ------------------------------------------------------------ values and names

    def value(self, e: Any, enum_of: str | None = None) -> str:
        """The value of an explanation node in words (dates TT.MM.JJJJ, German numbers, enum labels)."""
        lang = self.lang
        if not e.known:
            return self.w["unknown"]
        v = e.value
        if e.kind == "outcome" and e.name in self.entity.outcomes:
            from eligibility.text.render import value_text

            if v is None:
                return self.w["unknown"]
            return value_text(self.entity, e.name, v, lang)
        if e.kind == "fact" and e.name in self.entity.facts and enum_of is None:
            enum_of = e.name
        return self.literal(v, enum_of, self._unit(e))

    def _unit(self, e: Any) -> str | None:
        if e.kind == "param" and self.crs is not None and e.name in self.crs.model.parameters:
            from eligibility.text.render import unit_text

            return unit_text(self.crs.model.parameters[e.name].unit, self.lang)
        return None

    def literal(self, v: Any, enum_of: str | None = None, unit: str | None = None) -> str:
        lang = self.lang
        if v is None:
            return self.w["never"]
        if v is True:
            return self.w["yes"]
        if v is False:
            return self.w["no"]
        if isinstance(v, dt.date) or _is_iso_date(v):
            return date_text(v, lang)
        if isinstance(v, (int, float, Decimal)):
            text = number_text(v, lang)
            return f"{text} {unit}" if unit else text
        if isinstance(v, str):
            spec = self.entity.facts.get(enum_of) if enum_of else None
            if spec is not None and spec.value_labels and v in spec.value_labels:
                return spec.value_labels[v].get(lang)
            return v
        if isinstance(v, (list, tuple, frozenset)):
            return ", ".join(self.literal(x, enum_of) for x in v)
        return str(v)

    def noun(self, c: CNode, vals: dict[str, Any] | None = None) -> str:
        """A compiled operand as a noun phrase; `vals` (explanation nodes by text) give the
        amounts of periods ("24 Monate nach …" rather than the parameter's name)."""
        lang = self.lang
        k = c.kind
        if k == "stichtag":
            return self.w["stichtag"]
        if k == "fact":
            return self.entity.facts[c.name].label.get(lang)
        if k == "derived":
            return self.entity.derived[c.name].spec.label.get(lang)
        if k == "outcome":
            return self.entity.outcomes[c.name].spec.label.get(lang)
        if k == "param":
            if self.crs is not None and c.name in self.crs.model.parameters:
                return self.crs.model.parameters[c.name].label.get(lang)
            return c.name
        if k == "literal":
            return self.literal(c.ast.value)  # type: ignore[attr-defined]
        if k == "call" and c.name in _UNITS[lang] and len(c.kids) == 2:
            amount = c.kids[1]
            got = (vals or {}).get(amount.text)
            if amount.kind == "literal":
                n = self.literal(amount.ast.value)  # type: ignore[attr-defined]
            elif got is not None and got.known and isinstance(got.value, (int, float)):
                n = number_text(got.value, lang)
            else:
                n = self.noun(amount, vals)
            return self.w["after"].format(n=n, unit=_UNITS[lang][c.name], base=self.noun(c.kids[0], vals))
        if k == "call" and c.name == "days_between" and len(c.kids) == 2:
            return self.w["days"].format(a=self.noun(c.kids[0], vals), b=self.noun(c.kids[1], vals))
        if k == "call" and c.name == "year" and c.kids:
            return f"{self.w['year']} {self.noun(c.kids[0], vals)}"
        if k == "arith":
            left, right = c.kids
            rtext = self.noun(right, vals)
            if right.kind == "arith":
                rtext = f"({rtext})"  # (a / (b * c)): the one place a bracket carries meaning
            return f"{self.noun(left, vals)} {_ARITH_WORDS[lang][c.name]} {rtext}"
        if k == "neg":
            return f"{_ARITH_WORDS[lang]['-']} {self.noun(c.kids[0], vals)}"
        if k == "list":
            return ", ".join(self.noun(x, vals) for x in c.kids)
        return "…"

    def _is_date(self, c: CNode, e: Any | None) -> bool:
        if c.kind == "stichtag" or (c.kind == "call" and c.name in _UNITS["de"]):
            return True
        if c.kind == "fact":
            return self.entity.facts[c.name].type == "date"
        if c.kind == "literal":
            return isinstance(c.ast.value, dt.date)  # type: ignore[attr-defined]
        return e is not None and e.known and _is_iso_date(e.value)

    # ------------------------------------------------------------ sentences

    def compiled(self, e: Any) -> CNode | None:
        c = self.nodes.get(e.text)
        return c if c is not None and c.kind == e.kind else None

    def _operand(self, c: CNode, e: Any | None, obj: bool = False) -> str:
        """An operand with its value in brackets where it is not a literal (`obj`: after
        the verb, where German says "dem Stichtag")."""
        if c.kind == "literal" or e is None:
            return self.noun(c)
        name = self.w["stichtag_object"] if obj and c.kind == "stichtag" else self.noun(c, _by_text(e))
        return f"{name} ({self.value(e)})"

    def sentence(self, e: Any) -> str:
        """One condition of the tree as a sentence in the polarity of its value."""
        lang = self.lang
        c = self.compiled(e)
        pol = e.value if e.known and isinstance(e.value, bool) else None
        if c is None:
            return self._generic(e, pol)
        k = c.kind
        if k == "known":
            pos, neg = _PAIRED[lang]["known"]
            return _cap(f"{self.noun(c.kids[0])} {pos if e.value else neg}")
        if k == "derived":
            return self.derived_sentence(c.name, pol)
        if k != "compare":
            return self._generic(e, pol)
        left, right = c.kids
        op = c.name
        by_text = {x.text: x for x in e.children}
        le, re_ = by_text.get(left.text), by_text.get(right.text)
        positive = pol is not False
        if op in ("in", "not in"):
            holds = positive if op == "in" else not positive
            if right.kind == "list" and all(x.kind == "literal" for x in right.kids):
                enum_of = left.name if left.kind == "fact" else None
                values = [_quote(self.literal(x.ast.value, enum_of), lang) for x in right.kids]  # type: ignore[attr-defined]
                subject = self.noun(left)
                if pol is None:
                    alternatives = f" {self.w['or']} ".join(values)
                    return f"{self.w['open']}: {subject} – {alternatives}"
                actual = self._actual(left, le, enum_of)
                if holds:
                    return _cap(f"{subject} ist {actual}" if lang == "de" else f"{subject} is {actual}")
                verb = "ist" if lang == "de" else "is"
                if len(values) == 2:
                    a, b = _PAIRED[lang]["either"]
                    return _cap(f"{subject} {verb} {actual}, {a} {values[0]} {b} {values[1]}")
                return _cap(f"{subject} {verb} {actual}, {self.w['none_of']} {', '.join(values)}")
            pos_w, neg_w = _PAIRED[lang]["in_param"]
            text = f"{self._operand(left, le)} {pos_w if holds else neg_w} {_quote(self.noun(right), lang)}"
            return _cap(text) if pol is not None else f"{self.w['open']}: {text}"
        if left.kind == "fact" and right.kind == "literal" and isinstance(right.ast.value, str):  # type: ignore[attr-defined]
            # An enum compared with one value: say what it is (and what it is not).
            want = _quote(self.literal(right.ast.value, left.name), lang)  # type: ignore[attr-defined]
            subject = self.noun(left)
            if pol is None:
                return f"{self.w['open']}: {subject} – {want}"
            holds = pol if op == "==" else not pol
            actual = self._actual(left, le, left.name)
            if holds:
                return _cap(f"{subject} ist {actual}" if lang == "de" else f"{subject} is {actual}")
            return _cap(
                f"{subject} ist {actual}, nicht {want}" if lang == "de" else f"{subject} is {actual}, not {want}"
            )
        is_date = self._is_date(left, le) or self._is_date(right, re_)
        for side, ev in ((left, le), (right, re_)):
            if is_date and side.kind == "fact" and ev is not None and ev.known and ev.value is None:
                # An event that has not happened is "after every day": say it as it is.
                return _cap(f"{self.noun(side)}: {self.w['never']}")
        verbs = _DATE_VERBS if is_date else _NUMBER_VERBS
        pos_v, neg_v = verbs[lang][op]
        text = f"{self._operand(left, le)} {pos_v if positive else neg_v} {self._operand(right, re_, True)}"
        return _cap(text) if pol is not None else f"{self.w['open']}: {text}"

    def _actual(self, c: CNode, e: Any | None, enum_of: str | None) -> str:
        if e is None or not e.known:
            return self.w["unknown"]
        return _quote(self.literal(e.value, enum_of), self.lang)

    def derived_sentence(self, name: str, pol: bool | None) -> str:
        spec = self.entity.derived[name].spec
        label = spec.label.get(self.lang)
        if pol is None:
            return f"{self.w['open']}: {label}"
        if pol:
            return label
        if spec.label_false is not None:
            return spec.label_false.get(self.lang)
        return f"{self.w['false']}: {label}"

    def _generic(self, e: Any, pol: bool | None) -> str:
        text = _label_of(e, self.lang) or self.w["open"]
        if pol is None:
            return f"{self.w['open']}: {text}"
        return text if pol else f"{self.w['false']}: {text}"

    # ------------------------------------------------------------ the tree

    def lines(self, e: Any, seen: set[str] | None = None) -> list[tuple[int, str]]:
        """The tree as indented lines (depth, text), and/or/not folded into their operands.
        `seen`: derived facts already explained in this answer, said again in one line only;
        a derived fact inside another is not unfolded (its label says enough)."""
        out: list[tuple[int, str]] = []
        self._walk(e, 0, out, set() if seen is None else seen, False)
        return [(depth, _cap(text)) for depth, text in out]

    def _walk(self, e: Any, depth: int, out: list[tuple[int, str]], seen: set[str], nested: bool = False) -> None:
        k = e.kind
        if k in ("and", "or", "not"):
            for ch in e.children:
                self._walk(ch, depth, out, seen, nested)
            return
        if k == "derived":
            pol = e.value if e.known and isinstance(e.value, bool) else None
            out.append((depth, self.derived_sentence(e.name, pol)))
            if nested or e.name in seen:
                return
            seen.add(e.name)
            for ch in e.children:
                self._walk(ch, depth + 1, out, seen, True)
            return
        if k in ("compare", "known"):
            out.append((depth, self.sentence(e)))
            c = self.compiled(e)
            for ch in e.children:
                # Leaves are said in the sentence; computed operands show what they are made of.
                if ch.kind in ("call", "arith", "neg"):
                    for g in ch.children:
                        self._walk(g, depth + 1, out, seen, nested)
                elif ch.kind in ("derived", "outcome") and c is None:
                    self._walk(ch, depth + 1, out, seen, nested)
            return
        if k in ("call", "arith", "neg"):
            c = self.compiled(e)
            name = self.noun(c, _by_text(e)) if c is not None else _label_of(e, self.lang) or "…"
            out.append((depth, f"{_cap(name)}: {self.value(e)}"))
            for ch in e.children:
                self._walk(ch, depth + 1, out, seen, nested)
            return
        out.append((depth, self.leaf(e)))

    def leaf(self, e: Any) -> str:
        lang = self.lang
        if e.kind == "stichtag":
            return f"{_cap(self.w['stichtag'])}: {self.value(e)}"
        text = f"{_label_of(e, lang) or '…'}: {self.value(e)}"
        if e.kind == "param" and e.source:
            text += f" ({localize(e.source, lang)})"
        if e.kind == "fact" and e.assumption or (e.kind == "param" and e.assumption):
            text += " [Annahme]" if lang == "de" else " [assumption]"
        return text
