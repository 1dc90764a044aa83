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


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    """`sentibench ledger | head -1`: the pipe closes under the table; no traceback, SIGPIPE's exit status."""
    import subprocess
    import sys

    from conftest import REPO

    code = "import sys; from sentibench.core.errors import run_cli\n"
    code += "def main(argv):\n    for i in range(100000):\n        print('row', i)\n"
    code += "sys.exit(run_cli(main))\n"
    shell = f'PYTHONPATH={REPO / "src"} {sys.executable} -c "{code}" | head -1'
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, check=False)
    assert done.stdout == "row 0\n" and "Traceback" not in done.stderr
    assert done.returncode == 128 + signal.SIGPIPE
