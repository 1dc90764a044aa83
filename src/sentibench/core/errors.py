"""One error type for every expected failure, and the wrapper that turns it into one line.

Stages raise `UserError` for anything a user can fix (a params key, a path, a row); the
CLI wrapper prints it as a single line and exits non-zero, so bad input never shows a
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


class UserError(Exception):
    """A problem with the user's input, reported as one line naming the key, path or row."""


EXIT_USER_ERROR = 2


def run_cli(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Run a stage entry point, mapping `UserError` to a one-line message and exit code 2."""
    try:
        main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except PermissionError as err:  # an output folder or file the user cannot write: their fix, not a bug
        print(f"error: {err.filename or err}: permission denied", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
