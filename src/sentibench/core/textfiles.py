"""Reading a user's text file: UTF-8 or one line that says where it is not.

A decoder's error offset is relative to the chunk it was decoding (pandas reads in chunks), so a GBK
file used to be reported at "byte 0"; here the whole file is decoded at once and the first bad byte
is named with its line.
"""

from __future__ import annotations

from pathlib import Path

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
