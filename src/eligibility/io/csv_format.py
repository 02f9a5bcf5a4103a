"""How a CSV field is quoted, written once for the row writer and the block writer.

`csv.writer`'s QUOTE_MINIMAL changed in Python 3.13: before, a bare CR was left unquoted when
the line terminator is "\\n", and readers split the record there (the "lone CR merges two
records" problem of issue 13, seen from the other side). Our output must be byte-identical on
every supported Python, so the rule is ours: a field is quoted when it holds the delimiter, a
quote, a CR or a LF — which is what Python 3.13's writer does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eligibility.io.cells import DANGEROUS_RE2, PREFIX, re2_class


class CsvFormat:
    """Quoting and line building for one delimiter and line terminator."""

    def __init__(self, delimiter: str, lineterminator: str) -> None:
        self.delimiter = delimiter
        self.lineterminator = lineterminator
        self.specials = frozenset({delimiter, '"', "\r", "\n"})

    def quote(self, text: str) -> str:
        """One field, quoted when it must be (doubling inner quotes)."""
        if any(c in text for c in self.specials):
            return '"' + text.replace('"', '""') + '"'
        return text

    def line(self, fields: Iterable[object]) -> str:
        """A whole record with its line terminator; None is an empty field."""
        return self.delimiter.join(self.quote("" if f is None else str(f)) for f in fields) + self.lineterminator


def neutralised_fields(texts: Any, fmt: CsvFormat) -> Any:
    """A column of input texts (an Arrow string array, nulls for empty cells) as CSV fields,
    in Arrow's C++ kernels: `cells.neutralise` (an apostrophe before a formula trigger), then
    `CsvFormat.quote`; a null becomes the empty field. The same fields as the Python
    functions give one by one (tested)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pc.fill_null(texts, "")
    texts = pc.if_else(
        pc.match_substring_regex(texts, DANGEROUS_RE2), pc.binary_join_element_wise(PREFIX, texts, ""), texts
    )
    special = pc.match_substring_regex(texts, re2_class(fmt.specials))
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(texts, '"', '""'), '"', "")
    return pc.if_else(special, quoted, texts).cast(pa.string())
