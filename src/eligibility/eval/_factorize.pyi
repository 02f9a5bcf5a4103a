from typing import Any

def factorize(
    records: list[Any],
    factor_names: tuple[str, ...],
    text_names: tuple[str, ...],
    missing: object,
) -> list[tuple[list[Any], bytes] | tuple[list[Any], list[int]] | None] | None: ...
