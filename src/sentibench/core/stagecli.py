"""The command line every stage shares, so that each stage's `main` is only its own work.

`--params` and one option per path the stage reads or writes, each defaulting to the path core/contract.py
names (dvc.yaml runs the stages with none; tests and users point them elsewhere); the params loaded and
validated; every output checked writable before any work starts, so a read-only folder fails in one line
before minutes of training instead of after them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from sentibench.core.atomic import check_writable
from sentibench.core.contract import PARAMS
from sentibench.core.params import Params, load_params

PathOption = Path | tuple[Path, str]  # a default, or a default and the option's help


def stage_command(
    doc: str,
    argv: Sequence[str] | None,
    paths: dict[str, PathOption],
    writes: Callable[[argparse.Namespace], Iterable[Path]],
) -> tuple[Params, argparse.Namespace]:
    """Parse the stage's options (the first line of `doc` is its description), load the params, check that
    every path `writes` names can be written; return the params and the parsed options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--params", type=Path, default=PARAMS)
    for option, default in paths.items():
        value, help_text = default if isinstance(default, tuple) else (default, None)
        parser.add_argument(option, type=Path, default=value, help=help_text)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    check_writable(*writes(args))
    return params, args
