"""The five person outcomes hand-coded as plain per-record Python: the floor an engine is
usually compared with. Part of the benchmark only, not of the product: it knows nothing
of unknown facts (records must be fully known), explanations or rule versions beyond
what is written here, and it must be rewritten by a programmer for every amendment."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

NR1 = {
    "gestattung",
    "asylberechtigt",
    "fluechtling",
    "subsidiaer",
    "abschiebungsverbot",
    "duldung",
    "ausreisepflichtig",
    "sonstiger_titel",
}
NR2 = {"schutz_24", "aufnahme_22_23"}
PROTECTION = {"asylberechtigt", "fluechtling", "subsidiaer", "abschiebungsverbot", "schutz_24", "aufnahme_22_23"}
LISTS = [
    (dt.date(2022, 1, 13), {"SYR", "ERI", "SOM", "AFG"}),
    (dt.date(2021, 3, 1), {"SYR", "ERI", "SOM"}),
    (dt.date(2019, 8, 1), {"SYR", "ERI"}),
    (dt.date(2016, 8, 1), {"SYR", "ERI", "IRQ", "IRN", "SOM"}),
    (dt.date(2015, 11, 1), {"SYR", "ERI", "IRQ", "IRN"}),
    (dt.date(1, 1, 1), set()),
]


def _date(s: Any) -> dt.date | None:
    if s is None or s == "":
        return None
    if isinstance(s, dt.date):
        return s
    return dt.date.fromisoformat(s)


def _add_months(d: dt.date, n: int) -> dt.date:
    i = d.year * 12 + d.month - 1 + n
    y, m = divmod(i, 12)
    return dt.date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def decide(r: dict[str, Any], on: dt.date, goeppingen: bool = False) -> dict[str, Any]:
    status = r["aufenthaltsstatus"]
    housing = r["unterbringung"]
    titel = _date(r["aufenthaltstitel_datum"])
    final = _date(r["asylentscheidung_unanfechtbar_datum"])
    gu_end = _date(r["gu_pflicht_ende_datum"])
    intake = _date(r["aufnahme_uab_datum"])
    if status == "eingebuergert":
        return {
            "anschlussunterbringung": False,
            "aub_berechtigt_in_gu": False,
            "integrationsmanagement": False,
            "lastenausgleich": False,
            "prioritaet": False,
        }
    zugang = _date(r["zugang_bw_datum"])
    # Nobody before arriving: not yet in the Land's reception, or not yet taken in by a county.
    not_in_bw = zugang is not None and on < zugang
    not_in_county = not not_in_bw and (housing == "erstaufnahme" or (intake is not None and on < intake))
    nr1 = status in NR1
    aub = (
        not not_in_bw
        and not not_in_county
        and (
            housing in ("anschluss", "privat")
            or status in ("duldung", "ausreisepflichtig")
            or (
                nr1
                and (
                    (gu_end is not None and gu_end <= on)
                    or (final is not None and final <= on)
                    or (titel is not None and titel <= on)
                    or on > _add_months(intake, 24)
                )
            )
            or (status in NR2 and on > _add_months(intake, 6))
        )
    )
    in_gu = aub and housing == "vorlaeufig"
    if on < dt.date(2017, 1, 1) or not_in_bw:
        im = False
    else:
        begin = _date(r["beratung_beginn_datum"])
        capped = False
        if on >= dt.date(2023, 6, 6) and begin is not None:
            years = 4 if r["beratung_verlaengerung_begruendet"] else 3
            capped = on > _add_months(begin, 12 * years) or on > _add_months(begin, 48)
        im = not capped and (
            (aub and housing in ("anschluss", "privat"))
            or (on >= dt.date(2022, 3, 11) and status == "schutz_24")
            or (goeppingen and on >= dt.date(2018, 10, 1) and in_gu)
        )
    if dt.date(2017, 1, 1) <= on <= dt.date(2019, 12, 31) and not not_in_bw and not not_in_county:
        la = housing in ("anschluss", "privat") and (
            dt.date(2015, 1, 1) <= zugang <= dt.date(2016, 2, 29) or r["familiennachzug"] or r["geboren_nach_zugang"]
        )
    else:
        la = False
    prio: str | bool
    if not_in_bw:
        prio = False
    elif status in PROTECTION:
        prio = "hoch"
    elif status == "gestattung":
        countries = next(c for start, c in LISTS if on >= start)
        prio = "hoch" if r["herkunftsland"] in countries else "normal"
    elif status == "sonstiger_titel":
        prio = "normal"
    else:
        prio = "niedrig"
    return {
        "anschlussunterbringung": aub,
        "aub_berechtigt_in_gu": in_gu,
        "integrationsmanagement": im,
        "lastenausgleich": bool(la),
        "prioritaet": prio,
    }
