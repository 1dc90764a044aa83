"""Named profiles: overlays in `profiles/NAME.yaml` applied to params.yaml, not copies of code.

Applying one rewrites params.yaml in place (comments kept), after validating the result, so the
profile is then an ordinary parameter change: `dvc repro`, `dvc exp run` and `dvc params diff`
see exactly what it changed.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from sentibench.core.atomic import atomic_path
from sentibench.core.contract import PARAMS
from sentibench.core.errors import UserError, run_cli
from sentibench.core.params import parse_params

PROFILES_DIR = Path("profiles")


def _overlay(target: Any, overlay: dict[str, Any], prefix: str = "") -> None:
    """Set the profile's values in place, so that comments and layout around them survive."""
    for key, value in overlay.items():
        where = f"{prefix}{key}"
        if key not in target:
            raise UserError(f"profile sets unknown params key '{where}'")
        if isinstance(value, dict) and key == "config":  # an architecture is replaced whole, not merged
            for old in [k for k in target[key] if k not in value]:
                del target[key][old]
            target[key].update(value)
        elif isinstance(value, dict):
            _overlay(target[key], value, f"{where}.")
        else:
            target[key] = value


def apply_profile(name: str, params_path: Path = PARAMS, profiles_dir: Path = PROFILES_DIR) -> str:
    """Return params.yaml's text with the profile applied; raises on an unknown profile or key."""
    profile_path = profiles_dir / f"{name}.yaml"
    if not profile_path.is_file():
        known = ", ".join(sorted(p.stem for p in profiles_dir.glob("*.yaml"))) or "none"
        raise UserError(f"{profile_path}: no such profile (known: {known})")
    overlay = YAML(typ="safe", pure=True).load(profile_path.read_text(encoding="utf-8")) or {}
    return overlay_params(params_path, overlay)


def overlay_params(params_path: Path, overlay: dict[str, Any]) -> str:
    """Return the params file's text with `overlay`'s values set (comments kept), validated like any params."""
    yaml = YAML()
    yaml.representer.add_representer(type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    params = yaml.load(params_path.read_text(encoding="utf-8"))
    _overlay(params, overlay)
    parse_params(YAML(typ="safe", pure=True).load(_dump(yaml, params)))
    return _dump(yaml, params)


def _dump(yaml: YAML, data: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Apply a named profile (profiles/NAME.yaml) to params.yaml.")
    parser.add_argument("name")
    parser.add_argument("--params", type=Path, default=PARAMS)
    args = parser.parse_args(argv)
    text = apply_profile(args.name, args.params)
    with atomic_path(args.params) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"profile: applied {args.name} to {args.params}; run `dvc repro` or `dvc exp run -n {args.name}`")


if __name__ == "__main__":
    sys.exit(run_cli(main))
