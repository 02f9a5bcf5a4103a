"""Diagnostics for machines: JSON for scripts and SARIF 2.1.0 for CI annotations (GitHub,
GitLab and editors show each finding at its file and line)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from eligibility.diagnostics import CATALOGUE, Diagnostic

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _one(d: Diagnostic) -> dict[str, object]:
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "file": d.file or None,
        "line": d.line or None,
        "column": d.column or None,
        "hint": d.hint or None,
    }


def to_json(diags: Sequence[Diagnostic], ruleset: dict[str, str] | None) -> str:
    errors = sum(1 for d in diags if d.severity == "error")
    doc = {
        "ruleset": ruleset,
        "errors": errors,
        "warnings": len(diags) - errors,
        "diagnostics": [_one(d) for d in diags],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def to_sarif(diags: Sequence[Diagnostic], version: str) -> str:
    used = sorted({d.code for d in diags})
    rules = [
        {
            "id": code,
            "shortDescription": {"text": CATALOGUE[code][1]},
            "help": {"text": f"See docs/diagnostics.md, section {code}."},
            "defaultConfiguration": {"level": CATALOGUE[code][0]},
        }
        for code in used
    ]
    results = []
    for d in diags:
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        result: dict[str, object] = {
            "ruleId": d.code,
            "ruleIndex": used.index(d.code),
            "level": d.severity,
            "message": {"text": text},
        }
        if d.file:
            region = {"startLine": d.line} if d.line else {}
            if d.line and d.column:
                region["startColumn"] = d.column
            result["locations"] = [
                {"physicalLocation": {"artifactLocation": {"uri": d.file}, **({"region": region} if region else {})}}
            ]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "eligibility validate", "version": version, "rules": rules}},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)
