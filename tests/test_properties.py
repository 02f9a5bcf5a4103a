"""Properties of the engine over the shipped rule set (hypothesis)."""

import datetime as dt
import random
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import person_records, reference_dates

from eligibility import Engine

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load(ROOT / "rules")
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values(decision):
    return {k: o.value for k, o in decision.outcomes.items()}


def _bounding_facts() -> set[str]:
    """Facts the rules read under known(): where they are known they bound the snapshot (nobody
    before arriving); where they are not, the snapshot stands. Dropping one may therefore
    re-open an answer on purpose, so the monotonicity below holds for the other facts."""
    ent = ENGINE.entity("person")
    out: set[str] = set()

    def walk(node, under):
        if node is None:
            return
        under = under or node.kind == "known"
        if node.kind == "fact" and under:
            out.add(node.name)
        for kid in node.kids:
            walk(kid, under)

    for d in ent.derived.values():
        walk(d.node, False)
    for oc in ent.outcomes.values():
        for r in oc.rules:
            walk(r.cond, False)
    return out


BOUNDING = _bounding_facts()


def test_the_arrival_facts_bound_the_snapshot():
    assert {"zugang_bw_datum", "aufnahme_uab_datum", "unterbringung"} == BOUNDING


@PROFILE
@given(person_records(), reference_dates, st.data())
def test_removing_a_fact_never_flips_a_known_outcome(record, on, data):
    """Unknown is not false: dropping a fact turns a decided outcome into unknown or
    leaves it as it is, never into the other value."""
    before = values(ENGINE.decide(record, on, explain=False))
    keys = [k for k in record if k != "person_id" and k not in BOUNDING]
    if not keys:
        return
    drop = data.draw(st.sampled_from(keys))
    smaller = {k: v for k, v in record.items() if k != drop}
    after = values(ENGINE.decide(smaller, on, explain=False))
    for oid, v in before.items():
        if v is not None:
            assert after[oid] in (v, None), (oid, drop, v, after[oid])


@PROFILE
@given(person_records(), reference_dates)
def test_nobody_belongs_before_a_known_arrival(record, on):
    """Before a known zugang_bw_datum every outcome is no; before a known aufnahme_uab_datum
    or in the Erstaufnahme the housing-based outcomes are no — on the record path and the
    batch path alike."""
    d = ENGINE.decide(record, on, explain=False)
    table = next(iter(ENGINE.decide_table([record], on).rows()))
    zugang = dt.date.fromisoformat(record["zugang_bw_datum"]) if "zugang_bw_datum" in record else None
    aufnahme = dt.date.fromisoformat(record["aufnahme_uab_datum"]) if "aufnahme_uab_datum" in record else None
    if record.get("aufenthaltsstatus") == "eingebuergert":
        return
    if zugang is not None and on < zugang:
        for oid, o in d.outcomes.items():
            assert o.value is False, (oid, o.rule)
            assert table[oid] is False, oid
    elif (aufnahme is not None and on < aufnahme) or record.get("unterbringung") == "erstaufnahme":
        for oid in ("anschlussunterbringung", "aub_berechtigt_in_gu", "lastenausgleich"):
            assert d.outcomes[oid].value is False, (oid, d.outcomes[oid].rule)
            assert table[oid] is False, oid


@PROFILE
@given(person_records(), reference_dates)
def test_unknown_outcomes_name_their_missing_facts_and_known_ones_do_not(record, on):
    d = ENGINE.decide(record, on, explain=False)
    for oid, o in d.outcomes.items():
        if o.status == "unknown":
            assert o.missing, oid
            assert all(f not in record for f in o.missing), (oid, o.missing)
        else:
            assert o.missing == []


@PROFILE
@given(person_records(), reference_dates)
def test_supplying_the_missing_facts_can_settle_the_outcome(record, on):
    """Each fact named as missing really matters: some value of it changes the
    outcome away from unknown, or the set of what is still missing."""

    d = ENGINE.decide(record, on, explain=False)
    for oid, o in d.outcomes.items():
        for fact in o.missing:
            candidates = {
                "aufenthaltsstatus": ["gestattung", "eingebuergert", "duldung", "schutz_24", "fluechtling"],
                "unterbringung": ["anschluss", "vorlaeufig", "privat"],
                "familiennachzug": [True, False],
                "geboren_nach_zugang": [True, False],
                "beratung_verlaengerung_begruendet": [True, False],
                "herkunftsland": ["SYR", "TUR"],
            }.get(fact)
            if candidates is None:  # a date
                candidates = [None, "2014-01-01", (on - dt.timedelta(days=1)).isoformat(), on.isoformat(), "2030-01-01"]
            outcomes = set()
            for c in candidates:
                r = dict(record)
                r[fact] = c
                od = ENGINE.decide(r, on, explain=False).outcomes[oid]
                outcomes.add((repr(od.value), tuple(od.missing)))
            assert len(outcomes) > 1 or ("None", tuple(o.missing)) not in outcomes, (oid, fact)


def _shuffled_copy(src: Path, dst: Path, seed: int) -> None:
    """The same rule set with every mapping's keys, every list of rules and the
    files' names and folders shuffled."""
    rnd = random.Random(seed)
    dst.mkdir(parents=True)

    def shuffle(node):
        if isinstance(node, dict):
            items = list(node.items())
            rnd.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(node, list):
            items = [shuffle(v) for v in node]
            # Lists of rules (not lists of citations: their order is the citation's wording).
            if items and all(isinstance(i, dict) and "id" in i and "label" in i for i in items):
                rnd.shuffle(items)
            return items
        return node

    files = sorted(p for p in src.rglob("*.yaml") if "overlays" not in p.parts)
    names = [f"z{i:02d}.yaml" for i in range(len(files))]
    rnd.shuffle(names)
    for path, name in zip(files, names):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        (dst / name).write_text(yaml.safe_dump(shuffle(data), allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_results_do_not_depend_on_file_or_key_order(tmp_path):
    engines = []
    for seed in (1, 2):
        target = tmp_path / f"shuffled{seed}"
        _shuffled_copy(ROOT / "rules", target, seed)
        engines.append(Engine.load(target))

    @settings(max_examples=200, deadline=None)
    @given(person_records(), reference_dates)
    def check(record, on):
        reference = ENGINE.decide(record, on).model_dump(exclude={"ruleset"})
        for e in engines:
            assert e.decide(record, on).model_dump(exclude={"ruleset"}) == reference

    check()


@settings(max_examples=50, deadline=None)
@given(st.lists(person_records(), max_size=30), reference_dates)
def test_decide_many_gives_one_decision_per_record_in_order(records, on):
    out = list(ENGINE.decide_many(iter(records), on))
    assert len(out) == len(records)
    assert [d.record_id for d in out] == [r["person_id"] for r in records]
    for r, d in zip(records, out):
        assert values(d) == values(ENGINE.decide(r, on, explain=False))


def test_decide_many_is_lazy():
    def endless():
        i = 0
        while True:
            i += 1
            yield {"person_id": str(i), "aufenthaltsstatus": "duldung"}

    it = ENGINE.decide_many(endless(), dt.date(2020, 1, 1))
    first = [next(it) for _ in range(3)]
    assert [d.record_id for d in first] == ["1", "2", "3"]


@PROFILE
@given(person_records(), reference_dates)
def test_same_input_same_bytes(record, on):
    a = ENGINE.decide(dict(record), on).to_json()
    b = Engine.load(ROOT / "rules").decide(dict(reversed(list(record.items()))), on).to_json()
    assert a == b
