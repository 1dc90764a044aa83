"""`tolerances.yaml`: which way each metric is better and how much change still counts as "same".

Read by compare, history and the PR report. Every problem in the file is one line naming the metric
and the key; nothing is guessed: a tolerance without a direction (from a sweep's spread) can only say
"changed", never "better" or "worse".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sentibench.core.errors import UserError
from sentibench.core.tables import is_number

DEFAULT_TOLERANCES = Path("tolerances.yaml")
KEYS = ("direction", "abs", "rel", "timing")


@dataclass(frozen=True)
class Tolerance:
    """How one metric is judged; `direction` None means the direction is unknown (only "changed" is said)."""

    direction: Literal["higher", "lower"] | None
    abs: float | None = None
    rel: float | None = None
    timing: bool = False

    def allowed(self, reference: float) -> float:
        return self.abs if self.abs is not None else (self.rel or 0.0) * abs(reference)

    def shown(self) -> str:
        return f"±{self.abs:g}" if self.abs is not None else f"±{self.rel:.0%}"


def parse_tolerance(name: str, spec: object, path: Path) -> Tolerance:
    where = f"{path}: {name}"
    if not isinstance(spec, dict):
        raise UserError(f"{where}: must be a mapping such as {{direction: higher, abs: 0.005}}")
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise UserError(f"{where}: unknown keys {unknown} (known: {', '.join(KEYS)})")
    if spec.get("direction") not in ("higher", "lower"):
        raise UserError(f"{where}.direction: must be higher or lower; got {spec.get('direction')!r}")
    if ("abs" in spec) == ("rel" in spec):
        raise UserError(f"{where}: give exactly one of abs or rel")
    key = "abs" if "abs" in spec else "rel"
    if not is_number(spec[key]) or spec[key] < 0:
        raise UserError(f"{where}.{key}: must be a number >= 0; got {spec[key]!r}")
    if not isinstance(spec.get("timing", False), bool):
        raise UserError(f"{where}.timing: must be true or false; got {spec['timing']!r}")
    return Tolerance(direction=spec["direction"], timing=spec.get("timing", False), **{key: float(spec[key])})


def load_tolerances(path: Path) -> dict[str, Tolerance]:
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: tolerance file not found") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise UserError(f"{path}: not valid YAML{f' (line {mark.line + 1})' if mark else ''}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: must map metric names to tolerances; got a {type(raw).__name__}")
    return {str(name): parse_tolerance(str(name), spec, path) for name, spec in raw.items()}


def unknown_metrics(tolerances: dict[str, Tolerance], known: set[str]) -> list[str]:
    """Tolerances for metrics neither side has: a typo, or a metric newer than both runs (so a warning,
    not an error: adding a tolerance must not stop comparisons of older commits)."""
    return sorted(set(tolerances) - known)
