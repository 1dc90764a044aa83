"""`sentibench ledger`: the real machines that reproduced the committed bytes, one small file each in ledger/.

An emulated CPU computes approximate instructions exactly, and CI runs on one CPU model: neither shows
that another real CPU gives the same bytes. The ledger keeps what did. Each entry is a `sentibench verify
--report` certificate cut down to what a reader needs (no paths): the machine (vendor, family/model, ISA,
torch build, threads, kernels), the date, commit and profile, the verdict, and the machine it was held to
(the recorder of the committed bytes). One file per machine and profile: a newer certificate of the same
machine replaces the older one.

    sentibench ledger                                     # the table
    sentibench verify --profile ci --report out && sentibench ledger --add out/certificate.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.core.atomic import write_json
from sentibench.core.errors import UserError, run_cli
from sentibench.core.tables import render_table

LEDGER = Path("ledger")


def machine(env: dict[str, Any]) -> dict[str, Any]:
    """What tells machines apart for the promise, from a run's env.json."""
    cpu, build = env.get("cpu") or {}, env.get("torch_build") or {}
    return {
        "vendor": cpu.get("vendor"),
        "family_model": cpu.get("family_model"),
        "model": cpu.get("model"),
        "isa": cpu.get("isa") or [],
        "torch": build.get("version"),
        "threads": cpu.get("threads"),
        "kernels": f"ATen {cpu.get('aten_capability')}, oneDNN {cpu.get('onednn_isa')}, "
        f"MKL_CBWR {cpu.get('mkl_cbwr')}, products by {cpu.get('matrix_products')}",
    }


def entry(certificate: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry from a verify certificate; refused when it shows no real machine's result."""
    try:
        run, committed = certificate["this_run"]["env"], certificate["committed"]["env"]
        outputs = certificate["outputs"]
        fields = {key: certificate[key] for key in ("date", "commit", "profile", "verdict")}
    except (KeyError, TypeError) as err:
        raise UserError(f"not a sentibench verify certificate (no {err})") from None
    if not isinstance(run, dict) or not isinstance(committed, dict):
        raise UserError("the certificate has no env.json of one side: no machine to record")
    if (run.get("cpu") or {}).get("emulator"):
        raise UserError("the certificate is of an emulated CPU: the ledger is of real machines")
    if certificate.get("dirty"):
        raise UserError(f"the certificate is of a dirty tree ({', '.join(certificate['dirty'])}): commit, then verify")
    return {
        "machine": machine(run),
        **fields,
        "date": str(fields["date"])[:10],
        "identical": sum(state == "identical" for state in outputs.values()),
        "outputs": len(outputs),
        "held_to": machine(committed),
        "source": "sentibench verify --report",
    }


def isa_level(isa: list[str]) -> str:
    """The widest vector extension, which decides what a CPU's native kernels are."""
    if "amx_tile" in isa:
        return "avx512-amx"
    return "avx512" if "avx512f" in isa else "avx2" if "avx2" in isa else "other"


def file_name(item: dict[str, Any]) -> str:
    """vendor-family-model-isa-torchbuild-threads-profile.json: one file per machine and profile."""
    found = item["machine"]
    parts = [
        found["vendor"],
        str(found["family_model"]).replace("/", "-"),
        isa_level(found["isa"]),
        str(found["torch"]).replace("+", "-"),
        f"{found['threads']}t",
        item["profile"] or "default",
    ]
    return re.sub(r"[^A-Za-z0-9.-]+", "_", "-".join(str(p) for p in parts)) + ".json"


def read(folder: Path) -> list[dict[str, Any]]:
    items = []
    for path in sorted(folder.glob("*.json")):
        try:
            items.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: not a ledger entry ({type(err).__name__})") from None
    return items


def relation(item: dict[str, Any]) -> str:
    """What the check crossed: the same CPU model as the recorder, another model, or another vendor."""
    run, held = item["machine"], item["held_to"]
    if run["vendor"] != held["vendor"]:
        return "other vendor"
    return "same model" if run["family_model"] == held["family_model"] else "other model"


def table(items: list[dict[str, Any]], fmt: str) -> str:
    rows = [
        [
            f"{i['machine']['vendor']} {i['machine']['family_model']} {isa_level(i['machine']['isa'])}, "
            f"torch {i['machine']['torch']}, {i['machine']['threads']} threads",
            i["date"],
            str(i["commit"])[:8],
            i["profile"] or "default",
            f"{i['held_to']['vendor']} {i['held_to']['family_model']} ({relation(i)})",
            f"{i['verdict']} ({i['identical']} of {i['outputs']} identical)",
        ]
        for i in sorted(items, key=lambda i: (i["date"], str(i["commit"])), reverse=True)
    ]
    return render_table(["machine", "date", "commit", "profile", "held to", "verdict"], rows, fmt)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, default=LEDGER, help="the folder of entries (default: ledger)")
    parser.add_argument("--add", type=Path, metavar="CERTIFICATE", help="a verify --report certificate.json to add")
    parser.add_argument("--format", choices=("text", "md"), default="text")
    args = parser.parse_args(argv)
    if args.add:
        try:
            certificate = json.loads(args.add.read_text(encoding="utf-8"))
        except OSError as err:
            raise UserError(f"{args.add}: cannot be read ({err.strerror})") from None
        except ValueError as err:
            raise UserError(f"{args.add}: not valid JSON ({err})") from None
        item = entry(certificate)
        target = args.ledger / file_name(item)
        write_json(target, item)
        print(f"ledger: wrote {target} (held to the recorder's bytes, {relation(item)}): {item['verdict']}")
    items = read(args.ledger)
    if not items:
        raise UserError(f"{args.ledger}: no ledger entries")
    print(table(items, args.format))


if __name__ == "__main__":
    sys.exit(run_cli(main))
