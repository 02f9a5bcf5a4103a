"""Find a roster's header, not assume it: offices put a title row above it, split it over
two rows (a merged group cell above sub-headers), mistype a column. The header is the
first row among the first few that matches enough known field names and aliases; a row
below it that completes more column names makes it a two-row header. Every column not
recognised gets a did-you-mean; a column the rules read and no header matched is named
with the closest header found."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eligibility.source.model import FactSpec

SCAN_ROWS = 30  # rows searched for the header (title rows, notes, empty rows above it)


def norm_header(header: str) -> str:
    h = header.replace("\ufeff", "").strip().lower()
    h = h.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return re.sub(r"[\s_\-./]+", " ", h).strip()


def lookup(facts: Mapping[str, FactSpec]) -> dict[str, str]:
    """Normalised field name or alias -> fact."""
    out: dict[str, str] = {}
    for name, spec in facts.items():
        out[norm_header(name)] = name
        for alias in spec.aliases:
            out.setdefault(norm_header(alias), name)
    return out


def _text(cell: Any) -> str:
    return "" if cell is None else str(cell).strip()


@dataclasses.dataclass(frozen=True)
class Header:
    index: int  # 0-based position of the (first) header row among the rows given
    height: int  # 1, or 2 for a two-row header
    names: tuple[str, ...]  # the column names as read (two rows joined with a space)
    mapping: dict[int, str]  # column index -> fact
    ignored: tuple[str, ...]
    suggestions: dict[str, str]  # ignored column -> the field it is probably meant to be

    @property
    def score(self) -> int:
        return len(self.mapping)


def _match(names: Sequence[str], table: Mapping[str, str]) -> dict[int, str]:
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    for i, h in enumerate(names):
        fact = table.get(norm_header(h))
        if fact is not None and fact not in taken:
            mapping[i] = fact
            taken.add(fact)
    return mapping


def _two_row_names(top: Sequence[Any], bottom: Sequence[Any], table: Mapping[str, str]) -> list[str]:
    """Column names of a header over two rows: a top cell stands for the empty cells to
    its right (Excel writes a merged cell's value into its first cell only)."""
    out: list[str] = []
    carried = ""
    for j in range(max(len(top), len(bottom))):
        t = _text(top[j]) if j < len(top) else ""
        b = _text(bottom[j]) if j < len(bottom) else ""
        if t:
            carried = t
        group = t or (carried if b else "")
        candidates = [f"{group} {b}".strip(), b, t]
        out.append(next((c for c in candidates if c and norm_header(c) in table), candidates[0] if group else b))
    return out


def find_header(rows: Sequence[Sequence[Any]], facts: Mapping[str, FactSpec]) -> Header | None:
    """The header among `rows` (the first rows of a sheet or file), or None if all are empty."""
    table = lookup(facts)
    scan = list(rows[:SCAN_ROWS])
    scores = [len(_match([_text(c) for c in r], table)) for r in scan]
    best = max(scores, default=0)
    if best == 0:
        index = next((i for i, r in enumerate(scan) if any(_text(c) for c in r)), None)
        if index is None:
            return None
    else:
        need = max(1, (best + 1) // 2)
        index = next(i for i, s in enumerate(scores) if s >= need)
    names = [_text(c) for c in scan[index]]
    mapping = _match(names, table)
    height = 1
    if index + 1 < len(scan) and best:
        joined = _two_row_names(scan[index], scan[index + 1], table)
        joined_mapping = _match(joined, table)
        if len(joined_mapping) > len(mapping):
            names, mapping, height = joined, joined_mapping, 2
    return _finish(index, height, names, mapping, facts, table)


def header_of(names: Sequence[Any], facts: Mapping[str, FactSpec]) -> Header:
    """A known header row (e.g. given by a program): only the matching."""
    table = lookup(facts)
    texts = [_text(c) for c in names]
    return _finish(0, 1, texts, _match(texts, table), facts, table)


def _finish(
    index: int,
    height: int,
    names: Sequence[str],
    mapping: dict[int, str],
    facts: Mapping[str, FactSpec],
    table: Mapping[str, str],
) -> Header:
    ignored = [h for i, h in enumerate(names) if i not in mapping and h]
    mapped = set(mapping.values())
    # Suggest only facts no column has: a column beside a matched one is something else.
    open_keys = {k: f for k, f in table.items() if f not in mapped}
    suggestions: dict[str, str] = {}
    for h in ignored:
        close = difflib.get_close_matches(norm_header(h), sorted(open_keys), n=1, cutoff=0.75)
        if close:
            suggestions[h] = open_keys[close[0]]
    return Header(index, height, tuple(names), mapping, tuple(ignored), suggestions)


def facts_read_by_rules(ent: Any, outcomes: Iterable[str] | None = None) -> set[str]:
    """The facts any rule or derived fact of a compiled entity reads: the columns a roster
    must have for the rules to decide (computed from the rule set, not listed by hand).
    With `outcomes`, only what deciding those outcomes reads (e.g. the § 29d count)."""
    from eligibility.compile.compiler import reachable

    if outcomes is not None:
        roots = [x for oid in outcomes for r in ent.outcomes[oid].rules for x in (r.cond, r.compute)]
        return {n.name for n in reachable(ent, roots, through_outcomes=True) if n.kind == "fact"}
    roots = [x for oc in ent.outcomes.values() for r in oc.rules for x in (r.cond, r.compute)]
    roots += [d.node for d in ent.derived.values()]
    return {n.name for n in reachable(ent, roots) if n.kind == "fact"}


@dataclasses.dataclass(frozen=True)
class MissingColumn:
    fact: str
    label: str
    closest: str | None  # the header found that is most like it


def missing_columns(
    ent: Any,
    columns: Iterable[str],
    ignored: Iterable[str],
    on_purpose: Iterable[str] = (),
    outcomes: Iterable[str] | None = None,
) -> list[MissingColumn]:
    """Facts the rules read that no column matched, except those the user names as
    missing on purpose; with the closest unmatched header for each."""
    present = set(columns) | set(on_purpose)
    leftover = list(ignored)
    out: list[MissingColumn] = []
    for fact in sorted(facts_read_by_rules(ent, outcomes) - present):
        spec = ent.facts[fact]
        keys = {norm_header(k): k for k in [fact, *spec.aliases]}
        best: tuple[float, str] | None = None
        for h in leftover:
            for k in keys:
                r = difflib.SequenceMatcher(None, norm_header(h), k).ratio()
                if r >= 0.6 and (best is None or r > best[0]):
                    best = (r, h)
        out.append(MissingColumn(fact, spec.label.de, best[1] if best else None))
    return out


def missing_message(missing: Sequence[MissingColumn], lang: str = "de") -> str:
    """Why the run stops, and how to go on when the columns are missing on purpose."""
    lines = []
    for m in missing:
        if lang == "de":
            line = f"Spalte für „{m.label}“ ({m.fact}) fehlt"
            line += f" – gemeint ist vielleicht die Spalte „{m.closest}“" if m.closest else ""
        else:
            line = f"no column for '{m.label}' ({m.fact})"
            line += f" – perhaps the column '{m.closest}' is meant" if m.closest else ""
        lines.append(line)
    names = " ".join(f"--missing-column {m.fact}" for m in missing)
    if lang == "de":
        lines.append(
            f"Die Regeln lesen diese Angaben. Spalte umbenennen, oder wenn sie absichtlich fehlt: {names} "
            "(dann ist die Angabe für jede Zeile unbekannt)."
        )
    else:
        lines.append(
            f"The rules read these facts. Rename the column, or if it is missing on purpose: {names} "
            "(the fact is then unknown for every row)."
        )
    return "\n".join(lines)
