"""The optional C reader of the batch path's row dicts (`_factorize.c`, built at install when a
compiler is there): per fact the distinct cells and each row's code, read from the dicts once.
The Python path of `columnar_input.Columns` is the reference; `factorize` is None where the
extension did not build or ELIGIBILITY_NATIVE=0 is set (tests set it to None to compare)."""

from __future__ import annotations

from types import ModuleType

from eligibility.io.xlsx_native import REQUIRE, SWITCH
from eligibility.io.xlsx_native import load as _load

__all__ = ["REQUIRE", "SWITCH", "factorize", "load"]


def load() -> ModuleType | None:
    """The extension module, or None if it is switched off or was not built."""
    return _load("eligibility.eval._factorize")


factorize: ModuleType | None = load()
