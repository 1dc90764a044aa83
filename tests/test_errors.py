"""Signals end a stage the one documented way, wherever they land."""

import signal
import types

from sentibench.core import errors


def test_a_sigterm_dropped_inside_a_finaliser_is_raised_again(monkeypatch):
    """Python drops an exception raised inside a __del__ ("Exception ignored"): a SIGTERM that lands there is
    raised again at the next safe point instead, so it still ends the stage, and no traceback is printed."""
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        errors._unraisable(types.SimpleNamespace(exc_value=errors.Terminated()))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]
