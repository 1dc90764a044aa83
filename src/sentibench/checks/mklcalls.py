"""Count the calls a process makes into MKL, on any vendor's CPU: the check that portable runs compute nothing
there (tests/test_mkl_calls.py), and the probe that finds which aten operators reach MKL's vector math
(portable/vml.py).

torch's CPU wheel links MKL into libtorch_cpu.so, so its calls cannot be intercepted by preloading a library,
and `MKL_VERBOSE` reports BLAS but not vector math. So the command runs under gdb, with a counting breakpoint
(one that never stops the program) on every MKL entry point the library exports: read from its ELF dynamic
symbol table here, placed by address once the library loads. MKL's own answer to which branch it runs
(`MKL_CBWR`) does not matter to a count, so an AMD host sees what an Intel one sees.

    python -m sentibench.checks.mklcalls -- python -m sentibench.checks.kernels --shape ci --kernels portable
    python -m sentibench.checks.mklcalls --probe      (which single-tensor aten operators call MKL)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError, run_cli

LIBRARY = "libtorch_cpu.so"
# Exported C functions of libtorch_cpu.so that are not MKL's: the other libraries torch links in.
NOT_MKL = re.compile(r"^(_Z|Sleef_|aoti_|uv_|mz_|nnp_|pthreadpool|torch_|pytorch_|tdefl_|tinfl_|__itt|dnnl_|cpuinfo_)")
# MKL's internal layers, called only through its public entry points (which are counted instead).
INTERNAL = re.compile(r"^mkl_(blas|lapack|vml|dft|spblas|trans|serv)_")
# Entry points that compute nothing: set-up, modes, threads, error handling.
SERVICE = re.compile(
    r"(?i)(features_init|setmode|getmode|errstatus|errorcallback|num_threads|dynamic|cbwr|verbose|xerbla|progress"
    r"|free_buffers|mem_stat|^mkl_(set|get|enable|disable|finalize|free|malloc|calloc|realloc|peak|thread))"
)
TRACE = "mkl-call: "  # the line a traced call prints, as it happens (the probe places it between operators)

_GDB_SCRIPT = r"""
import collections, json, os, gdb
entries = {int(k): v for k, v in json.load(open(os.environ["MKLCALLS_ENTRIES"])).items()}
trace = os.environ.get("MKLCALLS_TRACE") == "1"
calls = collections.Counter()
class Counting(gdb.Breakpoint):
    def stop(self):
        calls[self.entry] += 1
        if trace:
            print("mkl-call: " + self.entry, flush=True)
        return False
armed = []
def arm(event):
    if armed or not event.new_objfile.filename.endswith("/libtorch_cpu.so"):
        return
    anchor = min(entries)
    base = int(gdb.parse_and_eval("(long)&" + entries[anchor])) - anchor
    for offset, name in entries.items():
        Counting("*%#x" % (base + offset), internal=True).entry = name
    armed.append(True)
gdb.events.new_objfile.connect(arm)
gdb.execute("set pagination off")
gdb.execute("run")
status = gdb.parse_and_eval("$_exitcode")
exit_code = None if status.type.code == gdb.TYPE_CODE_VOID else int(status)
json.dump({"calls": calls, "armed": bool(armed), "exit": exit_code}, open(os.environ["MKLCALLS_RESULT"], "w"))
"""


def _dynamic_functions(library: Path) -> dict[int, list[str]]:
    """The defined, exported functions of an ELF64 library, by address: its .dynsym read with struct."""
    with library.open("rb") as file:
        header = file.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            raise UserError(f"{library}: not a 64-bit ELF library")
        (section_at,) = struct.unpack_from("<Q", header, 0x28)
        entry_size, count = struct.unpack_from("<HH", header, 0x3A)
        file.seek(section_at)
        sections = [struct.unpack("<IIQQQQIIQQ", file.read(entry_size)) for _ in range(count)]
        dynsym = next(s for s in sections if s[1] == 11)  # SHT_DYNSYM; its sh_link is the string table
        strtab = sections[dynsym[6]]
        file.seek(strtab[4])
        names = file.read(strtab[5])
        file.seek(dynsym[4])
        table = file.read(dynsym[5])
    functions: dict[int, list[str]] = {}
    for at in range(0, len(table), 24):
        name_at, info, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", table, at)
        if info & 0xF == 2 and info >> 4 in (1, 2) and shndx != 0:  # STT_FUNC, GLOBAL or WEAK, defined
            functions.setdefault(value, []).append(names[name_at : names.index(b"\0", name_at)].decode())
    return functions


def mkl_entry_points(library: Path) -> dict[int, str]:
    """MKL's public entry points in `library`, by address, each under its shortest name, lower case first (MKL
    exports one function as sgemm, sgemm_, SGEMM and SGEMM_64)."""
    entries = {}
    for address, names in _dynamic_functions(library).items():
        mkl = [name for name in names if not NOT_MKL.match(name) and not INTERNAL.match(name)]
        if mkl:
            entries[address] = min(mkl, key=lambda name: (len(name), not name.islower(), name))
    return entries


def torch_library() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        raise UserError("torch is not installed in this environment")
    return Path(spec.origin).parent / "lib" / LIBRARY


def count(command: Sequence[str], env: dict[str, str] | None = None, trace: bool = False) -> tuple[dict[str, int], str]:
    """Run `command` under gdb and return how often it called each MKL entry point, and its stdout (with a
    `mkl-call: NAME` line at each call when `trace`). Stops with one line when gdb is missing, torch has no MKL,
    or the command fails."""
    if shutil.which("gdb") is None:
        raise UserError("counting MKL calls needs gdb (apt-get install gdb)")
    entries = mkl_entry_points(torch_library())
    if not entries:
        raise UserError(f"{torch_library()} exports no MKL entry point: this torch has no MKL to count")
    with tempfile.TemporaryDirectory(prefix="mklcalls-") as folder:
        paths = {name: Path(folder, f"{name}.json") for name in ("entries", "result")}
        paths["entries"].write_text(json.dumps(entries))
        Path(folder, "count.py").write_text(_GDB_SCRIPT)
        environment = {
            **(os.environ if env is None else env),
            "MKLCALLS_ENTRIES": str(paths["entries"]),
            "MKLCALLS_RESULT": str(paths["result"]),
            "MKLCALLS_TRACE": "1" if trace else "0",
        }
        gdb = ["gdb", "-nx", "-q", "-batch", "-x", str(Path(folder, "count.py")), "--args", *command]
        done = subprocess.run(gdb, env=environment, capture_output=True, text=True)
        if not paths["result"].exists():
            raise UserError(f"gdb did not finish the count: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        result = json.loads(paths["result"].read_text())
    if not result["armed"]:
        raise UserError(f"the command never loaded {LIBRARY}: nothing was counted")
    if result["exit"] != 0:
        raise UserError(f"the counted command exited with {result['exit']}: {done.stderr.strip()[-500:]}")
    return result["calls"], done.stdout


def computing(calls: dict[str, int]) -> dict[str, int]:
    """The calls that compute something (not MKL's set-up, modes or thread settings)."""
    return {name: n for name, n in calls.items() if not SERVICE.search(name)}


def unary_operators() -> list[str]:
    """Every aten operator with a CPU kernel of its own that takes one tensor and returns one (no kwarg-only
    argument needed, nothing mutated)."""
    import torch

    found = []
    for name in sorted(torch._C._dispatch_get_all_op_names()):
        if not name.startswith("aten::") or not torch._C._dispatch_has_kernel_for_dispatch_key(name, "CPU"):
            continue
        base, _, overload = name.partition(".")
        for schema in torch._C._jit_get_schemas_for_operator(base):
            positional = [argument for argument in schema.arguments if not argument.kwarg_only]
            if (
                schema.overload_name == overload
                and len(positional) == 1
                and str(positional[0].type) == "Tensor"
                and not schema.is_mutable
                and len(schema.returns) == 1
            ):
                found.append(name.removeprefix("aten::"))
    return found


def _probe_child() -> None:
    """Run every single-tensor operator on fp32 and fp64 values in (0.05, 0.95), a line before each."""
    import torch

    values = torch.linspace(0.05, 0.95, 4096)
    for name in unary_operators():
        base, _, overload = name.partition(".")
        operator = getattr(getattr(torch.ops.aten, base), overload or "default")
        for dtype in (torch.float32, torch.float64):
            print(f"operator: {name}", flush=True)
            with contextlib.suppress(Exception):  # one that needs other arguments computes nothing here
                operator(values.to(dtype))


def reaching_operators() -> dict[str, list[str]]:
    """Which single-tensor aten operators call MKL's computing entry points, and which entry points."""
    _, stdout = count([sys.executable, "-m", "sentibench.checks.mklcalls", "--probe-child"], trace=True)
    reached: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("operator: "):
            current = line.removeprefix("operator: ")
        elif line.startswith(TRACE) and current and not SERVICE.search(entry := line.removeprefix(TRACE)):
            reached.setdefault(current, [])
            if entry not in reached[current]:
                reached[current].append(entry)
    return reached


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="list the single-tensor operators that call MKL")
    parser.add_argument("--probe-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help="the command to count (after --)")
    args = parser.parse_args(argv)
    if args.probe_child:
        _probe_child()
        return
    if args.probe:
        result: Any = reaching_operators()
    elif args.command:
        calls, _ = count(args.command)
        result = {"computing": computing(calls), "all": calls}
    else:
        parser.error("a command to count (after --), or --probe")
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    sys.exit(run_cli(main))
