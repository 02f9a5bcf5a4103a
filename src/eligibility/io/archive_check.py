"""A spreadsheet archive checked before any reader opens it (issue 15).

XLSX, XLSM, XLSB and ODS files are ZIP archives of XML parts. A reader trusts what they
declare: a 1.6 KB XLSX whose dimension says `A1:XFD1048576` made calamine allocate until the
service froze, a 1 MB XLSX with a 1 GB shared string took it to 3.7 GB, an empty or non-ZIP
file and an XML part with a DTD ended in a traceback. `check_archive` looks at the archive
itself, with bounded work (the ZIP directory, and the first bytes of XML parts, decompressed
as a stream) and refuses with a clear message (German, and English in `.en`) before a reader
sees the file. It depends on no reader, so every reader (calamine today, a streaming reader
tomorrow) calls the same check.

What is refused: an empty file, a file that is no ZIP archive (an old binary `.xls` is let
through: it is no archive and its reader has no XML), a broken ZIP directory, more entries
than `max_entries`, more uncompressed bytes in all than `max_total_bytes`, one entry that
decompresses more than `max_ratio` times its compressed size beyond a small floor (a ZIP
bomb), a shared-string table larger than `max_shared_strings_bytes`, a worksheet whose
declared dimension holds more than `max_cells` cells or whose cell references reach that far
(the reader would allocate a dense range up to the last cell), and a `<!DOCTYPE` in any XML part
(OOXML and ODF never need one; it is the door to entity expansion and external entities)."""

from __future__ import annotations

import dataclasses
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

# The OLE2 compound file signature: a binary .xls (Excel 97-2003), which is no ZIP.
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_XML_SUFFIXES = (".xml", ".rels", ".vml")
# A DTD can only stand in the prolog, before the root element; this much prolog is more
# than any real file has (an XML declaration and maybe a comment).
_PROLOG_BYTES = 64 * 1024
# Excel writes <dimension> right after <sheetPr>; it lies in the first few hundred bytes.
_DIMENSION_SCAN_BYTES = 64 * 1024
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s[^>]*?ref\s*=\s*[\"']([A-Za-z0-9:$]+)[\"']")
_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384


@dataclasses.dataclass(frozen=True)
class ArchiveLimits:
    """The bounds of `check_archive`. The defaults admit any real roster (a million rows of
    fifty columns) and refuse what only a crafted file declares."""

    max_entries: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    max_ratio: int = 200
    ratio_floor_bytes: int = 16 * 1024**2
    max_shared_strings_bytes: int = 512 * 1024**2
    max_cells: int = 60_000_000
    # Whether every cell reference of a sheet is scanned for its extent: needed before a reader
    # that allocates the dense range up to the last used cell (calamine), not before one that
    # streams (io/xlsx_reader), where it would cost a second inflation of the sheet.
    scan_extent: bool = True


DEFAULT_LIMITS = ArchiveLimits()


class ArchiveRefused(ValueError):
    """A spreadsheet that is not read, and why: str() is German, `.en` English."""

    def __init__(self, code: str, de: str, en: str) -> None:
        super().__init__(de)
        self.code = code
        self.de = de
        self.en = en


def check_archive(path: str | Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
    """Raise ArchiveRefused unless the spreadsheet at `path` is safe to hand to a reader."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ArchiveRefused(
            "unreadable",
            f"Tabellendatei nicht lesbar ({exc.strerror or type(exc).__name__})",
            f"spreadsheet cannot be read ({exc.strerror or type(exc).__name__})",
        ) from None
    if not head:
        raise ArchiveRefused("empty", "Tabellendatei ist leer (0 Bytes)", "spreadsheet file is empty (0 bytes)")
    if head == _OLE2:
        return  # binary .xls: no archive, no XML
    if not head.startswith(b"PK"):
        raise ArchiveRefused(
            "not_zip",
            "keine gültige Tabellendatei: .xlsx und .ods sind ZIP-Archive, diese Datei ist keines "
            "(umbenannte CSV-Datei? dann als .csv speichern)",
            "not a valid spreadsheet: .xlsx and .ods are ZIP archives and this file is none "
            "(a renamed CSV file? then save it as .csv)",
        )
    try:
        with zipfile.ZipFile(p) as zf:
            _check_entries(zf, limits)
    except zipfile.BadZipFile:
        raise ArchiveRefused(
            "bad_zip",
            "Tabellendatei ist beschädigt (ZIP-Verzeichnis nicht lesbar; unvollständig übertragen?)",
            "spreadsheet file is damaged (its ZIP directory cannot be read; transferred incompletely?)",
        ) from None
    except (OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: an encrypted entry; NotImplementedError: an unknown compression.
        raise ArchiveRefused(
            "bad_zip",
            f"Tabellendatei ist beschädigt oder verschlüsselt ({type(exc).__name__})",
            f"spreadsheet file is damaged or encrypted ({type(exc).__name__})",
        ) from None


def _check_entries(zf: zipfile.ZipFile, limits: ArchiveLimits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise ArchiveRefused(
            "entries",
            f"Tabellendatei hat {len(infos)} Teile im Archiv (höchstens {limits.max_entries})",
            f"spreadsheet archive has {len(infos)} entries (at most {limits.max_entries})",
        )
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise ArchiveRefused(
            "size",
            f"Tabellendatei ist entpackt {_mib(total)} groß (höchstens {_mib(limits.max_total_bytes)})",
            f"spreadsheet unpacks to {_mib(total)} (at most {_mib(limits.max_total_bytes)})",
        )
    for info in infos:
        name = info.filename
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ArchiveRefused(
                "ratio",
                f"Tabellendatei: Teil „{name}“ entpackt sich auf das {info.file_size // max(info.compress_size, 1)}-Fache "
                "(ZIP-Bombe?)",
                f"spreadsheet: entry '{name}' unpacks to {info.file_size // max(info.compress_size, 1)} times its size "
                "(a ZIP bomb?)",
            )
        lower = name.lower()
        if lower.endswith("sharedstrings.xml") and info.file_size > limits.max_shared_strings_bytes:
            raise ArchiveRefused(
                "shared_strings",
                f"Tabellendatei: Texttabelle ({name}) ist {_mib(info.file_size)} groß "
                f"(höchstens {_mib(limits.max_shared_strings_bytes)})",
                f"spreadsheet: its shared-string table ({name}) is {_mib(info.file_size)} "
                f"(at most {_mib(limits.max_shared_strings_bytes)})",
            )
        if not lower.endswith(_XML_SUFFIXES) or info.is_dir():
            continue
        start = _read_start(zf, info, max(_PROLOG_BYTES, _DIMENSION_SCAN_BYTES))
        if _has_doctype(start):
            raise ArchiveRefused(
                "doctype",
                f"Tabellendatei: Teil „{name}“ enthält eine DTD (<!DOCTYPE>); solche Dateien werden nicht gelesen",
                f"spreadsheet: entry '{name}' holds a DTD (<!DOCTYPE>); such files are not read",
            )
        if "worksheets/" in lower:
            _check_dimension(name, start, limits)
            if limits.scan_extent:
                _check_extent(zf, info, limits)
        elif lower == "content.xml":  # OpenDocument (.ods)
            _check_ods_extent(zf, info, limits)


def _read_start(zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int) -> bytes:
    """The first `n` decompressed bytes of an entry (streamed: a bomb is never unpacked)."""
    with zf.open(info) as fh:
        return fh.read(n)


def _has_doctype(start: bytes) -> bool:
    """A DTD in the prolog. Parts may be UTF-16 (with a BOM, or `<` as 3C 00); anything
    that is neither is read as UTF-8, the only other encoding XML parts use."""
    if start.startswith((b"\xff\xfe", b"<\x00")):
        text = start.decode("utf-16-le", errors="ignore")
    elif start.startswith((b"\xfe\xff", b"\x00<")):
        text = start.decode("utf-16-be", errors="ignore")
    else:
        text = start.decode("utf-8", errors="ignore")
    return "<!doctype" in text[:_PROLOG_BYTES].lower() or "<!entity" in text[:_PROLOG_BYTES].lower()


def _check_dimension(name: str, start: bytes, limits: ArchiveLimits) -> None:
    m = _DIMENSION.search(start)
    if not m:
        return  # no declaration: nothing claimed, nothing to refuse
    ref = m.group(1).decode("ascii")
    cells = dimension_cells(ref)
    if cells is None:
        raise ArchiveRefused(
            "dimension",
            f"Tabellendatei: Blatt „{name}“ gibt einen unmöglichen Bereich an ({ref})",
            f"spreadsheet: sheet '{name}' declares an impossible range ({ref})",
        )
    if cells > limits.max_cells:
        raise ArchiveRefused(
            "dimension",
            f"Tabellendatei: Blatt „{name}“ gibt {cells:,} Zellen an ({ref}; höchstens {limits.max_cells:,})".replace(
                ",", "."
            ),
            f"spreadsheet: sheet '{name}' declares {cells:,} cells ({ref}; at most {limits.max_cells:,})",
        )


# Cell and row references: ` r="XFD1048576"` (a cell) or ` r="1048576"` (a row). Tabs and
# line breaks before the attribute are turned into spaces first (one C-level translate), so
# every pattern starts with a literal and the regex engine skips ahead fast.
_SPACES = bytes.maketrans(b"\t\n\r", b"   ")
_COLUMNS = {n: re.compile(rb' r="([A-Za-z]{%d})[0-9]' % n) for n in (1, 2, 3)}
_ROW_NUMBERS = re.compile(rb' r="[A-Za-z]{0,3}([0-9]{1,7})"')
_SCAN_CHUNK = 4 * 1024 * 1024


def _chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The decompressed part in chunks, each starting with the previous chunk's last bytes
    (so a reference split at a chunk border is whole in one of them)."""
    tail = b""
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(_SCAN_CHUNK)
            if not chunk:
                return
            text = (tail + chunk).translate(_SPACES)
            yield text
            tail = text[-64:]


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ch - 64)
    return n


def _check_extent(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    """The cells a reader would allocate: calamine holds a sheet as one dense range up to
    its last used row and column, so two cells at A1 and XFD1048576 (a 5 KB file) ask for
    17 billion cells whatever the dimension says. A first pass only asks whether any column
    reference has two or three letters (literal searches, no match lists): a sheet within
    columns A-Z cannot exceed 26 x 1,048,576 cells, under the default limit, so a typical
    roster costs one pass. Otherwise a second pass computes the exact last column and row."""
    letters = 0
    for text in _chunks(zf, info):
        for n in range(3, max(letters, 1), -1):
            if _COLUMNS[n].search(text):
                letters = n
                break
        if letters == 3:
            break
    if {0: 26, 2: 702, 3: EXCEL_MAX_COLUMNS}[letters] * EXCEL_MAX_ROWS <= limits.max_cells:
        return
    max_col = max_row = 0
    for text in _chunks(zf, info):
        for n in (3, 2, 1):
            found = _COLUMNS[n].findall(text)
            if found:
                max_col = max(max_col, max(map(_column_number, set(found))))
                break
        rows = _ROW_NUMBERS.findall(text)
        if rows:
            max_row = max(max_row, max(map(int, set(rows))))
    cols = max(max_col, 1)
    cells = cols * max_row if max_row <= EXCEL_MAX_ROWS and cols <= EXCEL_MAX_COLUMNS else None
    if cells is not None and cells <= limits.max_cells:
        return
    raise extent_refused(info.filename, cols, max_row, cells, limits)


def extent_refused(
    sheet: str, cols: int, max_row: int, cells: int | None, limits: ArchiveLimits = DEFAULT_LIMITS
) -> ArchiveRefused:
    """The refusal of a sheet whose cell references reach past the cell limit (also raised by
    the streaming reader, which finds the extent while it reads)."""
    col_letters = ""
    c = cols
    while c:
        c, rem = divmod(c - 1, 26)
        col_letters = chr(65 + rem) + col_letters
    ref = f"{col_letters}{max_row}"
    shown = f"{cells:,}".replace(",", ".") if cells is not None else "?"
    return ArchiveRefused(
        "extent",
        f"Tabellendatei: Blatt „{sheet}“ reicht bis Zelle {ref} ({shown} Zellen; "
        + f"höchstens {limits.max_cells:,})".replace(",", "."),
        f"spreadsheet: sheet '{sheet}' reaches cell {ref} ({cells or '?'} cells; at most {limits.max_cells:,})",
    )


_ODS_TOKEN = re.compile(
    rb"<table:table-row\b([^>]*?)(/?)>|</table:table-row>"
    rb"|<table:(?:covered-)?table-cell\b([^>]*?)/?>|<table:table\b[^>]*>|</table:table>"
)
_ROWS_REPEATED = re.compile(rb'table:number-rows-repeated\s*=\s*"(\d{1,12})"')
_COLUMNS_REPEATED = re.compile(rb'table:number-columns-repeated\s*=\s*"(\d{1,12})"')


def ods_extent(chunks: Iterator[bytes]) -> int:
    """The largest dense range of any table in an ODS `content.xml` (decompressed chunks):
    rows up to the last row with a value times columns up to the last cell with a value, the
    repeat attributes multiplied out. calamine allocates that range, so an 840-byte file that
    repeats one cell 95,000 x 1,000 times asked for 2 GB and aborted the process. Repeated
    empty cells and rows (LibreOffice writes them up to the sheet's end) do not count."""
    worst = row = rows_rep = col = row_end = max_row = max_col = 0
    valued = False
    tail = b""
    for chunk in chunks:
        data = tail + chunk
        cut = data.rfind(b"<")
        if cut == -1 or data.find(b">", cut) != -1:
            cut = len(data)
        tail = data[cut:]
        for m in _ODS_TOKEN.finditer(data, 0, cut):
            tok = m.group(0)
            if tok.startswith(b"<table:table-row"):
                r = _ROWS_REPEATED.search(m.group(1) or b"")
                rows_rep = int(r.group(1)) if r else 1
                col = row_end = 0
                valued = False
                if m.group(2):  # an empty row, closed at once
                    row += rows_rep
            elif tok == b"</table:table-row>":
                if valued:
                    max_row = row + rows_rep
                    max_col = max(max_col, row_end)
                row += rows_rep
            elif tok.startswith((b"<table:table-cell", b"<table:covered-table-cell")):
                attrs = m.group(3) or b""
                c = _COLUMNS_REPEATED.search(attrs)
                col += int(c.group(1)) if c else 1
                if b"office:value-type" in attrs:
                    valued = True
                    row_end = col
            elif tok == b"</table:table>":
                worst = max(worst, max_row * max_col)
            else:  # a table begins
                row = max_row = max_col = 0
    return worst


def _check_ods_extent(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    cells = ods_extent(_chunks(zf, info))
    if cells > limits.max_cells:
        shown = f"{cells:,}".replace(",", ".")
        raise ArchiveRefused(
            "extent",
            f"Tabellendatei: eine Tabelle in „{info.filename}“ reicht über {shown} Zellen "
            f"(wiederholte Zeilen und Spalten; höchstens {limits.max_cells:,})".replace(",", "."),
            f"spreadsheet: a table in '{info.filename}' spans {cells:,} cells "
            f"(repeated rows and columns; at most {limits.max_cells:,})",
        )


def dimension_cells(ref: str) -> int | None:
    """Cells in an A1-style range such as `A1:P1500` (or one cell `A1`); None for a range
    outside Excel's grid or not in that form."""
    parts = ref.split(":")
    if len(parts) > 2:
        return None
    corners = []
    for part in parts:
        m = _CELL.match(part)
        if not m:
            return None
        col = 0
        for ch in m.group(1).upper():
            col = col * 26 + (ord(ch) - 64)
        row = int(m.group(2))
        if not (1 <= row <= EXCEL_MAX_ROWS and 1 <= col <= EXCEL_MAX_COLUMNS):
            return None
        corners.append((row, col))
    (r1, c1), (r2, c2) = corners[0], corners[-1]
    return (abs(r2 - r1) + 1) * (abs(c2 - c1) + 1)


def _mib(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB" if n >= 1024**2 else f"{n} Bytes"
