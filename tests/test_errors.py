"""Signals end a stage the one documented way, wherever they land."""

import os
import signal
import subprocess
import sys

from conftest import REPO


def test_a_sigterm_dropped_inside_a_finaliser_still_ends_the_stage_without_a_traceback():
    """Python drops an exception raised inside a __del__ ("Exception ignored"): a SIGTERM that lands there is
    sent again once the finaliser is done, so it still ends the stage the documented way (exit 143, one line).
    The signal here is sent from inside the __del__, where its handler runs at once."""
    code = "import os, signal, sys, time\nfrom sentibench.core.errors import run_cli\n"
    code += "class Finalised:\n    def __del__(self):\n        os.kill(os.getpid(), signal.SIGTERM)\n"
    code += "def main(argv):\n    Finalised()\n    deadline = time.monotonic() + 60\n"
    code += "    while time.monotonic() < deadline:\n        pass\n    print('SIGTERM was lost')\n"
    code += "sys.exit(run_cli(main))\n"
    done = run_python(code)
    assert "Traceback" not in done.stderr and "SIGTERM was lost" not in done.stdout
    assert done.stderr.splitlines()[-1] == "error: terminated (SIGTERM); nothing half-written is left"
    assert done.returncode == 128 + signal.SIGTERM


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a new interpreter that imports this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    """`sentibench ledger | head -1`: the pipe closes under the table; no traceback, SIGPIPE's exit status."""
    code = "import sys; from sentibench.core.errors import run_cli\n"
    code += "def main(argv):\n    for i in range(100000):\n        print('row', i)\n"
    code += "sys.exit(run_cli(main))\n"
    shell = f'PYTHONPATH={REPO / "src"} {sys.executable} -c "{code}" | head -1'
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, check=False)
    assert done.stdout == "row 0\n" and "Traceback" not in done.stderr
    assert done.returncode == 128 + signal.SIGPIPE
