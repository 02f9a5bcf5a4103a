"""Safe YAML loading that remembers where every value stood.

Rule files are data: only the plain YAML tags are accepted (no `!!python/...`, no
custom tags), duplicate keys are errors (PyYAML would silently keep the last one), and
every value's position is kept so that later checks can say `file:line:col`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from eligibility.diagnostics import Diagnostic, read_source_line

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}

Path_ = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based
    # Offset of the scalar's text inside the line: quoted scalars start one later.
    text_column: int
    key_line: int = 0


@dataclasses.dataclass
class LoadedFile:
    path: str
    data: Any
    positions: dict[Path_, Position]

    def position(self, path: Path_) -> Position | None:
        """Position of the value at `path`, or of the nearest enclosing value."""
        p = tuple(path)
        while True:
            if p in self.positions:
                return self.positions[p]
            if not p:
                return None
            p = p[:-1]

    def diagnostic(
        self, code: str, message: str, path: Path_ = (), hint: str = "", key: bool = False, column_offset: int = 0
    ) -> Diagnostic:
        pos = self.position(path)
        line = col = 0
        if pos is not None:
            line = pos.key_line if key and pos.key_line else pos.line
            col = (pos.text_column + column_offset) if column_offset else pos.column
            if key and pos.key_line:
                col = 0
        src = read_source_line(self.path, line) if line else ""
        if key and src:
            col = len(src) - len(src.lstrip()) + 1
        return Diagnostic(code, message, self.path, line, col, hint, src)


class _Loader(yaml.SafeLoader):
    pass


def load_yaml(path: str | Path, display_path: str | None = None) -> tuple[LoadedFile | None, list[Diagnostic]]:
    """Load one YAML file. Returns the data with positions, or diagnostics."""
    shown = display_path or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Diagnostic("E001", "file is not UTF-8", shown, 1, 1, "save the file as UTF-8")]
    except OSError as exc:
        return None, [Diagnostic("E001", f"cannot read file: {exc.strerror}", shown)]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        msg = (exc.problem or exc.context or "YAML syntax error").strip()
        return None, [
            Diagnostic(
                "E001",
                f"YAML syntax error: {msg}",
                shown,
                line,
                col,
                "check indentation and quoting; values with ':' or '#' need quotes",
                read_source_line(path, line),
            )
        ]
    finally:
        loader.dispose()
    diags: list[Diagnostic] = []
    positions: dict[Path_, Position] = {}
    if node is None:
        return LoadedFile(shown, None, positions), diags
    constructor = yaml.SafeLoader("")
    data = _convert(node, (), positions, diags, shown, str(path), constructor, 0)
    return LoadedFile(shown, data, positions), diags


def _pos(node: yaml.Node, key_node: yaml.Node | None = None) -> Position:
    m = node.start_mark
    offset = 1 if getattr(node, "style", None) in ("'", '"') else 0
    return Position(
        m.line + 1, m.column + 1, m.column + 1 + offset, key_node.start_mark.line + 1 if key_node is not None else 0
    )


def _convert(
    node: yaml.Node,
    path: Path_,
    positions: dict[Path_, Position],
    diags: list[Diagnostic],
    shown: str,
    real: str,
    constructor: yaml.SafeLoader,
    depth: int,
    key_node: yaml.Node | None = None,
) -> Any:
    positions[path] = _pos(node, key_node)
    line = node.start_mark.line + 1
    col = node.start_mark.column + 1
    if node.tag not in _ALLOWED_TAGS:
        diags.append(
            Diagnostic(
                "E002",
                f"YAML tag '{node.tag}' is not allowed in rule files",
                shown,
                line,
                col,
                "rule files are data: remove the tag and write the value as plain YAML",
                read_source_line(real, line),
            )
        )
        return None
    if depth > 64:
        diags.append(Diagnostic("E001", "nesting too deep", shown, line, col))
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for knode, vnode in node.value:
            if knode.tag not in _ALLOWED_TAGS or not isinstance(knode, yaml.ScalarNode):
                diags.append(
                    Diagnostic(
                        "E002",
                        "mapping keys must be plain scalars",
                        shown,
                        knode.start_mark.line + 1,
                        knode.start_mark.column + 1,
                        "",
                        read_source_line(real, knode.start_mark.line + 1),
                    )
                )
                continue
            key = _scalar(knode, constructor, diags, shown, real)
            if isinstance(key, (dt.date, float)) or key is None:
                key = knode.value
            if key in seen:
                kl = knode.start_mark.line + 1
                diags.append(
                    Diagnostic(
                        "E003",
                        f"duplicate key '{key}' (first at line {seen[key]})",
                        shown,
                        kl,
                        knode.start_mark.column + 1,
                        "remove or rename one of them",
                        read_source_line(real, kl),
                    )
                )
                continue
            seen[key] = knode.start_mark.line + 1
            out[key] = _convert(vnode, path + (key,), positions, diags, shown, real, constructor, depth + 1, knode)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, path + (i,), positions, diags, shown, real, constructor, depth + 1)
            for i, item in enumerate(node.value)
        ]
    assert isinstance(node, yaml.ScalarNode)  # the composer builds mapping, sequence and scalar nodes only
    return _scalar(node, constructor, diags, shown, real)


def _scalar(node: yaml.ScalarNode, constructor: yaml.SafeLoader, diags: list[Diagnostic], shown: str, real: str) -> Any:
    try:
        value = constructor.construct_object(node, deep=True)
    except (ValueError, yaml.constructor.ConstructorError, OverflowError):
        line = node.start_mark.line + 1
        if node.tag == "tag:yaml.org,2002:timestamp":
            diags.append(
                Diagnostic(
                    "E007",
                    f"'{node.value}' is not a real date",
                    shown,
                    line,
                    node.start_mark.column + 1,
                    "write dates as YYYY-MM-DD and check the day exists (e.g. 2016-02-29 but not 2017-02-29)",
                    read_source_line(real, line),
                )
            )
        else:
            diags.append(
                Diagnostic(
                    "E006",
                    f"cannot read value '{node.value}'",
                    shown,
                    line,
                    node.start_mark.column + 1,
                    "",
                    read_source_line(real, line),
                )
            )
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value
