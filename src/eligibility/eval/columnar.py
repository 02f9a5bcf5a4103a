"""The batch path: the compiled rules evaluated column-wise over a whole roster with
numpy, with the same three-valued semantics as the per-record path.

Every expression node yields a column triple: values, a known-mask, and a bitmask of the
facts whose unknownness matters (for the minimal missing facts). Kleene's `and`/`or` are
mask arithmetic; dates are day ordinals, with "has not happened" as an ordinal after every
date; enums are codes. Outcomes are decided rule by rule in precedence order over all rows
at once. An entity whose rules use something this module does not vectorise (computed
amounts, arithmetic) falls back to the per-record path, which gives the same answers.

The work is split by job: `columnar_input` reads the cells into typed columns,
`columnar_eval` evaluates the rules over them (translating `eval/semantics`), `columnar_table`
holds the result; this module runs one batch through the three. Its names stay importable from
here."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from eligibility.eval.columnar_eval import BatchEvaluator, Unsupported
from eligibility.eval.columnar_input import Col, Columns, columns_from_table, records_from_table
from eligibility.eval.columnar_table import Coded, DecisionTable, Texts, _objects, code_dtype
from eligibility.eval.semantics import NOT_IN_FORCE, UNKNOWN_STATUS, VALUE

__all__ = [
    "BatchEvaluator",
    "Col",
    "Coded",
    "Columns",
    "DecisionTable",
    "Texts",
    "Unsupported",
    "code_dtype",
    "columns_from_table",
    "decide_columns",
    "records_from_table",
]


def decide_columns(
    ev: BatchEvaluator,
    records: list[Mapping[str, Any]] | None,
    on: dt.date,
    ruleset: dict[str, str],
    columns: Mapping[str, Any] | None = None,
) -> DecisionTable:
    # The prepared evaluator is shared by an engine's calls; a run keeps its state (columns,
    # caches) on a shallow copy, so concurrent calls never see each other's rows.
    ev = copy.copy(ev)
    ent = ev.ent
    cols = Columns(ent, records, columns, used=ev.used, memo=ev.memo)
    results = ev.run(cols, on, track=False)
    # Missing facts matter only where an outcome stayed unknown: those rows (usually few)
    # are evaluated once more with the fact bitmasks tracked.
    undecided = np.zeros(cols.n, dtype=bool)
    for res in results.values():
        undecided |= res["_status"] == 1
    rows = np.flatnonzero(undecided)
    sub = copy.copy(ev).run(cols.take(rows), on, track=True) if len(rows) else {}
    fact_names = list(ent.facts)
    out: dict[str, Any] = {}
    id_field = ent.id_field
    if id_field and id_field in cols.texts:
        out["record_id"] = Texts(cols.texts[id_field])
    elif id_field:
        idcol = cols.columns[id_field]
        # numpy takes None as an object scalar here; its stubs do not list None as array-like.
        out["record_id"] = (
            np.where(idcol.known, idcol.val, None)  # type: ignore[call-overload]
            if idcol.val.dtype == object
            else _objects([str(v) if k else None for v, k in zip(idcol.val.tolist(), idcol.known.tolist())])
        )
    else:
        out["record_id"] = _objects([None] * cols.n)
    statuses = _objects([VALUE, UNKNOWN_STATUS, NOT_IN_FORCE])  # the table says "value" for every decided one
    no_yes = _objects([False, True])
    for oid in ent.outcome_order:
        res = results[oid]
        decided = res["_status"] == 0
        out[oid] = Coded(np.where(decided, res["_ids"], len(res["conclusions"])), _objects(res["conclusions"] + [None]))
        out[f"{oid}_rule"] = Coded(
            np.where(decided & (res["_rule"] >= 0), res["_rule"], len(res["rules"])), _objects(res["rules"] + [None])
        )
        out[f"{oid}_status"] = Coded(res["_status"], statuses)
        # Code 0 is "nothing missing"; the undecided rows' fact sets follow.
        miss_codes = np.zeros(cols.n, dtype=np.int64)
        names: list[list[str]] = [[]]
        if len(rows):
            masks, inverse = np.unique(sub[oid]["_miss"], return_inverse=True)
            names += [sorted(f for i, f in enumerate(fact_names) if i < 64 and int(m) >> i & 1) for m in masks.tolist()]
            miss_codes[rows] = inverse.reshape(-1) + 1
        out[f"{oid}_missing"] = Coded(miss_codes, _objects(names))
        out[f"{oid}_assumption"] = Coded(res["_asm"].view(np.int8), no_yes)
    error_codes = np.zeros(cols.n, dtype=np.int64)
    texts, texts_en = [""], [""]
    for i in sorted(cols.errors):
        error_codes[i] = len(texts)
        texts.append("; ".join(cols.errors[i]))
        texts_en.append("; ".join(cols.error_en[i]))
    out["errors"] = Coded(error_codes, _objects(texts))
    out["errors_en"] = Coded(error_codes.copy(), _objects(texts_en))
    return DecisionTable(out, list(ent.outcome_order), ruleset)
