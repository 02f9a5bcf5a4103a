"""Safe YAML loading that remembers where every value stood.

Rule files are data: only the plain YAML tags are accepted (no `!!python/...`, no
custom tags), duplicate keys are errors (PyYAML would silently keep the last one), and
every value's position is kept so that later checks can say `file:line:col`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
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

# Limits on what one rule file may cost to read. The shipped rule files are below 40 KB,
# 12 levels deep and use a few aliases of notes; these bounds are far above that and far
# below what exhausts a machine (issue 15: a 520-byte file of nested aliases took 7.4 GB).
# The shipped rules use aliases only to repeat a note ({de: ..., en: ...}) a few times.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 1000
# Values (scalars, mappings, lists) per file, and values all aliases together expand to:
# each costs about 1 KB once composed and converted with its position, and pure-Python
# scanning is slow (a 2 MB file of 160 000 one-line keys took 350 MB and a minute).
# The largest shipped file has about 700.
MAX_VALUES = 50_000
MAX_ALIAS_VALUES = 50_000

_FILE_HINT = "a rule file is a regular text file; split a large one into several files"


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


class _LimitError(yaml.MarkedYAMLError):
    """A composer limit, raised before the composer recurses or copies."""

    def __init__(self, code: str, message: str, hint: str, mark: yaml.Mark) -> None:
        super().__init__(problem=message, problem_mark=mark)
        self.line = mark.line + 1
        self.column = mark.column + 1
        self.code = code
        self.message = message
        self.hint = hint


class _Loader(yaml.SafeLoader):
    """PyYAML's composer recurses once per nesting level, and an alias stands for its
    whole anchored subtree, which the conversion then copies: nine aliases of nine
    aliases of ... expand 500 bytes into gigabytes. Both are bounded here, while
    composing, before the recursion or the copy happens: the nesting depth, the number
    of aliases, the number of values all aliases together expand to, and the number of
    values in the file."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._expanded = 0
        self._values = 0
        # (values, levels) of every composed node, by id: the anchors keep the nodes alive.
        self._shape: dict[int, tuple[int, int]] = {}

    def _next_mark(self) -> yaml.Mark:
        return self.peek_event().start_mark  # type: ignore[no-untyped-call,no-any-return]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None:
                size, height = self._shape.get(id(target), (1, 1))
                self._aliases += 1
                self._expanded += size
                if self._aliases > MAX_ALIASES or self._expanded > MAX_ALIAS_VALUES:
                    raise _LimitError(
                        "E031",
                        f"aliases expand to more than {MAX_ALIAS_VALUES} values"
                        if self._expanded > MAX_ALIAS_VALUES
                        else f"more than {MAX_ALIASES} aliases in one file",
                        "aliases (*name) are meant for a few repeated notes; write the values out",
                        event.start_mark,
                    )
                if self._depth + height > MAX_DEPTH:
                    raise _LimitError(
                        "E032",
                        f"nesting deeper than {MAX_DEPTH} levels (with what alias '*{event.anchor}' stands for)",
                        "rule files need about a dozen levels; flatten the structure",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        self._values += 1
        if self._values > MAX_VALUES:
            raise _LimitError(
                "E029",
                f"file with more than {MAX_VALUES} values",
                _FILE_HINT,
                self._next_mark(),
            )
        if self._depth >= MAX_DEPTH:
            raise _LimitError(
                "E032",
                f"nesting deeper than {MAX_DEPTH} levels",
                "rule files need about a dozen levels; flatten the structure",
                self._next_mark(),
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            kids = []
        shapes = [self._shape.get(id(k), (1, 1)) for k in kids]
        self._shape[id(node)] = (1 + sum(s for s, _ in shapes), 1 + max((h for _, h in shapes), default=0))
        return node


def read_rule_file(path: str | Path, shown: str) -> tuple[bytes | None, list[Diagnostic]]:
    """The bytes of a rule file, read only if it is a regular file of at most
    MAX_FILE_BYTES. Opened without blocking and checked on the open descriptor: a FIFO
    named *.yaml never blocks, /dev/zero is never read, and a file swapped between the
    check and the read cannot slip through."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        return None, [_not_regular(shown, "a directory")]
    except OSError as exc:
        return None, [Diagnostic("E001", f"cannot read file: {exc.strerror}", shown)]
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(st.st_mode)
                else "a pipe (FIFO)"
                if stat.S_ISFIFO(st.st_mode)
                else "a device"
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "not a regular file"
            )
            return None, [_not_regular(shown, kind)]
        if st.st_size > MAX_FILE_BYTES:
            with os.fdopen(os.dup(fd), "rb") as f:
                first = f.readline(200).decode("utf-8", errors="replace").rstrip("\r\n")
            return None, [_too_large(shown, st.st_size, first)]
        chunks: list[bytes] = []
        size = 0
        # Read at most one byte past the limit: a file that grows after fstat is caught too.
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        raw = b"".join(chunks)
        if size > MAX_FILE_BYTES:
            first = raw[:200].split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
            return None, [_too_large(shown, size, first)]
        return raw, []
    except OSError as exc:
        return None, [Diagnostic("E001", f"cannot read file: {exc.strerror}", shown)]
    finally:
        os.close(fd)


def _not_regular(shown: str, kind: str) -> Diagnostic:
    return Diagnostic(
        "E030",
        f"this is {kind}, not a regular file; only regular files are read as rule files",
        shown,
        1,
        0,
        "remove it from the rule set folder, or pass the path of a regular .yaml file",
    )


def _too_large(shown: str, size: int, first_line: str) -> Diagnostic:
    return Diagnostic(
        "E029",
        f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB ({size} bytes; at most {MAX_FILE_BYTES} are read)",
        shown,
        1,
        1,
        _FILE_HINT,
        first_line,
    )


def load_yaml(
    path: str | Path, display_path: str | None = None, raw: bytes | None = None
) -> tuple[LoadedFile | None, list[Diagnostic]]:
    """Load one YAML file (or its bytes `raw`, already read with read_rule_file).
    Returns the data with positions, or diagnostics."""
    shown = display_path or str(path)
    if raw is None:
        raw, read_diags = read_rule_file(path, shown)
        if raw is None:
            return None, read_diags
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Diagnostic("E001", "file is not UTF-8", shown, 1, 1, "save the file as UTF-8")]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except _LimitError as exc:
        return None, [
            Diagnostic(exc.code, exc.message, shown, exc.line, exc.column, exc.hint, read_source_line(path, exc.line))
        ]
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
    data = _convert(node, (), positions, diags, shown, str(path), constructor)
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
            out[key] = _convert(vnode, path + (key,), positions, diags, shown, real, constructor, knode)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, path + (i,), positions, diags, shown, real, constructor) for i, item in enumerate(node.value)
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
