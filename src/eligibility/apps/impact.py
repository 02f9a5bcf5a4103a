"""`eligibility impact`: who an amendment affects before it goes live. Both rule sets
decide the same roster on the same day; for every person whose outcome changes, the
old and new value and the rule (or parameter) whose change flipped it, with its source.
`eligibility applied`: which rule and parameter versions are in force on a day."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from eligibility.compile.compiler import CNode, CompiledEntity, parameter_version, reachable
from eligibility.decision.model import Decision
from eligibility.engine import Engine
from eligibility.io.rosters import InputRow
from eligibility.lang.values import format_value


def load_side(spec: str, overlays: Iterable[str] = (), rules_path: str = "rules") -> tuple[Engine, str]:
    """A rule directory, or a git revision of `rules/` in the current repository."""
    p = Path(spec)
    if p.is_dir():
        return Engine.load(p, overlays=list(overlays)), str(p)
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        ).stdout.strip()
        data = subprocess.run(
            ["git", "-C", top, "archive", "--format=tar", spec, rules_path], capture_output=True, check=True
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise ValueError(f"'{spec}' ist weder ein Regelwerk-Ordner noch eine git-Revision von {rules_path}/") from exc
    tmp = Path(tempfile.mkdtemp(prefix="eligibility-rules-"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp, filter="data")
    return Engine.load(tmp / rules_path, overlays=list(overlays)), f"{spec}:{rules_path}"


@dataclasses.dataclass
class Change:
    kind: str  # rule, parameter, derived
    id: str
    what: str  # added, removed, changed
    source: str
    label: str


def changes(old: Engine, new: Engine, entity: str) -> dict[tuple[str, str], Change]:
    out: dict[tuple[str, str], Change] = {}
    eo, en = old.entity(entity), new.entity(entity)
    rules_old = {r.id: r for oc in eo.outcomes.values() for r in oc.rules}
    rules_new = {r.id: r for oc in en.outcomes.values() for r in oc.rules}
    for rid in sorted(set(rules_old) | set(rules_new)):
        a, b = rules_old.get(rid), rules_new.get(rid)
        if a is None or b is None or a.spec != b.spec:
            r = b or a
            assert r is not None
            what = "added" if a is None else "removed" if b is None else "changed"
            out[("rule", rid)] = Change("rule", rid, what, r.spec.source or "", r.spec.label.de)
    po, pn = old.compiled.model.parameters, new.compiled.model.parameters
    for name in sorted(set(po) | set(pn)):
        pa, pb = po.get(name), pn.get(name)
        if pa is None or pb is None or pa != pb:
            p = pb or pa
            assert p is not None
            what = "added" if pa is None else "removed" if pb is None else "changed"
            src = "; ".join(sorted({v.source for v in p.versions}))
            out[("parameter", name)] = Change("parameter", name, what, src, p.label.de)
    for name in sorted(set(eo.derived) | set(en.derived)):
        da, db = eo.derived.get(name), en.derived.get(name)
        if da is None or db is None or da.spec != db.spec:
            d = db or da
            assert d is not None
            out[("derived", name)] = Change(
                "derived",
                name,
                "added" if da is None else "removed" if db is None else "changed",
                d.spec.source or "",
                d.spec.label.de,
            )
    return out


def _reads(ent: CompiledEntity, node: CNode | None) -> tuple[set[str], set[str]]:
    """Parameters and derived facts a condition reads."""
    nodes = list(reachable(ent, [node]))
    return {n.name for n in nodes if n.kind == "param"}, {n.name for n in nodes if n.kind == "derived"}


def attribute(
    oid: str, before: Decision, after: Decision, old: Engine, new: Engine, diff: dict[tuple[str, str], Change]
) -> Change | None:
    """The change that flipped an outcome: a changed rule on the new or old rule path
    first, then a changed parameter or derived fact that the deciding rules read."""
    new_path = [step.split("/", 1)[1] for step in after.outcomes[oid].rule_path if "/" in step]
    old_path = [step.split("/", 1)[1] for step in before.outcomes[oid].rule_path if "/" in step]
    for rid in new_path + old_path:
        if ("rule", rid) in diff:
            return diff[("rule", rid)]
    # A rule that did not decide on either side can still be why: an exception that
    # became unknown, or a rule that now decides a dependency.
    for engine, d in ((new, after), (old, before)):
        ent = engine.entity(d.entity)
        for step in d.outcomes[oid].rule_path:
            if "/" not in step:
                continue
            o, rid = step.split("/", 1)
            rules = {r.id: r for oc in ent.outcomes.values() for r in oc.rules}
            r = rules.get(rid)
            if r is None:
                continue
            params, derived = _reads(ent, r.cond)
            p2, d2 = _reads(ent, r.compute)
            for name in sorted(params | p2):
                if ("parameter", name) in diff:
                    return diff[("parameter", name)]
            for name in sorted(derived | d2):
                if ("derived", name) in diff:
                    return diff[("derived", name)]
    # Fall back: the only changed rule of this outcome, if there is exactly one.
    own: list[Change] = []
    for engine, d in ((new, after), (old, before)):
        oc = engine.entity(d.entity).outcomes.get(oid)
        own += [
            diff[("rule", r.id)]
            for r in (oc.rules if oc else [])
            if ("rule", r.id) in diff and diff[("rule", r.id)] not in own
        ]
    return own[0] if len(own) == 1 else None


@dataclasses.dataclass
class Flip:
    row: int
    record_id: str
    gemeinde: str
    outcome: str
    old: Any
    new: Any
    cause: Change | None


@dataclasses.dataclass
class ImpactResult:
    on: dt.date
    old_name: str
    new_name: str
    old_info: Any
    new_info: Any
    rows: int
    flips: list[Flip]
    diff: dict[tuple[str, str], Change]
    by_outcome: dict[str, collections.Counter[tuple[str, str]]]  # outcome -> (old, new) -> persons
    by_gemeinde: dict[str, collections.Counter[str]]  # Gemeinde -> outcome -> flips
    by_cause: collections.Counter[str]


def impact(
    old: Engine,
    new: Engine,
    rows: Iterable[InputRow],
    on: dt.date,
    old_name: str,
    new_name: str,
    entity: str | None = None,
) -> ImpactResult:
    ent_name = new.entity(entity).name
    diff = changes(old, new, ent_name)
    flips: list[Flip] = []
    by_outcome: dict[str, collections.Counter[tuple[str, str]]] = collections.defaultdict(collections.Counter)
    by_gemeinde: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_cause: collections.Counter[str] = collections.Counter()
    n = 0
    for row, may_flip in _screened(old, new, rows, on, entity):
        n += 1
        if row.record is None or not may_flip:
            continue
        before = old.decide(row.record, on, entity=entity, explain=False)
        after = new.decide(row.record, on, entity=entity, explain=False)
        for oid, o in after.outcomes.items():
            b = before.outcomes.get(oid)
            old_value = b.value if b is not None else None
            if b is not None and old_value == o.value and type(old_value) is type(o.value):
                continue
            cause = attribute(oid, before, after, old, new, diff) if b is not None else None
            gemeinde = str(row.record.get("gemeinde") or "").strip() or "(ohne Gemeinde)"
            flips.append(Flip(row.number, after.record_id or "", gemeinde, oid, old_value, o.value, cause))
            by_outcome[oid][(_word(old_value), _word(o.value))] += 1
            by_gemeinde[gemeinde][oid] += 1
            by_cause[cause.id if cause else "(nicht zuzuordnen)"] += 1
    return ImpactResult(
        on,
        old_name,
        new_name,
        old.info,
        new.info,
        n,
        flips,
        diff,
        dict(by_outcome),
        dict(sorted(by_gemeinde.items())),
        by_cause,
    )


_SCREEN_ROWS = 20_000


def _screened(
    old: Engine, new: Engine, rows: Iterable[InputRow], on: dt.date, entity: str | None
) -> Iterator[tuple[InputRow, bool]]:
    """Every row, in order, with whether an outcome may flip: rows whose outcomes come out
    the same under both rule sets on the batch path (same answers as `decide`,
    property-tested) need not be decided one by one for a cause. An impact run over a
    county roster decides it twice; this keeps that fast."""
    same_outcomes = old.outcomes(entity) == new.outcomes(entity)
    chunk: list[InputRow] = []

    def flush() -> Iterator[tuple[InputRow, bool]]:
        readable = [r for r in chunk if r.record is not None]
        flips: set[int] = set(range(len(readable)))
        if same_outcomes and readable:
            records = [r.record for r in readable]
            a, b = old.decide_table(records, on, entity=entity), new.decide_table(records, on, entity=entity)
            flips = set()
            for oid in new.outcomes(entity):
                for i, (x, y) in enumerate(zip(a.columns[oid], b.columns[oid])):
                    if x != y or type(x) is not type(y):
                        flips.add(i)
        j = 0
        for r in chunk:
            if r.record is None:
                yield r, False
                continue
            yield r, j in flips
            j += 1

    for row in rows:
        chunk.append(row)
        if len(chunk) >= _SCREEN_ROWS:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def _word(v: Any) -> str:
    return {True: "ja", False: "nein", None: "unklar"}.get(v, str(v)) if isinstance(v, (bool, type(None))) else str(v)


def render_text(r: ImpactResult, row_label: str = "Zeile") -> str:
    """`row_label`: what a flip's number counts (a roster's row; `log recheck`: a person)."""
    lines = [
        f"Auswirkung am {r.on:%d.%m.%Y}: {r.old_name} ({r.old_info.sha256[:12]}) → {r.new_name} "
        f"({r.new_info.sha256[:12]})",
        f"{r.rows} Zeilen, {len(r.flips)} geänderte Ergebnisse",
        "",
    ]
    lines.append("Geänderte Regeln und Parameter:")
    for c in r.diff.values():
        lines.append(f"  {c.what:8} {c.kind:9} {c.id}  ({c.source})")
    lines += ["", "Je Ergebnis:"]
    for oid, counter in r.by_outcome.items():
        for (a, b), n in sorted(counter.items()):
            lines.append(f"  {oid}: {a} → {b}: {n}")
    lines += ["", "Je Ursache:"]
    for cause, n in r.by_cause.most_common():
        lines.append(f"  {cause}: {n}")
    lines += ["", "Je Gemeinde:"]
    for g, per_outcome in r.by_gemeinde.items():
        lines.append(f"  {g}: " + ", ".join(f"{oid} {n}" for oid, n in sorted(per_outcome.items())))
    lines += ["", "Personen:"]
    for f in r.flips:
        cause = f"{f.cause.id} ({f.cause.source})" if f.cause else "(nicht zuzuordnen)"
        lines.append(f"  {row_label} {f.row} {f.record_id}: {f.outcome} {_word(f.old)} → {_word(f.new)} wegen {cause}")
    return "\n".join(lines) + "\n"


def flip_rows(r: ImpactResult) -> list[dict[str, Any]]:
    return [
        {
            "zeile": f.row,
            "id": f.record_id,
            "gemeinde": f.gemeinde,
            "ergebnis": f.outcome,
            "alt": _word(f.old),
            "neu": _word(f.new),
            "ursache": f.cause.id if f.cause else "",
            "art": f.cause.kind if f.cause else "",
            "quelle": f.cause.source if f.cause else "",
        }
        for f in r.flips
    ]


def applied(engine: Engine, on: dt.date) -> str:
    """Rule and parameter versions in force on a day, as text."""
    lines = [f"In Kraft am {on:%d.%m.%Y}: {engine.info.name} {engine.info.version} (sha256 {engine.info.sha256[:12]})"]
    crs = engine.compiled
    for ename in engine.entities:
        ent = engine.entity(ename)
        lines.append(f"\n{ent.model.label.de if ent.model.label else ename}:")
        in_force = crs.rules_on(ename, on)
        for oid in ent.outcome_order:
            rules = in_force.get(oid, [])
            lines.append(
                f"  {oid}: "
                + ("keine Regel in Kraft" if not rules else "1 Regel" if len(rules) == 1 else f"{len(rules)} Regeln")
            )
            for r in rules:
                until = f" bis {r.valid_to:%d.%m.%Y}" if r.valid_to else ""
                lines.append(
                    f"    {r.id:32} ab {r.valid_from:%d.%m.%Y}{until}  ({r.spec.source})"
                    + ("  [Annahme]" if r.spec.assumption else "")
                )
    lines.append("\nParameter:")
    for name, p in sorted(crs.model.parameters.items()):
        v = parameter_version(p, on)
        if v is None:
            lines.append(f"  {name:40} – kein Wert in Kraft")
            continue
        value = ", ".join(map(str, v.value)) if isinstance(v.value, list) else format_value(v.value, "de")
        until = f" bis {v.valid_to:%d.%m.%Y}" if v.valid_to else ""
        lines.append(
            f"  {name:40} = {value}  (ab {v.valid_from:%d.%m.%Y}{until}; {v.source})"
            + ("  [Annahme]" if v.assumption else "")
        )
    return "\n".join(lines) + "\n"


def write_impact(result: ImpactResult, text: str, out: str | Path) -> None:
    """`impact --out`: the flips as a semicolon CSV for Excel, an HTML page, or the text."""
    target = Path(out)
    if target.suffix.lower() == ".csv":
        import csv

        from eligibility.io.cells import neutralise

        with target.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.DictWriter(
                fh,
                fieldnames=["zeile", "id", "gemeinde", "ergebnis", "alt", "neu", "ursache", "art", "quelle"],
                delimiter=";",
            )
            w.writeheader()
            # Ids and names are the roster's text: no live formula in a spreadsheet.
            w.writerows({k: neutralise(v) for k, v in r.items()} for r in flip_rows(result))
    elif target.suffix.lower() in (".html", ".htm"):
        from eligibility.text.render import environment

        target.write_text(
            environment().get_template("impact.html.j2").render(r=result, rows=flip_rows(result)), encoding="utf-8"
        )
    else:
        target.write_text(text, encoding="utf-8")
