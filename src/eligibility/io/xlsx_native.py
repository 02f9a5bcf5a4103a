"""The optional C scanner of the .xlsx reader (`_xlsxscan.c`, built at install when a compiler
is there): it reads a piece of sheet XML in the simple form that `xlsx_sheet._simple_rows`
accepts and returns the same rows, or None for the Python path. The Python reader is the
reference; `scanner` is None where the extension did not build or ELIGIBILITY_NATIVE=0 is set
(a test sets it to None to run the workbook tests on the Python path alone)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

SWITCH = "ELIGIBILITY_NATIVE"  # "0": the Python path only
REQUIRE = "ELIGIBILITY_REQUIRE_NATIVE"  # "1" (scripts/test): a test fails if the extension is missing


def load(module: str = "eligibility.io._xlsxscan") -> ModuleType | None:
    """An optional extension module (this reader's, or another stage's: `eval.native`), or
    None if the extensions are switched off or it was not built."""
    if os.environ.get(SWITCH) == "0":
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


scanner: ModuleType | None = load()
