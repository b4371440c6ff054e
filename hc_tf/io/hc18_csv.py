"""The one reader of HC18-style CSVs: filename, pixel size (mm)[, head circumference (mm)].

HC18 ships `training_set_pixel_size_and_HC.csv` (filename, pixel size, HC) and
`test_set_pixel_size.csv` (filename, pixel size), with a header row and CRLF line
endings; `hc-tf predict --pixel-csv` takes the same shape, extra columns allowed (named in
the header: a row with more fields than its header is refused, a decimal comma being likely).
Every reader of these files (evaluate, predict, the TFDS builder, the scripts and
benchmarks) goes through `read_hc18_csv`, so a bad file gets the same message
everywhere: the file, the row (the header is row 1) and the file name in it. Pixel
sizes go through `hc_tf.measure.check_pixel_size`. TF-free, standard library only
(besides the validator); the builder passes an `epath` reader for other filesystems.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import math
import os
import re
from typing import Callable, Dict, List, Optional, Tuple

from hc_tf.io import file_names
from hc_tf.measure.pixel_size import check_pixel_size

TRAINING_CSV = "training_set_pixel_size_and_HC.csv"
TEST_CSV = "test_set_pixel_size.csv"
# The numbers a CSV cell may hold: plain decimal, an optional exponent, spaces around. float()
# takes more: "0.1_5" (read as 0.15), "nan", "infinity", non-ASCII digits ("٠.١").
PLAIN_NUMBER = re.compile(r"[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t]*")
NOT_PLAIN = "is not a number (a plain decimal one: digits, one '.', an optional exponent such as e-3)"


def plain_number(text: str) -> Optional[float]:
    """`text` as a float when it is a PLAIN_NUMBER, else None."""
    return float(text) if PLAIN_NUMBER.fullmatch(text) else None


@dataclasses.dataclass(frozen=True)
class Hc18Row:
    """One valid data row.

    Attributes:
      row: its row number in the file (the header is row 1), for messages.
      filename: the image's file name, stripped.
      pixel_size_mm: the checked pixel size.
      hc_mm: the checked head circumference (only when read `with_hc`), else None.
      fields: the row's raw fields, for extra columns (e.g. predict's `ga_weeks`).
    """

    row: int
    filename: str
    pixel_size_mm: float
    hc_mm: Optional[float]
    fields: Tuple[str, ...]


@dataclasses.dataclass
class Hc18Csv:
    """A read HC18-style CSV.

    Attributes:
      source: the path as given (messages name it).
      header: the header row's fields, stripped.
      rows: the valid data rows, in file order, each file name once.
      problems: (file name, message) of every invalid row; empty unless read
        with `skip_invalid` (otherwise the first problem raises).
    """

    source: str
    header: Tuple[str, ...]
    rows: List[Hc18Row]
    problems: List[Tuple[str, str]] = dataclasses.field(default_factory=list)

    def column(self, name: str) -> Optional[int]:
        """Index of the header column `name` (case-insensitive), or None."""
        names = [h.lower() for h in self.header]
        return names.index(name.lower()) if name.lower() in names else None

    def pixel_sizes(self) -> Dict[str, float]:
        """filename -> pixel size (mm)."""
        return {r.filename: r.pixel_size_mm for r in self.rows}


def _read_file_bytes(path: str) -> bytes:
    # Bounded as every untrusted input (regular files only, the byte limit): `/dev/zero` as
    # a CSV once read until MemoryError.
    from hc_tf.io import images  # OpenCV, Pillow: lazily
    return images.read_file_bytes(path)


def decode_rows(data: bytes, source: str) -> List[List[str]]:
    """All rows of a UTF-8 CSV (BOM, CRLF or LF), header included.

    Args:
      data: the file's bytes.
      source: the file's name, for messages.

    Returns:
      The rows as lists of fields.

    Raises:
      ValueError: "<source>: not a UTF-8 text CSV (...)" for bytes that are not
        UTF-8 text (a NUL byte included: some binaries decode as UTF-8),
        "<source>: not a readable CSV (...)", or "<source>: its fields are separated by ';'
        ..." for a header of one field holding ';' or tabs.
    """
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValueError(f"{source}: not a UTF-8 text CSV (NUL byte at offset {nul})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{source}: not a UTF-8 text CSV (undecodable byte at offset "
                         f"{err.start})") from None
    try:
        # splitlines(): CRLF or LF; csv still joins a quoted field's line breaks.
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as err:
        raise ValueError(f"{source}: not a readable CSV ({err})") from None
    _check_separator(source, rows)
    return rows


def _check_separator(source: str, rows: List[List[str]]) -> None:
    """Refuses a header that is one field holding ';' or tabs: a spreadsheet saved in a locale
    whose list separator is not ',' (whose decimal point is then often ','), which read with
    commas fails on a later row for a reason that does not name the cause."""
    header = rows[0] if rows else []
    if len(header) == 1:
        separator = next((word for char, word in ((";", "';'"), ("\t", "tabs")) if char in header[0]),
                         None)
        if separator:
            raise ValueError(f"{source}: its fields are separated by {separator}, not commas (a "
                             "spreadsheet's export in another locale?): save it as CSV with ',' "
                             "between fields and '.' as the decimal point")


# Above any fetal head's, generously: HC18's are 44-346 mm, an adult's head is ~570 mm. (No
# lower bound but 0: the builder's dummy data has tiny synthetic heads.)
MAX_REFERENCE_HC_MM = 600.0


def parse_row(source: str, row_number: int, fields: List[str], with_hc: bool,
              allow_implausible: bool = False) -> Hc18Row:
    """Checks one data row.

    Args:
      source: the file's name, for messages.
      row_number: the row's number in the file (the header is row 1).
      fields: its fields.
      with_hc: whether the third field is a head circumference to read.
      allow_implausible: accept pixel sizes outside `measure.PLAUSIBLE_PIXEL_SIZE_MM`.

    Returns:
      The row.

    Raises:
      ValueError: "<source> row N (<filename>): ..." for a missing field, a bad or
        implausible pixel size, or an HC that is not a finite positive number or is over
        MAX_REFERENCE_HC_MM.
    """
    name = fields[0].strip()
    where = f"{source} row {row_number} ({name})"
    wanted = ("filename", "pixel size", "HC") if with_hc else ("filename", "pixel size")
    if len(fields) < len(wanted):
        raise ValueError(f"{where}: expected {', '.join(wanted)}; got {len(fields)} field(s)")
    if plain_number(fields[1]) is None:
        raise ValueError(f"{where}: pixel size {fields[1]!r} {NOT_PLAIN}")
    pixel = check_pixel_size(fields[1], f"{where}: pixel size", allow_implausible)
    hc = None
    if with_hc:
        hc = plain_number(fields[2])
        if hc is None:
            raise ValueError(f"{where}: HC {fields[2]!r} {NOT_PLAIN}")
        if not (math.isfinite(hc) and hc > 0):
            raise ValueError(f"{where}: HC {fields[2]!r} is not a finite positive number of mm")
        if hc > MAX_REFERENCE_HC_MM:  # 1e308 overflowed the ADF: NaN, Infinity in summary.json
            raise ValueError(f"{where}: reference HC {fields[2]} mm is over "
                             f"{MAX_REFERENCE_HC_MM:g} mm, no fetal head's (a value in another "
                             "unit, or a damaged file?)")
    return Hc18Row(row_number, name, pixel, hc, tuple(fields))


def check_field_count(source: str, row_number: int, name: str, fields: List[str],
                      header_fields: int) -> None:
    """Refuses a row with more fields than its header: a decimal comma (`011_HC.png,1,15`)
    splits a number in two, and the first half read as the whole gave a wrong number silently.
    Empty fields past the header's (a trailing ',') hold nothing to misread and are allowed.

    Raises:
      ValueError: "<source> row N (<filename>): K fields, but the header has M; ...".
    """
    if len(fields) > header_fields and any(f.strip() for f in fields[header_fields:]):
        raise ValueError(f"{source} row {row_number} ({name}): {len(fields)} fields, "
                         f"but the header has {header_fields}; a decimal comma? the CSV takes "
                         "',' between fields and '.' as the decimal point")


def _is_number(text: str) -> bool:
    return plain_number(text) is not None


def check_unique_columns(source: str, header: List[str]) -> None:
    """Refuses a header naming one column twice (case and spaces aside, as columns are looked
    up): which of the two a reader would take can't be guessed. Unnamed columns may repeat.

    Raises:
      ValueError: "<source>: the header names column 'exam' twice (columns 3 and 4); ...".
    """
    where = collections.defaultdict(list)
    for i, name in enumerate(header, start=1):
        if name.strip():
            where[name.strip().lower()].append(i)
    for columns in where.values():
        if len(columns) > 1:
            name, numbers = header[columns[0] - 1].strip(), [str(c) for c in columns]
            raise ValueError(f"{source}: the header names column {name!r} {len(columns)} times "
                             f"(columns {', '.join(numbers[:-1])} and {numbers[-1]}); which to "
                             "read can't be guessed: rename or remove all but one")


def _check_header(source: str, fields: List[str]) -> None:
    """Refuses a first row that is data (its pixel size a number, or its first field an image
    file): taken as the header, that image would be silently dropped.

    Raises:
      ValueError: "<source> row 1 (<name>): looks like data, not a header; ...".
    """
    name = fields[0].strip() if fields else ""
    if (len(fields) > 1 and _is_number(fields[1].strip())) or name.lower().endswith(file_names.KNOWN_EXTENSIONS):
        raise ValueError(f"{source} row 1 ({name}): looks like data, not a header; the first row "
                         f"must be a header (filename, pixel size[, HC])")


def read_hc18_csv(path: str, with_hc: bool = False, allow_implausible: bool = False,
                  skip_invalid: bool = False,
                  read_bytes: Optional[Callable[[str], bytes]] = None) -> Hc18Csv:
    """Reads an HC18-style CSV: a header row, then filename, pixel size (mm)[, HC (mm)].

    Blank rows and rows with an empty first field are skipped. A file name listed
    twice is an error: which row is right can't be guessed.

    Args:
      path: the CSV.
      with_hc: read the third column as the reference head circumference (mm).
      allow_implausible: accept pixel sizes outside `measure.PLAUSIBLE_PIXEL_SIZE_MM`.
      skip_invalid: collect invalid rows in `problems` (a name listed twice drops
        all its rows) instead of raising on the first.
      read_bytes: reads the file (default: the local filesystem), e.g. `epath`'s.

    Returns:
      The `Hc18Csv`.

    Raises:
      ValueError: naming the file for one that is not UTF-8 text CSV, whose first row is
        data, not a header, or whose header names a column twice (always), and,
        unless `skip_invalid`, naming the file, row and file name for a bad row (more
        fields than the header, a bad pixel size or HC) or a name listed twice.
      OSError: when the file cannot be read.
    """
    source = os.fspath(path)
    all_rows = decode_rows((read_bytes or _read_file_bytes)(source), source)
    if all_rows:
        _check_header(source, all_rows[0])
        check_unique_columns(source, all_rows[0])
    header = tuple(h.strip() for h in all_rows[0]) if all_rows else ()
    rows: List[Hc18Row] = []
    problems: List[Tuple[str, str]] = []
    first_row: Dict[str, int] = {}
    duplicated = set()
    for number, fields in enumerate(all_rows[1:], start=2):
        if not fields or not fields[0].strip():
            continue
        name = fields[0].strip()
        try:
            if name in first_row:
                duplicated.add(name)
                raise ValueError(f"{source} rows {first_row[name]} and {number}: "
                                 f"{name} is listed twice")
            first_row[name] = number
            check_field_count(source, number, name, fields, len(header))
            rows.append(parse_row(source, number, fields, with_hc, allow_implausible))
        except ValueError as err:
            if not skip_invalid:
                raise
            problems.append((name, str(err)))
    rows = [r for r in rows if r.filename not in duplicated]
    return Hc18Csv(source, header, rows, problems)


__all__ = ["TRAINING_CSV", "TEST_CSV", "Hc18Row", "Hc18Csv", "check_field_count",
           "check_unique_columns", "decode_rows", "parse_row", "plain_number", "read_hc18_csv"]
