"""`sentibench ledger`: the real machines that reproduced the committed bytes, one small file each in ledger/.

An emulated CPU computes approximate instructions exactly, and CI runs on one CPU model: neither shows
that another real CPU gives the same bytes. The ledger keeps what did. Each entry is a `sentibench verify
--report` certificate cut down to what a reader needs (no paths): the machine (vendor, family/model, ISA,
torch build, threads, kernels), the date, commit and profile, the verdict, and the machine it was held to
(the recorder of the committed bytes), and the output hashes it reproduced: those committed at its commit
(golden/PROFILE.json, or dvc.lock for the default). One file per machine, profile and bytes: a newer
certificate of the same machine for the same bytes replaces the older one, and one for re-recorded bytes is
a row of its own, so the ledger keeps which machines held the bytes before.

Committed bytes change when they are re-recorded, so a row only speaks for today's bytes when its hashes
are today's: the table says so for each row ("today's bytes"), and counts the real CPU models behind
today's bytes, which is all that README and docs/reproducibility.md may claim. Every file is checked against
one schema (a missing or mistyped field is one line naming the file and the field), and a row whose commit
is not in this repository's history says so.

    sentibench ledger                                     # the table
    sentibench verify --profile ci --report out && sentibench ledger --add out/certificate.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.checks.workspace import lock_outputs
from sentibench.core.atomic import write_json
from sentibench.core.errors import UserError, run_cli
from sentibench.core.git import git
from sentibench.core.tables import render_table

LEDGER = Path("ledger")
MACHINE = {"vendor": str, "family_model": str, "model": str, "isa": list, "torch": str, "threads": int, "kernels": str}
SCHEMA = {
    "machine": dict,
    "date": str,
    "commit": str,
    "profile": (str, type(None)),
    "verdict": str,
    "identical": int,
    "outputs": int,
    "held_to": dict,
    "source": str,
    "hashes": dict,
}


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


def committed_hashes(repo: Path, commit: str, profile: str | None) -> dict[str, str] | None:
    """The output hashes committed at `commit`: golden/PROFILE.json's, or dvc.lock's for the default (None when
    the commit or the file is not in this repository)."""
    path = f"golden/{profile}.json" if profile else "dvc.lock"
    if commit == "workspace":
        text = (repo / path).read_text(encoding="utf-8") if (repo / path).is_file() else None
    else:
        done = git(repo, "show", f"{commit}:{path}")
        text = done.stdout if done.returncode == 0 else None
    if text is None:
        return None
    return json.loads(text)["outputs"] if profile else lock_outputs(text)


def entry(certificate: dict[str, Any], repo: Path = Path()) -> dict[str, Any]:
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
        "hashes": committed_hashes(repo, fields["commit"], fields["profile"]) or {},
    }


def isa_level(isa: list[str]) -> str:
    """The widest vector extension, which decides what a CPU's native kernels are."""
    if "amx_tile" in isa:
        return "avx512-amx"
    return "avx512" if "avx512f" in isa else "avx2" if "avx2" in isa else "other"


def bytes_id(hashes: dict[str, str]) -> str:
    """Eight hex digits naming a set of output hashes ("none" when the commit's were not found)."""
    if not hashes:
        return "none"
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:8]


def file_name(item: dict[str, Any]) -> str:
    """vendor-family-model-isa-torchbuild-threads-profile-bytes.json: one file per machine, profile and bytes."""
    found = item["machine"]
    parts = [
        found["vendor"],
        str(found["family_model"]).replace("/", "-"),
        isa_level(found["isa"]),
        str(found["torch"]).replace("+", "-"),
        f"{found['threads']}t",
        item["profile"] or "default",
        bytes_id(item["hashes"]),
    ]
    return re.sub(r"[^A-Za-z0-9.-]+", "_", "-".join(str(p) for p in parts)) + ".json"


def check_fields(path: Path, found: Any, schema: dict[str, Any], prefix: str = "") -> None:
    """One line naming the file and the first field that is missing or of another type."""
    if not isinstance(found, dict):
        raise UserError(f"{path}: {prefix.rstrip('.') or 'the entry'} must be a JSON object")
    for name, kind in schema.items():
        if name not in found:
            raise UserError(f"{path}: field {prefix}{name} is missing")
        if not isinstance(found[name], kind) or (isinstance(found[name], bool) and kind is int):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            expected = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise UserError(f"{path}: field {prefix}{name} must be {expected}, not {type(found[name]).__name__}")


def read(folder: Path) -> list[dict[str, Any]]:
    """Every entry in the folder, each checked against the schema."""
    items = []
    for path in sorted(folder.glob("*.json")):
        try:
            item = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: not a ledger entry ({type(err).__name__})") from None
        check_fields(path, item, SCHEMA)
        check_fields(path, item["machine"], MACHINE, "machine.")
        check_fields(path, item["held_to"], MACHINE, "held_to.")
        items.append(item)
    return items


def standing(item: dict[str, Any], repo: Path) -> str:
    """Whether a row speaks for today's committed bytes: its hashes are today's, and it reproduced all of them."""
    if git(repo, "cat-file", "-e", f"{item['commit']}^{{commit}}").returncode != 0:
        return "commit not in this repository's history"
    today = committed_hashes(repo, "workspace", item["profile"])
    if not item["hashes"] or item["hashes"] != today:
        return "no: other bytes"
    return "yes" if item["identical"] == item["outputs"] == len(today) else "no: not all reproduced"


def today_models(items: list[dict[str, Any]], repo: Path) -> list[str]:
    """The real CPU models (vendor, family/model) whose rows hold today's bytes."""
    found = {f"{i['machine']['vendor']} {i['machine']['family_model']}" for i in items if standing(i, repo) == "yes"}
    return sorted(found)


def relation(item: dict[str, Any]) -> str:
    """What the check crossed: the same CPU model as the recorder, another model, or another vendor."""
    run, held = item["machine"], item["held_to"]
    if run["vendor"] != held["vendor"]:
        return "other vendor"
    return "same model" if run["family_model"] == held["family_model"] else "other model"


def table(items: list[dict[str, Any]], fmt: str, repo: Path = Path()) -> str:
    rows = [
        [
            f"{i['machine']['vendor']} {i['machine']['family_model']} {isa_level(i['machine']['isa'])}, "
            f"torch {i['machine']['torch']}, {i['machine']['threads']} threads",
            i["date"],
            str(i["commit"])[:8],
            i["profile"] or "default",
            f"{i['held_to']['vendor']} {i['held_to']['family_model']} ({relation(i)})",
            f"{i['verdict']} ({i['identical']} of {i['outputs']} identical)",
            standing(i, repo),
        ]
        for i in sorted(items, key=lambda i: (i["date"], str(i["commit"])), reverse=True)
    ]
    headers = ["machine", "date", "commit", "profile", "held to", "verdict", "today's bytes"]
    models = today_models(items, repo)
    count = f"Today's committed bytes reproduced on {len(models)} real CPU model(s): {', '.join(models) or 'none'}"
    return render_table(headers, rows, fmt) + "\n\n" + count


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, default=LEDGER, help="the folder of entries (default: ledger)")
    parser.add_argument("--add", type=Path, metavar="CERTIFICATE", help="a verify --report certificate.json to add")
    parser.add_argument("--format", choices=("text", "md"), default="text")
    parser.add_argument("--repo", type=Path, default=Path(), help="the repository whose committed bytes rows name")
    args = parser.parse_args(argv)
    if args.add:
        try:
            certificate = json.loads(args.add.read_text(encoding="utf-8"))
        except OSError as err:
            raise UserError(f"{args.add}: cannot be read ({err.strerror})") from None
        except ValueError as err:
            raise UserError(f"{args.add}: not valid JSON ({err})") from None
        item = entry(certificate, args.repo)
        target = args.ledger / file_name(item)
        write_json(target, item)
        print(f"ledger: wrote {target} (held to the recorder's bytes, {relation(item)}): {item['verdict']}")
    items = read(args.ledger)
    if not items:
        raise UserError(f"{args.ledger}: no ledger entries")
    print(table(items, args.format, args.repo))


if __name__ == "__main__":
    sys.exit(run_cli(main))
