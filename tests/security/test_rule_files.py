"""Hostile rule files (issue 15) against the real CLI: each is refused with its located
diagnostic, within a memory bound, and never with a traceback.

Each attack runs `eligibility validate` and `eligibility check` in a subprocess whose
address space is capped (RLIMIT_AS): before the limits, the nested-alias file took the
CLI past 7.4 GB and the 4 000-term `or` to 815 MB, so under the cap they would die with
MemoryError instead of the diagnostic. The timeout only keeps a hang (the FIFO) from
blocking the suite; nothing asserts on speed."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MEMORY_BOUND = 1024 * 1024 * 1024  # 1 GB of address space for the whole CLI process
TIMEOUT = 120  # generous: the machine is shared; this bounds a hang, it does not time anything
MINI = Path(__file__).resolve().parents[1] / "rules_bad" / "E033_expression_too_deep"
WHEN = "(" * 40 + 'status == "a"' + ")" * 40  # the line of MINI's outcome.yaml that is replaced


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.run(
        [sys.executable, "-m", "eligibility", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_bounded,
        env=env,
        check=False,
    )


def rule_set(tmp_path: Path, when: str = 'status == "a"') -> Path:
    """A small valid rule set (one outcome, three facts, one parameter) with `when` as its rule's condition."""
    d = tmp_path / "rules"
    shutil.copytree(MINI, d)
    (d / "expected.txt").unlink()
    outcome = d / "outcome.yaml"
    outcome.write_text(outcome.read_text(encoding="utf-8").replace(WHEN, when), encoding="utf-8")
    (tmp_path / "person.yaml").write_text('person_id: "1"\nstatus: a\nseit: 2020-01-01\n', encoding="utf-8")
    return d


def assert_refused(tmp_path: Path, code: str, where: str, overlay: str | None = None) -> None:
    extra = ["--overlay", overlay] if overlay else []
    for args, exit_code in (
        (["validate", "rules", *extra], 1),  # validate: an error in the rule set exits 1 (docs/diagnostics.md)
        (["check", "--rules", "rules", *extra, "--on", "2024-01-01", "person.yaml"], 2),
    ):
        proc = run(*args, cwd=tmp_path)
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out, out[-3000:]
        assert proc.returncode == exit_code, (args, proc.returncode, out[-3000:])
        assert f"{where}: {code} Fehler:" in out, (args, out[-3000:])  # German, the default language
        assert "Hinweis:" in out


def test_the_small_rule_set_itself_loads(tmp_path: Path) -> None:
    rule_set(tmp_path)
    proc = run("check", "--rules", "rules", "--on", "2024-01-01", "person.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_billion_laughs_is_refused_without_expanding(tmp_path: Path) -> None:
    d = rule_set(tmp_path)
    text = "parameters:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    prev = "a"
    for c in "bcdefghi":
        text += f"  {c}: &{c} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = c
    assert len(text.encode()) < 600
    (d / "laughs.yaml").write_text(text, encoding="utf-8")
    assert_refused(tmp_path, "E031", "rules/laughs.yaml:6:30")


def test_a_101_mb_comment_file_is_refused_before_reading(tmp_path: Path) -> None:
    d = rule_set(tmp_path)
    with (d / "big.yaml").open("wb") as f:
        f.truncate(101 * 1024 * 1024)  # sparse: the size is what counts
        f.seek(0)
        f.write(b"# comment\n")
    assert_refused(tmp_path, "E029", "rules/big.yaml:1:1")


def test_a_file_under_2_mb_with_too_many_values_is_refused_while_composing(tmp_path: Path) -> None:
    d = rule_set(tmp_path)
    text = "x:\n" + "".join(f"  k{i}: 1\n" for i in range(160_000))
    assert len(text.encode()) < 2 * 1024 * 1024
    (d / "dense.yaml").write_text(text, encoding="utf-8")
    assert_refused(tmp_path, "E029", "rules/dense.yaml:25000:11")  # the 50 001st value


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_yaml_does_not_block(tmp_path: Path) -> None:
    d = rule_set(tmp_path)
    os.mkfifo(d / "pipe.yaml")
    assert_refused(tmp_path, "E030", "rules/pipe.yaml:1:1")


def test_a_directory_named_yaml_is_refused(tmp_path: Path) -> None:
    d = rule_set(tmp_path)
    (d / "folder.yaml").mkdir()
    assert_refused(tmp_path, "E030", "rules/folder.yaml:1:1")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_overlay_dev_zero_is_refused(tmp_path: Path) -> None:
    rule_set(tmp_path)
    assert_refused(tmp_path, "E030", "/dev/zero:1:1", overlay="/dev/zero")


def test_100k_deep_yaml_is_refused_before_recursing(tmp_path: Path) -> None:
    d = rule_set(tmp_path)
    (d / "deep.yaml").write_text("x: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    assert_refused(tmp_path, "E032", "rules/deep.yaml:1:67")


OR = 'status == "a"'
SHIFT = 'status == "a" and stichtag > add_days(stichtag, '


# Columns are 1-based in the file; the expression starts at column 15 of line 13.
@pytest.mark.parametrize(
    ("when", "code", "offset"),
    [
        ("(" * 100 + OR + ")" * 100, "E033", 32),  # the 33rd parenthesis
        ("not " * 1000 + OR, "E033", 32 * 4),  # the 33rd 'not'
        ("1 > " + "- " * 1000 + "0 and " + OR, "E033", 4 + 32 * 2),  # the 33rd unary minus
        (" or ".join([OR] * 4000), "E034", 2822),  # the 501st part
        (" or ".join([OR] * 100_000), "E034", 2822),
        (OR + " and frist > " + "9" * 5000, "E035", len(OR + " and frist > ")),
        ('status == "' + "x" * 5000 + '"', "E035", len("status == ")),
        (SHIFT + "99999999999)", "E036", len(SHIFT)),
        (OR + " and stichtag > add_months(seit, -1201)", "E036", len(OR + " and stichtag > add_months(seit, ")),
    ],
    ids=["parens", "nots", "minus", "or4000", "or100k", "digits", "text", "add_days", "add_months"],
)
def test_hostile_expressions_are_refused_with_their_column(tmp_path: Path, when: str, code: str, offset: int) -> None:
    rule_set(tmp_path, when)
    assert_refused(tmp_path, code, f"rules/outcome.yaml:13:{15 + offset}")


def _count_rule_set(tmp_path: Path, func: str) -> Path:
    """The small rule set with an int fact `anzahl` as the count of a date shift."""
    d = rule_set(tmp_path, f'status == "a" and stichtag > {func}(seit, anzahl)')
    facts = d / "facts.yaml"
    facts.write_text(
        facts.read_text(encoding="utf-8")
        + "  anzahl:\n    type: int\n    label: {de: Anzahl, en: count}\n"
        + '    question: {de: "Wie viele?", en: "How many?"}\n',
        encoding="utf-8",
    )
    return d


@pytest.mark.parametrize("func", ["add_days", "add_months", "add_years"])
def test_a_record_dependent_shift_out_of_the_calendar_fails_alike_on_both_paths(tmp_path: Path, func: str) -> None:
    """Where the count comes from a record, a result outside the calendar cannot be known
    when loading: both evaluators raise OverflowError for exactly the same records (the
    apps then write an error row for that record), and agree on every other one."""
    import datetime as dt

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from eligibility import Engine

    engine = Engine.load(_count_rule_set(tmp_path, func))
    on = dt.date(2024, 1, 1)

    @settings(max_examples=150, deadline=None)
    @given(
        st.dates(dt.date(1, 1, 1), dt.date(9899, 12, 31)),
        st.one_of(st.integers(-4_000_000, 4_000_000), st.integers(-(10**18), 10**18)),
    )
    def check(seit: dt.date, anzahl: int) -> None:
        record = {"person_id": "1", "status": "a", "seit": seit.isoformat(), "anzahl": anzahl}
        try:
            one = engine.decide(record, on, explain=False).outcomes["ziel"].value
        except (ValueError, OverflowError):
            one = "error"
        try:
            many = next(iter(engine.decide_table([record], on).rows()))["ziel"]
        except (ValueError, OverflowError):
            many = "error"
        assert one == many, (seit, anzahl)

    check()


def test_check_and_evaluate_give_an_error_for_a_record_whose_shift_leaves_the_calendar(tmp_path: Path) -> None:
    _count_rule_set(tmp_path, "add_days")
    (tmp_path / "person.yaml").write_text(
        'person_id: "1"\nstatus: a\nseit: 2020-01-01\nanzahl: 99999999999\n', encoding="utf-8"
    )
    proc = run("check", "--rules", "rules", "--on", "2024-01-01", "person.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "Datensatz kann nicht entschieden werden" in proc.stderr
    (tmp_path / "liste.csv").write_text(
        "person_id;status;seit;anzahl\n1;a;01.01.2020;5\n2;a;01.01.2020;99999999999\n3;a;01.01.2020;-5\n",
        encoding="utf-8",
    )
    proc = run("evaluate", "--rules", "rules", "--on", "2024-01-01", "liste.csv", "--out", "out.csv", cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(";")[1] for line in lines[1:]] == ["1", "2", "3"]  # one row per record, in order
    assert "Datensatz kann nicht entschieden werden" in lines[2]
    assert "kann nicht" not in lines[1] + lines[3]


def test_a_chain_of_derived_facts_hundreds_deep_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    # Each expression is within its limits; the chain e0 <- e1 <- ... <- e399 recursed past
    # Python's stack while it was explained (a review found the traceback).
    d = rule_set(tmp_path, "e399")
    lines = ["entity: person", "derived:"]
    for i in range(400):
        expr = 'status == \\"a\\"' if i == 0 else f'e{i - 1} and status == \\"a\\"'
        lines += [f"  e{i}:", f"    label: {{de: E{i}}}", f'    expr: "{expr}"']
    (d / "derived.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for args in (
        ["check", "--rules", "rules", "--on", "2024-01-01", "person.yaml"],
        ["validate", "rules"],
    ):
        proc = run(*args, cwd=tmp_path)
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out, out[-3000:]
        assert proc.returncode == 2 and "zu tief verschachtelt" in out, out[-2000:]
        # One language at a time: English with --lang en.
        proc = run(*args, "--lang", "en", cwd=tmp_path)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2 and "nested too deeply" in out and "verschachtelt" not in out, out[-2000:]
