"""The architecture holds: stage deps in every dvc.yaml cover the code each stage runs, the contract's
paths are the ones dvc.yaml declares, and params.yaml is the one source of defaults."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from sentibench.core import contract
from sentibench.core.params import Params, parse_params

SRC = REPO / "src"
PIPELINES = sorted(p for p in REPO.glob("**/dvc.yaml") if not any(s.startswith(".") for s in p.relative_to(REPO).parts))


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, package: str) -> set[str]:
    """Every sentibench module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sentibench"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sentibench"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}"))
    return {name for name in found if module_file(name)}


ROOT_INIT = SRC / "sentibench" / "__init__.py"


def import_closure(module: str) -> set[Path]:
    """The source files a `python -m module` run loads from src/: package __init__ files left out
    (test_package_inits_hold_no_code keeps them empty), but for the root package's, which pins numpy's OpenBLAS,
    and what it imports to decide the pin, which every process runs."""
    seen: set[str] = set()
    todo = [module, "sentibench"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = module_file(name)
        todo.extend(imported_modules(file, name))
    files = {module_file(name) for name in seen}
    return {f for f in files if f.name != "__init__.py"} | {ROOT_INIT}


def stages() -> list[tuple[Path, str, dict]]:
    out = []
    for pipeline in PIPELINES:
        for name, stage in (yaml.safe_load(pipeline.read_text())["stages"] or {}).items():
            out.append((pipeline, name, stage))
    return out


@pytest.mark.parametrize(("pipeline", "name", "stage"), stages(), ids=lambda v: v if isinstance(v, str) else "")
def test_stage_deps_cover_the_code_it_imports(pipeline, name, stage):
    module = re.search(r"python -m (\S+)", stage["cmd"]).group(1)
    wdir = (pipeline.parent / stage.get("wdir", ".")).resolve()
    deps = [(wdir / d).resolve() for d in stage.get("deps", [])]
    missing = [
        f.relative_to(REPO).as_posix()
        for f in sorted(import_closure(module))
        if not any(f == d or d in f.parents for d in deps)
    ]
    assert not missing, f"{pipeline.relative_to(REPO)}: stage {name} runs code missing from its deps: {missing}"
    closure = import_closure(module)
    extra = [d.relative_to(REPO).as_posix() for d in deps if d.suffix == ".py" and d not in closure]
    assert not extra, f"{pipeline.relative_to(REPO)}: stage {name} lists deps it never imports: {extra}"


@pytest.mark.parametrize(("stage", "run"), [("train", "finetune"), ("pretrain", "pretraining")])
def test_a_training_stage_hands_its_params_to_the_training_room_once(stage, run):
    """The stage reads params, makes one call into sentibench.training, and writes what it returns: the run
    module is the only door into the training machinery, so a walk of `params` never climbs back up to it."""
    stage_file = module_file(f"sentibench.stages.{stage}")
    doors = {m for m in imported_modules(stage_file, stage) if m.startswith("sentibench.training")}
    assert doors == {f"sentibench.training.{run}"}


def test_the_committed_locks_hold_the_code_and_params_as_committed():
    """Every dvc.lock hashes each tracked source file and params section its stages depend on as they are now.
    A stage edited without a rerun or `dvc commit` leaves a stale hash, and a fresh clone's `dvc repro` would
    rerun that stage (and everything after it) only to find the same bytes. Outputs are not checked: a fresh
    clone has none until it runs."""
    stale = []
    for pipeline in PIPELINES:
        done = subprocess.run(
            ["dvc", "status", "--json", str(pipeline)], cwd=REPO, capture_output=True, text=True, check=True
        )
        for stage, changes in json.loads(done.stdout or "{}").items():
            for change in (c for c in changes if isinstance(c, dict)):
                for path, state in change.get("changed deps", {}).items():
                    if path == "params.yaml" or (path.startswith("src/") and state == "modified"):
                        stale.append(f"{stage}: {path} {state}")
    assert not stale, f"run the stages again or `dvc commit -f` them: {stale}"


def _pins_the_environment(node: ast.stmt) -> bool:
    """`import os` or `os.environ.update({...})` of constants, or the import and call of
    `sentibench.portable.isa.pin_openblas` (pins decided by the CPU): what the root package runs, before numpy loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names] == ["os"]
    if isinstance(node, ast.ImportFrom):
        return node.module == "sentibench.portable.isa" and [a.name for a in node.names] == ["pin_openblas"]
    if isinstance(node, ast.Expr) and ast.unparse(node.value) == "pin_openblas()":
        return True
    call = node.value if isinstance(node, ast.Expr) else None
    return (
        isinstance(call, ast.Call)
        and ast.unparse(call.func) == "os.environ.update"
        and all(
            isinstance(part, ast.Constant)
            for arg in call.args
            for part in ast.walk(arg)
            if isinstance(part, ast.expr) and not isinstance(part, ast.Dict)
        )
    )


def test_package_inits_hold_no_code():
    """Docstrings and constants only; the root package may also pin environment variables that a library reads
    when it loads (numpy's OpenBLAS: every stage imports numpy before it reads its params)."""
    for init in SRC.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        constants = [n for n in body if isinstance(n, ast.Expr | ast.Assign) and isinstance(n.value, ast.Constant)]
        if init == ROOT_INIT:
            constants += [n for n in body if _pins_the_environment(n)]
            constants.sort(key=body.index)
        assert constants == body, f"{init}: a package __init__ holds only a docstring and constants"


def declared_outputs() -> set[str]:
    paths = set()
    for pipeline, _, stage in stages():
        wdir = (pipeline.parent / stage.get("wdir", ".")).resolve()
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []) or []:
                for path in entry if isinstance(entry, dict) else [entry]:
                    paths.add((wdir / path).resolve().relative_to(REPO).as_posix())
    return paths


def test_contract_paths_are_the_pipeline_outputs():
    declared = declared_outputs()
    inputs = (contract.PARAMS, contract.RAW_DATA, contract.GOLDEN, *contract.SCRATCH)
    artifacts = {
        value.as_posix()
        for name, value in vars(contract).items()
        if isinstance(value, Path) and name.isupper() and value not in inputs
    }
    assert artifacts == declared
    assert not {p.as_posix() for p in contract.SCRATCH} & declared
    for group in (contract.QUALITY_OUTPUTS, contract.NONDETERMINISTIC_OUTPUTS):
        assert {p.as_posix() for p in group} <= declared
    assert not set(contract.QUALITY_OUTPUTS) & set(contract.NONDETERMINISTIC_OUTPUTS)
    assert all(any(p == o or p.startswith(f"{o}/") for o in contract.RUN_OUTPUTS) for p in declared)


def test_params_yaml_is_the_one_source_of_defaults():
    from_file = parse_params(yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")))
    assert from_file == Params()
    for section in dataclasses.fields(Params):
        for item in dataclasses.fields(getattr(Params(), section.name)):
            assert item.metadata.get("help"), f"{section.name}.{item.name} has no help"


def test_only_the_charts_dvc_yaml_declares_are_drawn():
    """A stage's own `plots:` output is drawn by row index beside the declared charts (`dvc plots show` drew
    results/inference.csv so, labelled "step"): every chart is a top-level plot definition instead."""
    for pipeline, name, stage in stages():
        assert "plots" not in stage, f"{pipeline.relative_to(REPO)}: stage {name} declares plots outputs"
