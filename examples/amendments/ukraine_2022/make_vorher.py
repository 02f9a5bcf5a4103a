"""Builds `vorher/`: the shipped rules/ as they were before the Erlass of 11.03.2022
(without the rule im.ukraine and without the Erlass in the amendment history).

Run after a change to rules/:  python examples/amendments/ukraine_2022/make_vorher.py
The test suite checks that vorher/ is what this script makes from rules/."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def without_erlass(rel: str, text: str) -> str:
    if rel == "person/integrationsmanagement.yaml":
        text, n = re.subn(r"\n      - id: im\.ukraine\n.*?(?=\n      - id: |\Z)", "\n", text, flags=re.S)
        assert n == 1, "rule im.ukraine not found"
    if rel == "ruleset.yaml":
        text, n = re.subn(r"  - date: 2022-03-11\n.*?\n(?=  - date: |\Z)", "", text, flags=re.S)
        assert n == 1, "amendment of 2022-03-11 not found"
    return text


def build(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    for src in sorted((ROOT / "rules").rglob("*.yaml")):
        rel = src.relative_to(ROOT / "rules").as_posix()
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(without_erlass(rel, src.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "vorher")
