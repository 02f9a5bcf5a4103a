"""Hypothesis strategies for person records over the shipped facts schema."""

import datetime as dt

from hypothesis import strategies as st

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
COUNTRIES = ["SYR", "AFG", "ERI", "IRQ", "IRN", "SOM", "UKR", "TUR", "GMB", "NGA"]
EVENT_DATES = [
    "aufenthaltstitel_datum",
    "asylentscheidung_unanfechtbar_datum",
    "gu_pflicht_ende_datum",
    "beratung_beginn_datum",
]

# Dates cluster around the law's boundary days so that the properties meet them.
BOUNDARIES = [
    dt.date(2014, 1, 1),
    dt.date(2015, 1, 1),
    dt.date(2015, 11, 1),
    dt.date(2016, 2, 29),
    dt.date(2016, 3, 15),
    dt.date(2016, 8, 1),
    dt.date(2017, 1, 1),
    dt.date(2018, 10, 1),
    dt.date(2019, 8, 1),
    dt.date(2021, 3, 1),
    dt.date(2022, 1, 13),
    dt.date(2022, 3, 11),
    dt.date(2023, 6, 6),
]

any_date = st.dates(min_value=dt.date(2014, 1, 1), max_value=dt.date(2026, 12, 31))
near_boundary = st.builds(
    lambda d, k: max(dt.date(2014, 1, 1), d + dt.timedelta(days=k)), st.sampled_from(BOUNDARIES), st.integers(-3, 3)
)
dates = st.one_of(any_date, near_boundary)
reference_dates = st.one_of(st.dates(min_value=dt.date(2014, 1, 1), max_value=dt.date(2026, 12, 31)), near_boundary)


def iso(d: dt.date) -> str:
    return d.isoformat()


FIELDS = {
    "aufenthaltsstatus": st.sampled_from(STATUSES),
    "aufenthaltstitel_datum": st.one_of(st.none(), dates.map(iso)),
    "aufnahme_uab_datum": dates.map(iso),
    "zugang_bw_datum": dates.map(iso),
    "asylentscheidung_unanfechtbar_datum": st.one_of(st.none(), dates.map(iso)),
    "gu_pflicht_ende_datum": st.one_of(st.none(), dates.map(iso)),
    "unterbringung": st.sampled_from(HOUSING),
    "gemeinde": st.sampled_from(["Musterstadt", "Beispielheim", "08115003"]),
    "kreis": st.just("Landkreis Beispiel"),
    "herkunftsland": st.sampled_from(COUNTRIES),
    "familiennachzug": st.booleans(),
    "geboren_nach_zugang": st.booleans(),
    "beratung_beginn_datum": st.one_of(st.none(), dates.map(iso)),
    "beratung_verlaengerung_begruendet": st.booleans(),
}


@st.composite
def person_records(draw: st.DrawFn, complete: bool = False) -> dict:
    """A record; with complete=True every field is present (a fully known record)."""
    record = {"person_id": f"P-{draw(st.integers(0, 10**6)):07d}"}
    for name, strategy in FIELDS.items():
        if complete or draw(st.booleans()) or draw(st.booleans()):
            record[name] = draw(strategy)
    return record


def fully_known(record: dict) -> bool:
    return all(k in record for k in FIELDS)
