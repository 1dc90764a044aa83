"""Reading a user's text file: UTF-8 or one line that says where it is not.

A decoder's error offset is relative to the chunk it was decoding (pandas reads in chunks), so a GBK
file used to be reported at "byte 0"; here the whole file is decoded at once and the first bad byte
is named with its line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError


def decode_utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(f"{where}: not UTF-8 text (line {line}, byte {err.start})") from None


def read_utf8(path: Path) -> str:
    """The file's text (a BOM dropped); a missing file or other encoding is a one-line UserError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not a file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None
    return decode_utf8(data, str(path))


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a malformed line is named by its number, not an offset."""
    rows = []
    for number, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise UserError(f"{path}, line {number}: not valid JSON") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}, line {number}: not a JSON object")
        rows.append((number, record))
    if not rows:
        raise UserError(f"{path}: empty file")
    return rows
