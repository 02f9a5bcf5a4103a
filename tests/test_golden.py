"""The golden corpus: 640 full decisions (dirty and partial records, the Göppingen overlay,
post applications, dates out of the rule set's range) made before the redesign of the engine's
house. Every change must re-make them byte for byte; a deliberate change of decisions
regenerates them with tests/golden/make_golden.py and shows the diff in review."""

import difflib
import gzip
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "golden"


def _load():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_golden", HERE / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_corpus_is_large_and_varied():
    lines = gzip.decompress((HERE / "decisions.jsonl.gz").read_bytes()).decode("utf-8").splitlines()
    cases = [json.loads(line) for line in lines]
    assert len(cases) >= 600
    assert sum(1 for c in cases if c["entity"] == "stelle") >= 100
    assert sum(1 for c in cases if c["overlays"]) >= 100
    assert sum(1 for c in cases if "on_out_of_range" in c["decision"]) >= 10
    assert sum(1 for c in cases if '"errors": [\n    {' in c["decision"]) >= 50


def test_every_golden_decision_is_remade_byte_for_byte():
    mod = _load()
    engines = mod.engines()
    lines = gzip.decompress((HERE / "decisions.jsonl.gz").read_bytes()).decode("utf-8").splitlines()
    for line in lines:
        case = json.loads(line)
        got = mod.decide(engines[tuple(case["overlays"])], case)
        if got != case["decision"]:
            diff = "\n".join(
                list(
                    difflib.unified_diff(
                        case["decision"].splitlines(), got.splitlines(), "golden", "now", lineterm="", n=2
                    )
                )[:40]
            )
            pytest.fail(
                f"{case['record'].get('person_id') or case['record'].get('antrag_id')} on {case['on']}:\n{diff}"
            )
