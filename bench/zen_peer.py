"""The five person outcomes as a GoRules JDM decision graph for zen-engine (benchmark
peer only). Like the hand-written peer it covers fully known records; the dates of the
law are written into the expressions, because JDM has no dated parameters."""

from __future__ import annotations

import json
from typing import Any

NR1 = (
    '["gestattung", "asylberechtigt", "fluechtling", "subsidiaer", "abschiebungsverbot", "duldung", '
    '"ausreisepflichtig", "sonstiger_titel"]'
)
PROTECTION = '["asylberechtigt", "fluechtling", "subsidiaer", "abschiebungsverbot", "schutz_24", "aufnahme_22_23"]'


def _happened(field: str) -> str:
    return f"({field} != null and d({field}) <= t)"


# One expression node; later expressions read earlier keys of the same node as `$.key`.
STAGES: list[list[tuple[str, str]]] = [
    [
        ("t", "d(on)"),
        ("eingebuergert", 'aufenthaltsstatus == "eingebuergert"'),
        ("nr1", f"aufenthaltsstatus in {NR1}"),
        ("nr2", 'aufenthaltsstatus in ["schutz_24", "aufnahme_22_23"]'),
        ("in_aub_or_flat", 'unterbringung in ["anschluss", "privat"]'),
        # Nobody before arriving: not yet in the Land's reception, or not yet taken in by a county.
        ("not_in_bw", "zugang_bw_datum != null and $.t < d(zugang_bw_datum)"),
        (
            "not_in_county",
            'not $.not_in_bw and (unterbringung == "erstaufnahme" or '
            "(aufnahme_uab_datum != null and $.t < d(aufnahme_uab_datum)))",
        ),
        (
            "anschlussunterbringung",
            "$.eingebuergert or $.not_in_bw or $.not_in_county ? false : "
            '($.in_aub_or_flat or aufenthaltsstatus in ["duldung", "ausreisepflichtig"] or '
            f"($.nr1 and ({_happened('gu_pflicht_ende_datum').replace('t)', '$.t)')} or "
            f"{_happened('asylentscheidung_unanfechtbar_datum').replace('t)', '$.t)')} or "
            f"{_happened('aufenthaltstitel_datum').replace('t)', '$.t)')} or "
            '$.t > d(aufnahme_uab_datum).add(24, "M"))) or ($.nr2 and $.t > d(aufnahme_uab_datum).add(6, "M")))',
        ),
        ("aub_berechtigt_in_gu", '$.anschlussunterbringung and unterbringung == "vorlaeufig"'),
        (
            "capped",
            'beratung_beginn_datum != null and $.t >= d("2023-06-06") and '
            '($.t > d(beratung_beginn_datum).add(48, "M") or '
            '(beratung_verlaengerung_begruendet == false and $.t > d(beratung_beginn_datum).add(36, "M")))',
        ),
        (
            "integrationsmanagement",
            '$.eingebuergert or $.not_in_bw or $.t < d("2017-01-01") or $.capped ? false : '
            '(($.anschlussunterbringung and $.in_aub_or_flat) or ($.t >= d("2022-03-11") and aufenthaltsstatus == "schutz_24"))',
        ),
        (
            "lastenausgleich",
            '$.eingebuergert or $.not_in_bw or $.not_in_county or $.t < d("2017-01-01") or $.t > d("2019-12-31") '
            "? false : "
            '($.in_aub_or_flat and ((d(zugang_bw_datum) >= d("2015-01-01") and d(zugang_bw_datum) <= d("2016-02-29")) '
            "or familiennachzug or geboren_nach_zugang))",
        ),
        (
            "laender",
            '$.t >= d("2022-01-13") ? ["SYR", "ERI", "SOM", "AFG"] : ($.t >= d("2021-03-01") ? ["SYR", "ERI", "SOM"] : '
            '($.t >= d("2019-08-01") ? ["SYR", "ERI"] : ($.t >= d("2016-08-01") ? ["SYR", "ERI", "IRQ", "IRN", "SOM"] : '
            '($.t >= d("2015-11-01") ? ["SYR", "ERI", "IRQ", "IRN"] : []))))',
        ),
        (
            "prioritaet",
            f'$.eingebuergert or $.not_in_bw ? false : (aufenthaltsstatus in {PROTECTION} ? "hoch" : '
            '(aufenthaltsstatus == "gestattung" ? (herkunftsland in $.laender ? "hoch" : "normal") : '
            '(aufenthaltsstatus == "sonstiger_titel" ? "normal" : "niedrig")))',
        ),
    ],
]


def graph() -> str:
    nodes: list[dict[str, Any]] = [{"id": "in", "type": "inputNode", "name": "Person", "position": {"x": 0, "y": 0}}]
    edges = []
    prev = "in"
    for i, exprs in enumerate(STAGES):
        nid = f"stage{i}"
        nodes.append(
            {
                "id": nid,
                "type": "expressionNode",
                "name": nid,
                "position": {"x": 200 * (i + 1), "y": 0},
                "content": {
                    "passThrough": True,
                    "inputField": None,
                    "outputPath": None,
                    "expressions": [{"id": f"{nid}-{j}", "key": k, "value": v} for j, (k, v) in enumerate(exprs)],
                },
            }
        )
        edges.append({"id": f"{prev}-{nid}", "type": "edge", "sourceId": prev, "targetId": nid})
        prev = nid
    nodes.append({"id": "out", "type": "outputNode", "name": "Ergebnis", "position": {"x": 800, "y": 0}})
    edges.append({"id": f"{prev}-out", "type": "edge", "sourceId": prev, "targetId": "out"})
    return json.dumps({"nodes": nodes, "edges": edges})


OUTCOMES = ["anschlussunterbringung", "aub_berechtigt_in_gu", "integrationsmanagement", "lastenausgleich", "prioritaet"]


class ZenPeer:
    def __init__(self, trace: bool = False) -> None:
        import zen

        content = {"eligibility.json": graph()}
        self.engine = zen.ZenEngine({"loader": lambda key: content[key]})
        self.options = {"trace": True} if trace else None

    def decide(self, record: dict[str, Any], on: Any) -> dict[str, Any]:
        data = dict(record, on=on.isoformat() if hasattr(on, "isoformat") else on)
        if self.options:
            result = self.engine.evaluate("eligibility.json", data, self.options)["result"]
        else:
            result = self.engine.evaluate("eligibility.json", data)["result"]
        return {o: result[o] for o in OUTCOMES}
