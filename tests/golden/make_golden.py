"""Writes tests/golden/decisions.jsonl.gz: 640 full decisions (with explanations) made by the
code of the day it was run, for the redesign to re-make byte for byte (test_golden.py).

Run only on purpose, after a deliberate change of decisions:
    .venv/bin/python tests/golden/make_golden.py
then review the diff of what changed (zcat, diff) before committing it."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from pathlib import Path

from eligibility import Engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STATUSES = [
    "gestattung",
    "asylberechtigt",
    "fluechtling",
    "subsidiaer",
    "abschiebungsverbot",
    "duldung",
    "ausreisepflichtig",
    "schutz_24",
    "aufnahme_22_23",
    "sonstiger_titel",
    "eingebuergert",
]
HOUSING = ["erstaufnahme", "vorlaeufig", "anschluss", "privat"]
DIRTY = {
    "aufenthaltsstatus": ["Flüchtling", "geduldet?", "SCHUTZ_24", 7],
    "unterbringung": ["GU", "Zelt", ""],
    "zugang_bw_datum": ["31.02.2016", "2016-13-01", "unbekannt", "15.01.2016"],
    "herkunftsland": ["Syrien", "XX"],
    "familiennachzug": ["ja", "vielleicht", 2],
    "aufnahme_uab_datum": ["01.04.16", "2016-04-01T00:00"],
}
DAYS = [
    dt.date(2013, 12, 31),
    dt.date(2014, 1, 1),
    dt.date(2016, 3, 1),
    dt.date(2017, 9, 15),
    dt.date(2018, 9, 15),
    dt.date(2018, 10, 1),
    dt.date(2019, 9, 15),
    dt.date(2022, 3, 11),
    dt.date(2023, 6, 6),
    dt.date(2024, 1, 16),
]


def _date(rnd: random.Random) -> str:
    return (dt.date(2014, 6, 1) + dt.timedelta(days=rnd.randrange(0, 3650))).isoformat()


def person(rnd: random.Random, i: int, kind: str) -> dict:
    r: dict = {"person_id": f"G-{i:04d}"}
    fields = {
        "aufenthaltsstatus": lambda: rnd.choice(STATUSES),
        "unterbringung": lambda: rnd.choice(HOUSING),
        "zugang_bw_datum": lambda: _date(rnd),
        "aufnahme_uab_datum": lambda: _date(rnd),
        "aufenthaltstitel_datum": lambda: rnd.choice([None, _date(rnd)]),
        "asylentscheidung_unanfechtbar_datum": lambda: rnd.choice([None, _date(rnd)]),
        "gu_pflicht_ende_datum": lambda: rnd.choice([None, _date(rnd)]),
        "beratung_beginn_datum": lambda: rnd.choice([None, _date(rnd)]),
        "herkunftsland": lambda: rnd.choice(["SYR", "AFG", "ERI", "IRQ", "SOM", "UKR", "TUR", "NGA"]),
        "familiennachzug": lambda: rnd.random() < 0.2,
        "geboren_nach_zugang": lambda: rnd.random() < 0.1,
        "beratung_verlaengerung_begruendet": lambda: rnd.random() < 0.3,
        "gemeinde": lambda: rnd.choice(["Musterstadt", "Beispielheim", "08117021"]),
        "kreis": lambda: "Landkreis Beispiel",
    }
    for name, make in fields.items():
        if kind == "full" or rnd.random() < 0.6:
            r[name] = make()
    if kind == "dirty":
        for name in rnd.sample(sorted(DIRTY), 2):
            r[name] = rnd.choice(DIRTY[name])
    return r


def post(rnd: random.Random, i: int) -> dict:
    r = {
        "antrag_id": f"GS-{i:04d}",
        "antragsteller_art": rnd.choice(["gemeinde", "gemeindeverbund", "landkreis"]),
        "personen_stichtag_2017": rnd.choice([0, 13, 60, 76, 89, 166, 1024]),
        "stelleninhaber_qualifikation": rnd.choice(["hochschule", "ausbildung", None]),
        "vzae": rnd.choice([0.2, 0.25, 0.5, 0.75, 1, 1.5, 2]),
    }
    return {k: v for k, v in r.items() if v is not None}


def cases() -> list[dict]:
    rnd = random.Random(20261201)
    out = []
    for i in range(520):
        kind = ("full", "partial", "dirty")[i % 3]
        overlays = ["goeppingen"] if i % 5 == 0 else []
        out.append(
            {
                "overlays": overlays,
                "entity": "person",
                "on": rnd.choice(DAYS).isoformat(),
                "record": person(rnd, i, kind),
            }
        )
    for i in range(120):
        day = rnd.choice(
            [
                dt.date(2017, 6, 30),
                dt.date(2017, 7, 1),
                dt.date(2017, 9, 20),
                dt.date(2018, 3, 1),
                dt.date(2019, 8, 28),
                dt.date(2020, 11, 11),
                dt.date(2013, 1, 1),
            ]
        )
        out.append({"overlays": [], "entity": "stelle", "on": day.isoformat(), "record": post(rnd, i)})
    return out


def engines() -> dict[tuple[str, ...], Engine]:
    return {
        (): Engine.load(ROOT / "rules"),
        ("goeppingen",): Engine.load(ROOT / "rules", overlays=[ROOT / "rules" / "overlays" / "goeppingen.yaml"]),
    }


def decide(engine: Engine, case: dict) -> str:
    try:
        return engine.decide(case["record"], case["on"], entity=case["entity"]).to_json()
    except ValueError as exc:  # a date outside the rule set's range is refused, not decided
        return json.dumps({"refused": str(exc)}, ensure_ascii=False)


def main() -> None:
    eng = engines()
    lines = []
    for case in cases():
        lines.append(
            json.dumps(
                {**case, "decision": decide(eng[tuple(case["overlays"])], case)}, ensure_ascii=False, sort_keys=True
            )
        )
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with gzip.GzipFile(HERE / "decisions.jsonl.gz", "wb", mtime=0) as f:
        f.write(data)
    print(f"{len(lines)} decisions, {len(data)} bytes, sha of rules {eng[()].info.sha256[:12]}")


if __name__ == "__main__":
    main()
