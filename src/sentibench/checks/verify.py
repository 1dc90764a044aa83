"""`sentibench verify`: rerun the committed params in a scratch copy and compare with the committed bytes.

repro-check proves a machine agrees with itself; this proves it agrees with the bytes someone else
recorded on another machine. Without a profile the reference is the committed `dvc.lock` (and the
metrics and `metrics/env.json` beside it); with `--profile NAME` it is `golden/NAME.json`, a small
committed record of the output hashes, metrics, params and the machine (CPU, kernels, versions) it
was made on. The verdict is one of three:

- reproduces the committed results byte for byte (exit 0);
- differs in N outputs, with the metrics judged by compare's tolerances (exit 1);
- not comparable, and why: a GPU, another architecture, another torch, MKL, OpenBLAS or library build,
  kernels that were not the portable ones (asked for or not: what the run reports, not its params) on
  another CPU; the metrics are still judged by the tolerances: exit 3 when they are within them, 4 when not.

`--record --why TEXT` writes the golden file of a profile from this run: re-recording is a deliberate
act that says why, never a side effect of a failing check. A run that is emulated, on a GPU or not on
the portable kernels is no reference for other machines: recording it also needs `--unusual WHY`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from sentibench.checks.workspace import copy_repo, emulator_bin, lock_outputs, run_pipeline, work_folder
from sentibench.core.atomic import write_json, write_text
from sentibench.core.contract import GOLDEN, PARAMS, QUALITY_OUTPUTS
from sentibench.core.errors import UserError, run_cli
from sentibench.core.git import changed_files, git, git_output
from sentibench.core.profile import apply_profile
from sentibench.core.tables import flatten, render_table
from sentibench.portable.comparability import not_comparable, unpinned
from sentibench.runs.compare import compare
from sentibench.runs.revisions import WORKSPACE, Snapshot, snapshot
from sentibench.runs.tolerances import DEFAULT_TOLERANCES, load_tolerances

GOLDEN_VERSION = 1
EXIT_DIFFERS, EXIT_NOT_COMPARABLE, EXIT_NOT_COMPARABLE_BEYOND = 1, 3, 4
# The metrics files whose values are quality numbers (the timing files and env.json are not).
QUALITY_STEMS = {p.stem for p in QUALITY_OUTPUTS if p.suffix == ".json"}


@dataclass(frozen=True)
class Results:
    """One side of the comparison: where it comes from, its output hashes, quality metrics and machine."""

    source: str
    outputs: dict[str, str]  # "stage: path" -> md5, as dvc.lock records it
    metrics: dict[str, Any]  # flattened, "file-stem.key"
    env: dict[str, Any] | None
    params: dict[str, Any]


def quality_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k.split(".", 1)[0] in QUALITY_STEMS}


def read_params(text: str) -> dict[str, Any]:
    return flatten(YAML(typ="safe", pure=True).load(text) or {})


def committed_results(repo: Path) -> Results:
    """The default's reference: dvc.lock, the metrics files and env.json as HEAD has them."""
    lock = git(repo, "show", "HEAD:dvc.lock")
    if lock.returncode != 0:
        raise UserError(f"{repo}: no dvc.lock committed at HEAD; nothing to verify against")
    committed = snapshot(repo, "HEAD")
    return Results(
        "dvc.lock at HEAD",
        lock_outputs(lock.stdout),
        quality_metrics(committed.metrics),
        committed.env,
        committed.params,
    )


def golden_path(repo: Path, profile: str) -> Path:
    return repo / GOLDEN / f"{profile}.json"


def golden_results(repo: Path, profile: str) -> tuple[Results, dict[str, Any]]:
    """A profile's golden file, checked: present, JSON, this profile, the expected fields."""
    path = golden_path(repo, profile)
    shown = path.relative_to(repo)
    if not path.is_file():
        raise UserError(
            f"{shown}: no golden file for profile {profile!r}; record one deliberately with "
            f"`sentibench verify --profile {profile} --record --why '...'`"
        )
    try:
        golden = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise UserError(f"{shown}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{shown}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(golden, dict) or golden.get("version") != GOLDEN_VERSION:
        raise UserError(f"{shown}: not a golden file of version {GOLDEN_VERSION}")
    if golden.get("profile") != profile:
        raise UserError(f"{shown}: recorded for profile {golden.get('profile')!r}, not {profile!r}")
    for key, kind in (("outputs", dict), ("metrics", dict), ("env", dict), ("params", dict), ("recorded", dict)):
        if not isinstance(golden.get(key), kind):
            raise UserError(f"{shown}: key {key!r} missing or not a mapping")
    results = Results(str(shown), golden["outputs"], golden["metrics"], golden["env"], golden["params"])
    return results, golden["recorded"]


def run_results(copy: Path, source: str) -> Results:
    """What the scratch copy's `dvc repro` produced."""
    produced = snapshot(copy, WORKSPACE)
    lock = lock_outputs((copy / "dvc.lock").read_text(encoding="utf-8"))
    return Results(source, lock, quality_metrics(produced.metrics), produced.env, produced.params)


def machine_line(env: dict[str, Any] | None) -> str:
    if env is None:
        return "unknown (no env.json)"
    cpu, build = env.get("cpu", {}), env.get("torch_build", {})
    emulated = f" emulated by `{cpu['emulator']}`" if cpu.get("emulator") else ""
    gpu = f", GPU {env['gpu']['name']}" if env.get("gpu") else ""
    isa = "/".join(cpu.get("isa") or []) or "ISA not recorded"
    return (
        f"{cpu.get('model')} ({cpu.get('vendor')}, {cpu.get('machine')}, {isa}){emulated}{gpu}; "
        f"ATen {cpu.get('aten_capability')}, oneDNN {cpu.get('onednn_isa')}, MKL_CBWR {cpu.get('mkl_cbwr')}, "
        f"{cpu.get('threads')} threads, products by {cpu.get('matrix_products')}; "
        f"torch {build.get('version')}, MKL {build.get('mkl')}; portable {env.get('runtime', {}).get('portable')}"
    )


def judge(expected: Results, actual: Results, repo: Path) -> dict[str, Any]:
    """Per-output identity, comparability, the metrics' tolerance verdicts, and the verdict."""
    names = sorted(set(expected.outputs) | set(actual.outputs))
    outputs = {n: "identical" if expected.outputs.get(n) == actual.outputs.get(n) else "different" for n in names}
    differing = [n for n, state in outputs.items() if state != "identical"]
    reasons = not_comparable(expected.env, actual.env)
    tolerances = load_tolerances(repo / DEFAULT_TOLERANCES)
    rows = compare(
        Snapshot(expected.source, expected.metrics, expected.params, expected.env),
        Snapshot(actual.source, actual.metrics, actual.params, actual.env),
        {k: t for k, t in tolerances.items() if not t.timing},
    )
    beyond = [r["metric"] for r in rows if r["metric"] in tolerances and r["verdict"] not in ("same",)]
    metrics = (
        "metrics within tolerance (compare's tolerances)"
        if not beyond
        else (f"{len(beyond)} metrics beyond tolerance: {', '.join(beyond)}")
    )
    if not differing and expected.outputs:
        verdict, code = "reproduces the committed results byte for byte", 0
    elif reasons:
        code = EXIT_NOT_COMPARABLE_BEYOND if beyond else EXIT_NOT_COMPARABLE
        verdict = f"not comparable ({'; '.join(reasons)}); {metrics}"
    else:
        verdict, code = f"differs in {len(differing)} of {len(names)} outputs; {metrics}", EXIT_DIFFERS
    return {
        "verdict": verdict,
        "exit_code": code,
        "outputs": outputs,
        "not_comparable": reasons,
        "metrics_beyond_tolerance": beyond,
        "metrics": [r for r in rows if r["metric"] in tolerances],
    }


def certificate_markdown(certificate: dict[str, Any]) -> str:
    rows = [[name, state] for name, state in certificate["outputs"].items()]
    metric_rows = [[r["metric"], r["a"], r["b"], r["tolerance"], r["verdict"]] for r in certificate["metrics"]]
    return "\n".join(
        [
            "# Reproducibility certificate (sentibench verify)",
            "",
            f"**Verdict: {certificate['verdict']}**",
            "",
            f"- Commit: `{certificate['commit']}`"
            + (f", **dirty**: {', '.join(certificate['dirty'])}" if certificate.get("dirty") else "")
            + f"; profile: {certificate['profile'] or 'none (the default)'}; date: {certificate['date']}",
            f"- Committed results: {certificate['committed']['source']}, made on "
            f"{machine_line(certificate['committed']['env'])}",
            f"- This run: {machine_line(certificate['this_run']['env'])}",
            "",
            render_table(["output", "bytes"], rows, "md"),
            "",
            render_table(["metric", "committed", "this run", "tolerance", "verdict"], metric_rows, "md"),
            "",
        ]
    )


def write_report(folder: Path, certificate: dict[str, Any]) -> None:
    """certificate.json and certificate.md in `folder`; other files there are left alone."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: --report needs a folder, and this is a file")
    write_json(folder / "certificate.json", certificate)
    write_text(folder / "certificate.md", certificate_markdown(certificate))


def unusual_recorder(env: dict[str, Any] | None) -> str | None:
    """Why a run's bytes are no reference for other machines, in words (None: they are)."""
    flat = flatten(env or {})
    if flat.get("cpu.emulator"):
        return f"emulated ({flat['cpu.emulator']})"
    if flat.get("gpu.name"):
        return f"on a GPU ({flat['gpu.name']})"
    if unpinned(flat):
        return f"not on the portable kernels ({', '.join(unpinned(flat))})"
    return None


def record_golden(
    repo: Path, profile: str, results: Results, why: str, commit: str, unusual: str | None = None
) -> Path:
    path = golden_path(repo, profile)
    golden = {
        "version": GOLDEN_VERSION,
        "profile": profile,
        "recorded": {
            "why": why,
            **({"unusual": unusual} if unusual else {}),
            "commit": commit,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
            "command": f"sentibench verify --profile {profile} --record --why ...",
        },
        "params": results.params,
        "outputs": results.outputs,
        "metrics": results.metrics,
        "env": results.env,
    }
    write_json(path, golden)
    return path


def copy_params(repo: Path, profile: str) -> str:
    """params.yaml as a copy for `profile` will have it."""

    return apply_profile(profile, repo / PARAMS, repo / "profiles")


def verify(repo: Path, workdir: Path, profile: str | None, emulate: str | None, image: str | None = None) -> Results:
    """Copy the repository, run the pipeline there (optionally on an emulated CPU, or inside a Docker image on
    this CPU), return what it made."""
    copy = workdir / "run"
    copy_repo(repo, copy, profile)
    emulator = emulator_bin(workdir / f"emulate-{emulate}", emulate) if emulate else None
    log = workdir / "run.log"
    where = f" on an emulated {emulate} CPU" if emulate else (f" in docker image {image}" if image else "")
    print(f"verify: dvc repro of the committed params{where} in {copy} (log: {log})", flush=True)
    started = time.perf_counter()
    run_pipeline(copy, log, image=image, emulator=emulator)
    print(f"verify: done in {time.perf_counter() - started:.0f} s", flush=True)
    return run_results(copy, "this run")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path())
    parser.add_argument("--profile", help="verify profiles/NAME.yaml against golden/NAME.json (e.g. ci: minutes)")
    parser.add_argument(
        "--keep", type=Path, help="run in this new or empty folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--report", type=Path, metavar="DIR", help="write certificate.json and certificate.md here")
    parser.add_argument("--emulate-cpu", metavar="CPU", help="run under qemu-x86_64 emulating this CPU model")
    parser.add_argument(
        "--docker", metavar="IMAGE", help="run inside this image, on this CPU (docker/build-cuda.sh: the CUDA image)"
    )
    parser.add_argument(
        "--allow-dirty", action="store_true", help="verify the working tree although it differs from HEAD"
    )
    parser.add_argument("--record", action="store_true", help="write golden/PROFILE.json from this run (with --why)")
    parser.add_argument("--why", help="with --record: why the golden bytes change (kept in the file)")
    parser.add_argument(
        "--unusual",
        metavar="WHY",
        help="with --record: record although this run is emulated, on a GPU or not on the portable kernels (why)",
    )
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    if args.docker and args.emulate_cpu:
        raise UserError("--docker and --emulate-cpu both choose where the run happens: give one")
    if args.record and not (args.profile and args.why and args.why.strip()):
        raise UserError("--record needs --profile (the default's golden bytes are dvc.lock) and --why 'reason'")
    if not (repo / PARAMS).is_file():
        raise UserError(f"{repo / PARAMS}: not found; --repo must be a sentibench checkout")
    dirty = changed_files(repo) or []
    if dirty and not args.allow_dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UserError(f"the working tree differs from HEAD ({shown}); commit it, or pass --allow-dirty")
    head = git_output(repo, "rev-parse", "HEAD").strip()  # the commit the run copies (a later one may land meanwhile)
    expected, recorded = (
        (None, None)
        if args.record
        else (golden_results(repo, args.profile) if args.profile else (committed_results(repo), None))
    )
    if expected is not None and args.profile:
        applied = read_params(copy_params(repo, args.profile))
        changed = sorted(k for k in set(applied) | set(expected.params) if applied.get(k) != expected.params.get(k))
        if changed:
            shown = "; ".join(f"{k}: {expected.params.get(k)!r} there, {applied.get(k)!r} now" for k in changed[:3])
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            raise UserError(
                f"{GOLDEN}/{args.profile}.json was recorded with other params ({shown}{more}); "
                f"re-record it deliberately with --record --why '...'"
            )
    try:
        with work_folder(args.keep, "sentibench-verify-") as workdir:
            actual = verify(repo, workdir, args.profile, args.emulate_cpu, args.docker)
    except OSError as err:
        raise UserError(
            f"{err.filename or args.keep or 'the temporary folder'}: scratch folder cannot be written ({err.strerror})"
        ) from None
    if args.record:
        unusual = unusual_recorder(actual.env)
        if unusual and not (args.unusual and args.unusual.strip()):
            raise UserError(
                f"--record: this run is {unusual}, no reference for other machines; nothing was recorded "
                "(record on a real CPU with the portable kernels, or say why with --unusual 'reason')"
            )
        path = record_golden(repo, args.profile, actual, args.why.strip(), head, args.unusual)
        print(f"verify: recorded {path.relative_to(repo)} on {machine_line(actual.env)}")
        return
    assert expected is not None
    result = judge(expected, actual, repo)
    print(f"verify: committed ({expected.source}): {machine_line(expected.env)}")
    if recorded:
        print(
            f"verify: recorded at {recorded.get('commit', '?')[:12]} on {recorded.get('date')}: {recorded.get('why')}"
        )
    print(f"verify: this run: {machine_line(actual.env)}")
    for name, state in result["outputs"].items():
        print(f"verify: {state:9} {name}")
    if args.report:
        certificate = {
            **result,
            "commit": head,
            "dirty": dirty,  # the files of the tree that differ from that commit (--allow-dirty)
            "profile": args.profile,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "committed": asdict(expected),
            "this_run": asdict(actual),
        }
        write_report(args.report, certificate)
        print(f"verify: certificate written to {args.report}/certificate.json and certificate.md")
    print(f"verify: {result['verdict']}")
    if result["exit_code"]:
        if args.profile:
            print(
                f"verify: if the change is intended, re-record: sentibench verify --profile {args.profile} "
                "--record --why '...'"
            )
        raise SystemExit(result["exit_code"])


if __name__ == "__main__":
    sys.exit(run_cli(main))
