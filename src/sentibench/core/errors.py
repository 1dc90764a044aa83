"""One error type for every expected failure, and the wrapper that turns it into one line.

Stages raise `UserError` for anything a user can fix (a params key, a path, a row); the
CLI wrapper prints it as a single line and exits non-zero, so bad input never shows a
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class UserError(Exception):
    """A problem with the user's input, reported as one line naming the key, path or row."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI cancel, `kill`), raised like Ctrl-C so that every `finally` removes its temporaries."""


_in_unraisable_hook = False
RESEND_AFTER_S = 0.01


def _terminate(signum: int, frame: object) -> None:
    if _in_unraisable_hook:  # raised here it would be printed and dropped once more
        _send_sigterm_soon()
        return
    raise Terminated


def _send_sigterm_soon() -> None:
    """SIGTERM to the main thread from another thread, a moment later: by then the hook has returned. (Raising it
    from the hook itself runs the handler inside the hook, whose exception Python prints with a traceback.)"""
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(RESEND_AFTER_S, signal.pthread_kill, (main, signal.SIGTERM))
    timer.daemon = True
    timer.start()


def _unraisable(hook: Any) -> None:
    """A Terminated raised inside a __del__ or a callback, where Python prints and drops it ("Exception ignored"):
    sent again, so SIGTERM always ends the stage, and without a traceback."""
    global _in_unraisable_hook
    if isinstance(hook.exc_value, Terminated):
        _in_unraisable_hook = True
        try:
            _send_sigterm_soon()
        finally:
            _in_unraisable_hook = False
        return
    sys.__unraisablehook__(hook)


EXIT_USER_ERROR = 2
FULL_BELOW = 1 << 20  # bytes free: below this a failed write is taken as a full disk


def free_space(path: Path) -> int:
    """Bytes free on the filesystem holding `path` (or its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


# torch.save's stream writer names no errno: on a full disk it says only that a write failed.
TORCH_WRITE_FAILED = ("file write failed", "unexpected pos")


def is_disk_full(err: BaseException, where: Path) -> bool:
    """Whether a failed write ran out of space, as each writer reports it: OSError ENOSPC or EDQUOT (Python,
    pyarrow), "os error 28" in safetensors' message, and torch.save's failed write while (nearly) no space is
    left where it wrote. Any other error, full disk or not, keeps its own message and traceback."""
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    message = str(err)
    if "No space left on device" in message or "os error 28" in message:
        return True
    return any(text in message for text in TORCH_WRITE_FAILED) and free_space(where) < FULL_BELOW


def disk_full(target: Path, left: str = "nothing was written") -> UserError:
    """The one line for a write that ran out of space: the output, the free space, and what was left behind."""
    free = free_space(target)
    return UserError(f"{target}: the disk is full ({free / 1e6:.1f} MB free there); {left}: free some space and rerun")


def run_cli(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Run a stage entry point, mapping `UserError` to a one-line message and exit code 2."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        sys.unraisablehook = _unraisable
    try:
        main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except PermissionError as err:  # an output folder or file the user cannot write: their fix, not a bug
        print(f"error: {err.filename or err}: permission denied", file=sys.stderr)
        return EXIT_USER_ERROR
    except Terminated:
        print("error: terminated (SIGTERM); nothing half-written is left", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:  # the reader left (`| head`): end quietly, as a program killed by SIGPIPE does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a write outside the atomic helpers (a Trainer checkpoint) on a full disk
        where = Path(getattr(err, "filename", None) or ".")
        if not is_disk_full(err, where):
            raise
        print(f"error: {disk_full(where, 'what was written of it may be left there')}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
