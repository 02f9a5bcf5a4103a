"""Case files: a record, a reference date, the expected value of every outcome and a
one-line reason. Running them proves a rule set; a failure shows expected against got
and the rule path that produced it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .decision import Decision
from .engine import Engine


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


def run_case(path: Path, engine_for: Callable[[tuple[str, ...]], Engine]) -> CaseResult:
    try:
        case = load_case(path)
    except (OSError, yaml.YAMLError) as exc:
        return CaseResult(str(path), None, [f"cannot read case file: {exc}"])
    except ValidationError as exc:
        msgs = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return CaseResult(str(path), None, ["invalid case file: " + "; ".join(msgs)])
    engine = engine_for(tuple(case.overlays))
    try:
        decision = engine.decide(case.record, case.on, entity=case.entity, explain=False)
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
            failures.append(f"{oid}: expected {_show(expected)}, got {_show(got.value)}\n"
                            f"      rule path: {' → '.join(got.rule_path) or '–'}\n"
                            f"      reason:    {got.reason.de}")
        if expected is None and oid not in case.missing:
            failures.append(f"{oid}: expected unknown, but the case does not say which facts are missing "
                            f"(got missing: {got.missing})")
    for oid, rule in case.rules.items():
        got_o = decision.outcomes.get(oid)
        if got_o is not None and got_o.rule != rule:
            failures.append(f"{oid}: expected deciding rule {rule}, got {got_o.rule}\n"
                            f"      rule path: {' → '.join(got_o.rule_path) or '–'}")
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
                from .engine import default_rules_dir

                base = default_rules_dir()
            paths = [o if o.endswith((".yaml", ".yml")) else str(base / "overlays" / f"{o}.yaml") for o in overlays]
            self._engines[overlays] = Engine.load(base, overlays=paths)
        return self._engines[overlays]
