"""Metric values as flat, comparable rows and the tables that show them (plain text or Markdown).

Shared by compare, aggregate, history, levers and the checks, so that every command prints numbers
the same way and decides the same way what counts as a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def is_number(value: Any) -> bool:
    """A metric value that can be subtracted: ints and floats, but not booleans (which are ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {'reference': {'accuracy': 1}} -> {'reference.accuracy': 1}."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def format_value(value: Any) -> str:
    """A metric value for a table cell: 6 significant digits, long strings (hashes) shortened."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 16 else text[:12] + "..."


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """A plain-text table aligned in columns, or a GitHub Markdown table (strings are kept whole)."""
    cells = [[c if isinstance(c, str) else format_value(c) for c in row] for row in rows]
    if fmt == "md":
        escape = lambda c: c.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
