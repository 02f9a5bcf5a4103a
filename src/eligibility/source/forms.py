"""How people write values: the forms of the facts schema (`forms:`, value labels, codes)
folded to one key, and country names mapped to ISO 3166-1 alpha-3.

Folding is the one definition of "the same word" for values: any case, umlauts or their
two-letter spelling (ä = ae, ö = oe, ü = ue, ß = ss), runs of spaces as one, and `§ 24`
the same as `§24`. Which forms exist is the rule set's data, never a list in Python."""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from eligibility.source.model import FactSpec

_SPACES = re.compile(r"\s+")
_PARAGRAPH = re.compile(r"§\s*")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def fold(text: str) -> str:
    """The key under which a written value is looked up."""
    t = unicodedata.normalize("NFC", text).lower().translate(_UMLAUTS)
    t = _PARAGRAPH.sub("§", t)
    return _SPACES.sub(" ", t).strip()


@dataclasses.dataclass(frozen=True)
class Form:
    """One way of writing a value, and where the schema declares it (a path below the
    fact, for the diagnostic that names the YAML line)."""

    text: str
    value: str
    where: tuple[Any, ...]


def declared_forms(spec: FactSpec) -> list[Form]:
    """Every form the schema declares for a fact, in schema order: codes, labels, forms."""
    out: list[Form] = []
    for i, v in enumerate(spec.values or ()):
        out.append(Form(v, v, ("values", i)))
    for v, lab in (spec.value_labels or {}).items():
        out.append(Form(lab.de, v, ("value_labels", v, "de")))
        if lab.en:
            out.append(Form(lab.en, v, ("value_labels", v, "en")))
    for v, texts in (spec.forms or {}).items():
        if spec.type != "enum":  # a canonical code (e.g. XKX) is a form of itself
            out.append(Form(v, v, ("forms", v)))
        for i, t in enumerate(texts):
            out.append(Form(t, v, ("forms", v, i)))
    return out


def collisions(spec: FactSpec) -> list[tuple[Form, Form]]:
    """Pairs (first claim, later claim) of one folded form claimed by two values."""
    seen: dict[str, Form] = {}
    out: list[tuple[Form, Form]] = []
    for f in declared_forms(spec):
        key = fold(f.text)
        first = seen.get(key)
        if first is None:
            seen[key] = f
        elif first.value != f.value:
            out.append((first, f))
    return out


# Index per fact schema entry. FactSpec is frozen and compared by value, so equal specs
# share an index; the spec is kept in the value so its id is never reused while cached.
_INDEX: dict[int, tuple[FactSpec, dict[str, str]]] = {}


def index(spec: FactSpec) -> dict[str, str]:
    """Folded form -> value. Built once per fact (the rule set loader has already refused
    forms claimed twice; if not, the first claim wins)."""
    hit = _INDEX.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    table: dict[str, str] = {}
    for f in declared_forms(spec):
        table.setdefault(fold(f.text), f.value)
    _INDEX[id(spec)] = (spec, table)
    return table


# ---------------------------------------------------------------- countries


@functools.lru_cache(maxsize=1)
def country_forms() -> tuple[tuple[str, str], ...]:
    """(written name, alpha-3) from pycountry's ISO 3166-1 data and its German translation
    (the iso-codes project's gettext catalogue): the code, the English and German short,
    official and common names, and the part before a comma ("Iran, Islamische Republik"
    -> "Iran")."""
    import gettext

    import pycountry

    german: Callable[[str], str]
    try:
        german = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["de"]).gettext
    except OSError:  # pragma: no cover - the catalogue ships with pycountry

        def german(s: str) -> str:
            return s

    out: list[tuple[str, str]] = []
    for c in pycountry.countries:
        code = c.alpha_3
        out.append((code, code))
        for attr in ("name", "official_name", "common_name"):
            name = getattr(c, attr, None)
            if not name:
                continue
            for n in dict.fromkeys((name, german(name))):
                out.append((n, code))
                if "," in n:
                    out.append((n.split(",", 1)[0].strip(), code))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def country_name(code: str, lang: str = "de") -> str | None:
    """The country's short name for people ("Afghanistan", German from the iso-codes
    catalogue), or None for a code ISO 3166-1 does not have."""
    import gettext

    import pycountry

    c = pycountry.countries.get(alpha_3=code)
    if c is None:
        return None
    name = str(getattr(c, "common_name", None) or c.name)
    if lang != "de":
        return name
    try:
        return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["de"]).gettext(name)
    except OSError:  # pragma: no cover - the catalogue ships with pycountry
        return name


@functools.lru_cache(maxsize=1)
def countries() -> dict[str, str]:
    """Folded country name or code -> alpha-3. A name that two countries share (after
    folding, e.g. "Korea") is left out: it is no answer."""
    claims: dict[str, set[str]] = {}
    for name, code in country_forms():
        key = fold(name)
        if key:
            claims.setdefault(key, set()).add(code)
    return {k: next(iter(v)) for k, v in claims.items() if len(v) == 1}
