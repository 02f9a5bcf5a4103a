"""The block writer's id fields, neutralised and quoted in Arrow, are the fields the Python
functions give one by one."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.io.cells import TRIGGERS, neutralise
from eligibility.io.csv_format import CsvFormat, neutralised_fields

# Texts built from the characters that matter (triggers, what spreadsheets skip, quoting
# specials of every delimiter) and a few others.
ALPHABET = st.sampled_from(sorted(TRIGGERS) + [" ", "\u00a0", "\n", ";", ",", "\t", "|", '"', "\r", "a", "Ä", "1", "'"])
texts = st.one_of(st.none(), st.text(ALPHABET, max_size=6), st.text(max_size=6))


@settings(deadline=None, max_examples=300)
@given(st.lists(texts, max_size=20), st.sampled_from([";", ",", "\t", "|"]), st.sampled_from(["\r\n", "\n"]))
def test_arrow_fields_equal_neutralise_then_quote(values, delimiter, eol):
    fmt = CsvFormat(delimiter, eol)
    want = ["" if v is None else fmt.quote(neutralise(v)) for v in values]
    assert neutralised_fields(pa.array(values, pa.string()), fmt).to_pylist() == want
