"""Rule traces built when they are read.

A kept `Decision` with its explanation trees took ~120 KB of memory (issue 14): most of it is
the trees, which most callers never read. `Engine.decide` therefore keeps the values, rules,
missing facts and reasons, and gives each outcome a `LazyTrace`: a list that, on its first
read, asks the decision's `Explanation` to re-decide the record once with the explanation and
fills every outcome's trace from it. The re-decision is the same evaluation on the same
record, date and compiled rules, so the JSON is byte-identical to deciding with the
explanation at once (the golden corpus checks it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, SupportsIndex


class Explanation:
    """The deferred explanation of one decision: called once, it fills all its traces. Reads
    from several threads wait for the one fill; a fill that fails leaves the decision able to
    try again (and raise again), never silently empty."""

    def __init__(self, make: Callable[[], dict[str, Any]], build: Callable[[list[Any]], list[Any]]) -> None:
        self._make: Callable[[], dict[str, Any]] | None = make
        self._build = build
        self._lock = threading.Lock()
        self.traces: dict[str, LazyTrace] = {}

    def fill(self) -> None:
        with self._lock:
            make = self._make
            if make is None:
                return
            outcomes = make()["outcomes"]
            built = {oid: self._build(outcomes[oid]["trace"]) for oid in self.traces}
            for oid, trace in self.traces.items():
                list.extend(trace, built[oid])
                trace._source = None
            self._make = None  # the record is released once every trace is filled


class LazyTrace(list[Any]):
    """A list of `RuleTrace`s that is filled on its first read. Every reading method fills
    first; after that it is an ordinary list."""

    __slots__ = ("_source",)

    def __init__(self, source: Explanation, outcome: str) -> None:
        super().__init__()
        self._source: Explanation | None = source
        source.traces[outcome] = self

    def fill(self) -> None:
        if self._source is not None:
            self._source.fill()

    def __len__(self) -> int:
        self.fill()
        return super().__len__()

    def __iter__(self) -> Iterator[Any]:
        self.fill()
        return super().__iter__()

    def __reversed__(self) -> Iterator[Any]:
        self.fill()
        return super().__reversed__()

    def __getitem__(self, index: Any) -> Any:
        self.fill()
        return super().__getitem__(index)

    def __contains__(self, item: object) -> bool:
        self.fill()
        return super().__contains__(item)

    def __bool__(self) -> bool:
        self.fill()
        return super().__len__() > 0

    def __eq__(self, other: object) -> bool:
        self.fill()
        if isinstance(other, LazyTrace):
            other.fill()
        return list(super().__iter__()) == other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None

    def __repr__(self) -> str:
        self.fill()
        return super().__repr__()

    def __add__(self, other: Any) -> Any:
        self.fill()
        return list(super().__iter__()) + list(other)

    def __radd__(self, other: Any) -> Any:
        self.fill()
        return list(other) + list(super().__iter__())

    def __mul__(self, n: SupportsIndex) -> Any:
        self.fill()
        return list(super().__iter__()) * n

    __rmul__ = __mul__

    def index(self, value: Any, start: SupportsIndex = 0, stop: SupportsIndex = 2**63 - 1) -> int:
        self.fill()
        return super().index(value, start, stop)

    def count(self, value: Any) -> int:
        self.fill()
        return super().count(value)

    def copy(self) -> list[Any]:
        self.fill()
        return list(super().__iter__())

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        # Pickled and copied as the plain list it stands for.
        self.fill()
        return (list, (list(super().__iter__()),))
