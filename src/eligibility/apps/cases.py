"""Case files: a record, a reference date, the expected value of every outcome and a
one-line reason. Running them proves a rule set; a failure shows expected against got
and the rule path that produced it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eligibility.decision.model import Decision
from eligibility.engine import Engine


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    reason: str
    on: dt.date
    entity: str | None = None
    overlays: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    record: dict[str, Any]
    expect: dict[str, Any]
    rules: dict[str, str | None] = Field(default_factory=dict)
    missing: dict[str, list[str]] = Field(default_factory=dict)


@dataclasses.dataclass
class CaseResult:
    path: str
    case: CaseFile | None
    failures: list[str]
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def find_cases(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(q for q in path.rglob("*.yaml") if q.is_file()))
        else:
            out.append(path)
    return sorted(set(out))


def load_case(path: Path) -> CaseFile:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return CaseFile.model_validate(unfold_on_key(data))


def unfold_on_key(data: Any) -> Any:
    """YAML 1.1 reads an unquoted key `on:` as the boolean true; editors write it that way."""
    if isinstance(data, dict) and True in data and "on" not in data:
        data = {("on" if k is True else k): v for k, v in data.items()}
    return data


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool) or expected is None or got is None:
        return expected is got or (expected == got and type(expected) is type(got))
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        return abs(float(expected) - float(got)) < 0.005
    return bool(expected == got)


def _show(v: Any) -> str:
    if v is None:
        return "unbekannt (null)"
    if v is True:
        return "ja (true)"
    if v is False:
        return "nein (false)"
    return repr(v)


def run_case(path: Path, engine_for: Callable[[tuple[str, ...]], Engine], explain: bool = False) -> CaseResult:
    try:
        case = load_case(path)
    except (OSError, yaml.YAMLError) as exc:
        return CaseResult(str(path), None, [f"cannot read case file: {exc}"])
    except ValidationError as exc:
        msgs = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return CaseResult(str(path), None, ["invalid case file: " + "; ".join(msgs)])
    engine = engine_for(tuple(case.overlays))
    try:
        decision = engine.decide(case.record, case.on, entity=case.entity, explain=explain)
    except ValueError as exc:
        return CaseResult(str(path), case, [str(exc)])
    failures: list[str] = []
    if decision.errors:
        failures.append("record has errors: " + "; ".join(e.message.en for e in decision.errors))
    outcomes = engine.outcomes(case.entity)
    for oid in outcomes:
        if oid not in case.expect:
            failures.append(f"{oid}: no expectation (every outcome needs one)")
    for oid, expected in case.expect.items():
        if oid not in decision.outcomes:
            failures.append(f"{oid}: no such outcome (known: {', '.join(outcomes)})")
            continue
        got = decision.outcomes[oid]
        if not _same(expected, got.value):
            failures.append(
                f"{oid}: expected {_show(expected)}, got {_show(got.value)}\n"
                f"      rule path: {' → '.join(got.rule_path) or '–'}\n"
                f"      reason:    {got.reason.de}"
            )
        if expected is None and oid not in case.missing:
            failures.append(
                f"{oid}: expected unknown, but the case does not say which facts are missing "
                f"(got missing: {got.missing})"
            )
    for oid, rule in case.rules.items():
        got_o = decision.outcomes.get(oid)
        if got_o is not None and got_o.rule != rule:
            failures.append(
                f"{oid}: expected deciding rule {rule}, got {got_o.rule}\n"
                f"      rule path: {' → '.join(got_o.rule_path) or '–'}"
            )
    for oid, facts in case.missing.items():
        got_o = decision.outcomes.get(oid)
        if got_o is not None and sorted(facts) != got_o.missing:
            failures.append(f"{oid}: expected missing {sorted(facts)}, got {got_o.missing}")
    return CaseResult(str(path), case, failures, decision)


class EngineCache:
    """One engine per overlay combination, so a case suite loads each rule set once."""

    def __init__(self, rules: str | Path | None = None) -> None:
        self.rules = Path(rules) if rules is not None else None
        self._engines: dict[tuple[str, ...], Engine] = {}

    def __call__(self, overlays: tuple[str, ...]) -> Engine:
        if overlays not in self._engines:
            base = self.rules
            if base is None:
                from eligibility.engine import default_rules_dir

                base = default_rules_dir()
            paths = [o if o.endswith((".yaml", ".yml")) else str(base / "overlays" / f"{o}.yaml") for o in overlays]
            self._engines[overlays] = Engine.load(base, overlays=paths)
        return self._engines[overlays]


# ---------------------------------------------------------------- coverage


@dataclasses.dataclass
class RuleCoverage:
    entity: str
    outcome: str
    rule: str
    source: str
    assumption: bool
    unconditional: bool = False  # `when: true`: it applies wherever it is in force
    yes: int = 0  # cases in which the rule's condition was true
    no: int = 0  # cases in which it was false

    @property
    def complete(self) -> bool:
        return self.yes > 0 and (self.no > 0 or self.unconditional)


@dataclasses.dataclass
class SourceCoverage:
    citation: str
    rules: list[RuleCoverage]

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.rules)


def citations(source: str) -> list[str]:
    """The separate citations of a rule's source, split at top-level semicolons:
    "§ 9 Abs. 1 Nr. 4 FlüAG; §§ 187 Abs. 1, 188 Abs. 2 BGB" cites two."""
    out: list[str] = []
    depth = 0
    current = ""
    for ch in source:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == ";" and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    out.append(current.strip())
    return [c for c in out if c]


def coverage(
    results: list[CaseResult], engines: Callable[[tuple[str, ...]], Engine]
) -> tuple[list[RuleCoverage], list[SourceCoverage]]:
    """Which rules the cases exercise, with a true and with a false condition (every
    rule in force is evaluated, also those a higher rule shadows), grouped by each
    legal source the rules cite. A rule without a condition needs only a "yes"."""
    from eligibility.decision.records import normalize
    from eligibility.eval.evaluator import make_env

    base = engines(())
    rules: dict[tuple[str, str], RuleCoverage] = {}
    for ename in base.entities:
        ent = base.entity(ename)
        for oid in ent.outcome_order:
            for r in ent.outcomes[oid].rules:
                rules[(ename, r.id)] = RuleCoverage(
                    ename, oid, r.id, r.spec.source or "", r.spec.assumption, unconditional=r.cond is None
                )
    for res in results:
        if res.case is None or res.decision is None:
            continue
        engine = engines(tuple(res.case.overlays))
        ent = engine.entity(res.case.entity)
        facts, _ = normalize(res.case.record, ent.facts)
        env = make_env(engine.compiled, ent, facts, res.case.on)
        for oid in ent.outcome_order:
            for r in env.rules_in_force.get(oid, ()):
                rc = rules.get((ent.name, r.id))
                if rc is None:
                    continue
                value = True if r.cond is None else r.cond.fn(env)
                if value is True:
                    rc.yes += 1
                elif value is False:
                    rc.no += 1
    by_source: dict[str, list[RuleCoverage]] = {}
    for rc in rules.values():
        for c in citations(rc.source) or ["(ohne Quelle)"]:
            by_source.setdefault(c, []).append(rc)
    sources = [SourceCoverage(c, by_source[c]) for c in sorted(by_source)]
    return list(rules.values()), sources


def run_cases(paths: Iterable[str | Path], rules: str | Path | None = None) -> tuple[list[CaseResult], EngineCache]:
    cache = EngineCache(rules)
    results = []
    for path in find_cases(paths):
        results.append(run_case(path, cache))
    return results, cache


# ---------------------------------------------------------------- output of `eligibility test`


@dataclasses.dataclass(frozen=True)
class CaseRun:
    """What `eligibility test` reports: the failures and the coverage, as JSON or text."""

    results: list[CaseResult]
    rules: list[RuleCoverage]
    sources: list[SourceCoverage]

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def covered(self) -> int:
        return sum(1 for r in self.rules if r.complete)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / len(self.rules) if self.rules else 100.0

    def json(self) -> str:
        import json

        failed = self.failed
        return json.dumps(
            {
                "passed": len(self.results) - len(failed),
                "failed": len(failed),
                "failures": [{"case": r.path, "messages": r.failures} for r in failed],
                "coverage": {
                    "rules_complete_percent": round(self.percent, 1),
                    "rules": [dataclasses.asdict(r) for r in self.rules],
                    "sources": [
                        {"citation": s.citation, "complete": s.complete, "rules": [r.rule for r in s.rules]}
                        for s in self.sources
                    ],
                },
            },
            indent=2,
            ensure_ascii=False,
        )

    def text(self, show_coverage: bool, lang: str = "de") -> str:
        de = lang == "de"
        lines: list[str] = []
        failed = self.failed
        for r in failed:
            lines.append(f"{'FEHLER' if de else 'FAILED'} {r.path}")
            lines += [f"  - {msg}" for msg in r.failures]
        if show_coverage:
            lines += [
                "",
                "Abdeckung nach Rechtsquelle (ja/nein: Fälle mit erfüllter / nicht erfüllter Bedingung):"
                if de
                else "Coverage by legal source (yes/no: cases with the condition true / false):",
            ]
            yes, no = ("ja", "nein") if de else ("yes", "no")
            for s in self.sources:
                lines.append(f"  {'✓' if s.complete else '✗'} {s.citation}")
                for rc in s.rules:
                    gap = ""
                    if not rc.complete:
                        gap = f"  ← {'kein Fall mit' if de else 'no case with'} {yes if not rc.yes else no}"
                    if rc.unconditional:
                        gap += "  (ohne Bedingung)" if de else "  (no condition)"
                    lines.append(f"      {rc.rule:32} {yes} {rc.yes:3}  {no} {rc.no:3}{gap}")
            share = f"{self.covered}/{len(self.rules)} ({self.percent:.1f} %)"
            lines += [
                "",
                f"Regeln mit ja und nein geprüft: {share}" if de else f"Rules tested with yes and no: {share}",
            ]
        lines.append(f"{len(self.results) - len(failed)} passed, {len(failed)} failed")
        return "\n".join(lines)
