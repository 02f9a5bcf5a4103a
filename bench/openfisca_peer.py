"""The five person outcomes as OpenFisca variables with dated parameters, evaluated
vectorised (benchmark peer only). OpenFisca has no null: every input must be given, so an
event that has not happened is encoded explicitly as the date 9999-12-31 and records must be
fully known. Converting the record dicts into input columns is part of the measured time,
as it is for this engine's batch path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from openfisca_core.entities import build_entity
from openfisca_core.parameters import ParameterNode
from openfisca_core.periods import DAY, ETERNITY
from openfisca_core.simulation_builder import SimulationBuilder
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

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
COUNTRIES = ["SYR", "ERI", "IRQ", "IRN", "SOM", "AFG"]
S = {s: i for i, s in enumerate(STATUSES)}
H = {h: i for i, h in enumerate(HOUSING)}
NEVER = np.datetime64("9999-12-31")

Person = build_entity(key="person", plural="persons", label="Person", is_person=True)

PARAMETERS = {
    "vu_frist_asyl": {"values": {"2014-01-01": {"value": 24}}},
    "vu_frist_kontingent": {"values": {"2014-01-01": {"value": 6}}},
    "im_aktiv": {"values": {"2014-01-01": {"value": False}, "2017-01-01": {"value": True}}},
    "ukraine_erlass": {"values": {"2014-01-01": {"value": False}, "2022-03-11": {"value": True}}},
    "beratung_cap": {"values": {"2014-01-01": {"value": False}, "2023-06-06": {"value": True}}},
    "la_aktiv": {
        "values": {"2014-01-01": {"value": False}, "2017-01-01": {"value": True}, "2020-01-01": {"value": False}}
    },
    "bleibe": {
        c: {
            "values": {
                "2014-01-01": {"value": False},
                "2015-11-01": {"value": c in ("SYR", "ERI", "IRQ", "IRN")},
                "2016-08-01": {"value": c in ("SYR", "ERI", "IRQ", "IRN", "SOM")},
                "2019-08-01": {"value": c in ("SYR", "ERI")},
                "2021-03-01": {"value": c in ("SYR", "ERI", "SOM")},
                "2022-01-13": {"value": c in ("SYR", "ERI", "SOM", "AFG")},
            }
        }
        for c in COUNTRIES
    },
}


def _input(name: str, vtype: Any, default: Any) -> type:
    return type(
        name,
        (Variable,),
        {"value_type": vtype, "entity": Person, "definition_period": ETERNITY, "label": name, "default_value": default},
    )


def add_months(days: np.ndarray, n: int) -> np.ndarray:
    never = days >= NEVER
    safe = np.where(never, np.datetime64("2000-01-01"), days)
    start = safe.astype("datetime64[M]")
    dom = (safe - start.astype("datetime64[D]")).astype(np.int64)
    target = start + np.timedelta64(n, "M")
    length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    out = target.astype("datetime64[D]") + np.minimum(dom, length - 1).astype("timedelta64[D]")
    return np.where(never, NEVER, out)


def _day(period: Any) -> np.datetime64:
    return np.datetime64(str(period.start))


class noch_nicht_in_bw(Variable):
    """Nobody before arriving: before a known arrival in the Land every outcome is no
    (an unknown date is NEVER here, which is not a known arrival)."""

    value_type = bool
    entity = Person
    definition_period = DAY
    label = "noch nicht in BW"

    def formula(person, period, parameters):  # noqa: N805
        z = person("zugang_bw_datum", period)
        return (z < NEVER) & (_day(period) < z)


class noch_nicht_im_kreis(Variable):
    """Not yet taken in by a county (still in the Erstaufnahme, or before a known intake):
    the housing-based outcomes are no."""

    value_type = bool
    entity = Person
    definition_period = DAY
    label = "noch nicht im Kreis"

    def formula(person, period, parameters):  # noqa: N805
        intake = person("aufnahme_uab_datum", period)
        waiting = (person("unterbringung", period) == H["erstaufnahme"]) | ((intake < NEVER) & (_day(period) < intake))
        return ~person("noch_nicht_in_bw", period) & waiting


def _arrived(person: Any, period: Any) -> np.ndarray:
    return ~person("noch_nicht_in_bw", period) & ~person("noch_nicht_im_kreis", period)


class anschlussunterbringung(Variable):
    value_type = bool
    entity = Person
    definition_period = DAY
    label = "AUB"

    def formula(person, period, parameters):  # noqa: N805 - OpenFisca's signature
        on = _day(period)
        p = parameters(period)
        st = person("aufenthaltsstatus", period)
        hs = person("unterbringung", period)
        nr1 = np.isin(
            st,
            [
                S[s]
                for s in (
                    "gestattung",
                    "asylberechtigt",
                    "fluechtling",
                    "subsidiaer",
                    "abschiebungsverbot",
                    "duldung",
                    "ausreisepflichtig",
                    "sonstiger_titel",
                )
            ],
        )
        nr2 = np.isin(st, [S["schutz_24"], S["aufnahme_22_23"]])
        intake = person("aufnahme_uab_datum", period)
        events = (
            (person("gu_pflicht_ende_datum", period) <= on)
            | (person("asylentscheidung_unanfechtbar_datum", period) <= on)
            | (person("aufenthaltstitel_datum", period) <= on)
            | (on > add_months(intake, int(p.vu_frist_asyl)))
        )
        aub = (
            np.isin(hs, [H["anschluss"], H["privat"]])
            | np.isin(st, [S["duldung"], S["ausreisepflichtig"]])
            | (nr1 & events)
            | (nr2 & (on > add_months(intake, int(p.vu_frist_kontingent))))
        )
        return aub & (st != S["eingebuergert"]) & _arrived(person, period)


class aub_berechtigt_in_gu(Variable):
    value_type = bool
    entity = Person
    definition_period = DAY
    label = "AUB in GU"

    def formula(person, period, parameters):  # noqa: N805
        return person("anschlussunterbringung", period) & (person("unterbringung", period) == H["vorlaeufig"])


class integrationsmanagement(Variable):
    value_type = bool
    entity = Person
    definition_period = DAY
    label = "IM"

    def formula(person, period, parameters):  # noqa: N805
        on = _day(period)
        p = parameters(period)
        st = person("aufenthaltsstatus", period)
        hs = person("unterbringung", period)
        begin = person("beratung_beginn_datum", period)
        extended = person("beratung_verlaengerung_begruendet", period)
        capped = (
            bool(p.beratung_cap)
            & (begin < NEVER)
            & ((on > add_months(begin, 48)) | (~extended & (on > add_months(begin, 36))))
        )
        member = (person("anschlussunterbringung", period) & np.isin(hs, [H["anschluss"], H["privat"]])) | (
            bool(p.ukraine_erlass) & (st == S["schutz_24"])
        )
        return bool(p.im_aktiv) & member & ~capped & (st != S["eingebuergert"]) & ~person("noch_nicht_in_bw", period)


class lastenausgleich(Variable):
    value_type = bool
    entity = Person
    definition_period = DAY
    label = "§ 29d"

    def formula(person, period, parameters):  # noqa: N805
        p = parameters(period)
        st = person("aufenthaltsstatus", period)
        hs = person("unterbringung", period)
        z = person("zugang_bw_datum", period)
        window = (z >= np.datetime64("2015-01-01")) & (z <= np.datetime64("2016-02-29"))
        key = np.isin(hs, [H["anschluss"], H["privat"]]) & (
            window | person("familiennachzug", period) | person("geboren_nach_zugang", period)
        )
        return bool(p.la_aktiv) & key & (st != S["eingebuergert"]) & _arrived(person, period)


class prioritaet(Variable):
    value_type = int  # 0 keine (eingebürgert), 1 niedrig, 2 normal, 3 hoch
    entity = Person
    definition_period = DAY
    label = "Priorität"

    def formula(person, period, parameters):  # noqa: N805
        p = parameters(period)
        st = person("aufenthaltsstatus", period)
        country = person("herkunftsland", period)
        good = np.zeros(len(st), dtype=bool)
        for i, c in enumerate(COUNTRIES):
            if bool(p.bleibe[c]):
                good |= country == i
        protection = np.isin(
            st,
            [
                S[s]
                for s in (
                    "asylberechtigt",
                    "fluechtling",
                    "subsidiaer",
                    "abschiebungsverbot",
                    "schutz_24",
                    "aufnahme_22_23",
                )
            ],
        )
        return np.select(
            [
                (st == S["eingebuergert"]) | person("noch_nicht_in_bw", period),
                protection,
                (st == S["gestattung"]) & good,
                np.isin(st, [S["gestattung"], S["sonstiger_titel"]]),
            ],
            [0, 3, 3, 2],
            default=1,
        )


INPUTS = {
    "aufenthaltsstatus": (int, 0),
    "unterbringung": (int, 0),
    "herkunftsland": (int, -1),
    "aufenthaltstitel_datum": ("date", NEVER),
    "asylentscheidung_unanfechtbar_datum": ("date", NEVER),
    "gu_pflicht_ende_datum": ("date", NEVER),
    "aufnahme_uab_datum": ("date", NEVER),
    "zugang_bw_datum": ("date", NEVER),
    "beratung_beginn_datum": ("date", NEVER),
    "familiennachzug": (bool, False),
    "geboren_nach_zugang": (bool, False),
    "beratung_verlaengerung_begruendet": (bool, False),
}
PRIO = {0: False, 1: "niedrig", 2: "normal", 3: "hoch"}
OUTCOMES = ["anschlussunterbringung", "aub_berechtigt_in_gu", "integrationsmanagement", "lastenausgleich", "prioritaet"]


def system() -> TaxBenefitSystem:
    tbs = TaxBenefitSystem([Person])
    for name, (vtype, default) in INPUTS.items():
        tbs.add_variable(
            _input(name, dt.date if vtype == "date" else vtype, dt.date(9999, 12, 31) if vtype == "date" else default)
        )
    for var in (
        noch_nicht_in_bw,
        noch_nicht_im_kreis,
        anschlussunterbringung,
        aub_berechtigt_in_gu,
        integrationsmanagement,
        lastenausgleich,
        prioritaet,
    ):
        tbs.add_variable(var)
    tbs.parameters = ParameterNode("", data=PARAMETERS)
    return tbs


def columns(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Record dicts → OpenFisca input arrays, with "has not happened" encoded explicitly."""
    cc = {c: i for i, c in enumerate(COUNTRIES)}
    out: dict[str, np.ndarray] = {}
    out["aufenthaltsstatus"] = np.array([S[r["aufenthaltsstatus"]] for r in records], dtype=np.int32)
    out["unterbringung"] = np.array([H[r["unterbringung"]] for r in records], dtype=np.int32)
    out["herkunftsland"] = np.array([cc.get(r["herkunftsland"], -1) for r in records], dtype=np.int32)
    for name, (vtype, _) in INPUTS.items():
        if vtype == "date":
            out[name] = np.array([r[name] or "9999-12-31" for r in records], dtype="datetime64[D]")
        elif vtype is bool:
            out[name] = np.array([bool(r[name]) for r in records], dtype=bool)
    return out


class OpenFiscaPeer:
    def __init__(self) -> None:
        self.tbs = system()

    def decide_many(self, records: list[dict[str, Any]], on: dt.date) -> list[dict[str, Any]]:
        sim = SimulationBuilder().build_default_simulation(self.tbs, len(records))
        for name, values in columns(records).items():
            sim.set_input(name, "eternity", values)
        day = on.isoformat()
        results = {o: sim.calculate(o, day) for o in OUTCOMES}
        prio = [PRIO[int(x)] for x in results["prioritaet"]]
        bools = {o: results[o].tolist() for o in OUTCOMES if o != "prioritaet"}
        return [dict({o: bools[o][i] for o in bools}, prioritaet=prio[i]) for i in range(len(records))]


def columns_from_arrow(table: Any) -> dict[str, np.ndarray]:
    """A typed Arrow table (strings, date32, bool) → OpenFisca input arrays, in C: the
    same input this engine's batch path gets in the "table" measurement."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, np.ndarray] = {}
    for name, values in (("aufenthaltsstatus", STATUSES), ("unterbringung", HOUSING), ("herkunftsland", COUNTRIES)):
        codes = pc.index_in(table.column(name), value_set=pa.array(values))
        out[name] = pc.fill_null(codes, -1).to_numpy().astype(np.int32)
    never = pa.scalar(dt.date(9999, 12, 31), pa.date32())
    for name, (vtype, _) in INPUTS.items():
        if vtype == "date":
            out[name] = pc.fill_null(table.column(name), never).to_numpy().astype("datetime64[D]")
        elif vtype is bool:
            out[name] = pc.fill_null(table.column(name), False).to_numpy()
    return out


def decide_table(tbs: TaxBenefitSystem, table: Any, on: dt.date) -> dict[str, np.ndarray]:
    """Outcome columns for a typed Arrow table (no per-row dicts: a table in, a table out)."""
    sim = SimulationBuilder().build_default_simulation(tbs, table.num_rows)
    for name, values in columns_from_arrow(table).items():
        sim.set_input(name, "eternity", values)
    day = on.isoformat()
    results = {o: sim.calculate(o, day) for o in OUTCOMES}
    labels = np.array([PRIO[i] for i in range(4)], dtype=object)
    results["prioritaet"] = labels[results["prioritaet"]]
    return results
