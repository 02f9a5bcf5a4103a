from collections.abc import Callable
from typing import Any

def scan_rows(
    text: str,
    number: int,
    memo: dict[str, Any],
    convert: Callable[[str], Any],
    shared: list[str],
    max_rows: int,
    max_columns: int,
) -> list[tuple[int, list[Any]]] | None: ...
def scan_shared(data: bytes) -> list[str] | None: ...
