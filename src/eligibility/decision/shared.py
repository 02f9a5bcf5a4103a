"""Parts of decision data that are shared between decisions, made read-only.

The generated explainers keep the tree of a subtree that depends only on the facts it reads
and the reference date, and put the same object into every decision that has those facts
(design §36). Such a tree is in other people's decisions too, so an edit in place must fail
loudly instead of changing them: these are a dict and a list for every reader (json, pydantic,
templates, `==`) that refuse every change. `copy.deepcopy` and pickling give plain, editable
dicts and lists."""

from __future__ import annotations

import copy
from typing import Any, NoReturn

_WHY = "this part of an explanation is shared with other decisions: copy.deepcopy() the decision to edit it"


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(_WHY)


class SharedTree(dict[str, Any]):
    """A read-only explanation node (see the module's doc)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


class SharedList(list[Any]):
    """A read-only list inside a shared explanation node (its children)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


def share(data: Any) -> Any:
    """`data` (JSON-ready: dicts, lists, scalars) with every dict and list made read-only."""
    if isinstance(data, dict) and not isinstance(data, SharedTree):
        return SharedTree({k: share(v) for k, v in data.items()})
    if isinstance(data, list) and not isinstance(data, SharedList):
        return SharedList(share(v) for v in data)
    return data
