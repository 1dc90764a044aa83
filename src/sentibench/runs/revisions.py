"""Params and metrics at any git revision, DVC experiment or the workspace, read without a checkout.

A revision is whatever git understands (a commit, a branch, `HEAD~2`), a DVC experiment name
(found among `refs/exps/`), or `workspace` for the files on disk. The metrics files are those
that `dvc.yaml` at that revision declares, so the comparison follows the pipeline as it was.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sentibench.core.contract import BENCHMARK_ENV, ENV
from sentibench.core.errors import UserError
from sentibench.core.git import git
from sentibench.core.tables import flatten
from sentibench.core.textfiles import decode_utf8

WORKSPACE = "workspace"
ENV_FILE = ENV.as_posix()


@dataclass(frozen=True)
class Snapshot:
    """What one revision says: its label, flattened metrics (`file.key`), params and env fingerprints (the
    train stage's, and the benchmark's own, which judges the benchmark's timings)."""

    label: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    env: dict[str, Any] | None
    benchmark_env: dict[str, Any] | None = None


def resolve(repo: Path, revision: str) -> str:
    """The commit a revision or experiment name points to; `workspace` stays as it is."""
    if revision == WORKSPACE:
        return revision
    done = git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if done.returncode == 0:
        return done.stdout.strip()
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/").stdout.splitlines()
    matches = [sha for ref, sha in (line.split() for line in refs) if ref.rsplit("/", 1)[-1] == revision]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UserError(f"experiment name '{revision}' is ambiguous ({len(matches)} experiments)")
    raise UserError(f"unknown revision '{revision}' (not a git revision or DVC experiment)")


def read_text(repo: Path, commit: str, path: str) -> str | None:
    """A file as it is at the revision (None when absent there); not UTF-8 is a one-line error naming it."""
    if commit == WORKSPACE:
        file = repo / path
        return decode_utf8(file.read_bytes(), f"{path} at {commit}") if file.is_file() else None
    done = git(repo, "show", f"{commit}:{path}", text=False)
    return decode_utf8(done.stdout, f"{path} at {commit[:12]}") if done.returncode == 0 else None


def pipeline_files(repo: Path, commit: str) -> list[str]:
    """Every dvc.yaml of the repository at this revision (the root one and those in subfolders)."""
    if commit == WORKSPACE:
        found = [p.relative_to(repo) for p in repo.rglob("dvc.yaml")]
        return sorted(f.as_posix() for f in found if not any(part.startswith(".") for part in f.parts))
    listed = git(repo, "ls-tree", "-r", "--name-only", commit).stdout.splitlines()
    return sorted(f for f in listed if posixpath.basename(f) == "dvc.yaml")


def metrics_files(repo: Path, commit: str) -> list[str]:
    """The JSON files, relative to the repository, that any dvc.yaml at this revision declares as metrics or
    as outputs in metrics/ (DVC's metrics are the headline subset; compare reads them all)."""
    paths = []
    for pipeline_file in pipeline_files(repo, commit):
        text = read_text(repo, commit, pipeline_file)
        try:
            pipeline = YAML(typ="safe", pure=True).load(text or "") or {}
        except YAMLError:
            raise UserError(f"{pipeline_file} at {commit[:12]}: not valid YAML") from None
        folder = posixpath.dirname(pipeline_file)
        for stage in (pipeline.get("stages") or {}).values():
            base = posixpath.normpath(posixpath.join(folder, stage.get("wdir", ".")))
            for kind in ("metrics", "outs"):
                for entry in stage.get(kind, []) or []:
                    for path in entry if isinstance(entry, dict) else [entry]:
                        full = posixpath.normpath(posixpath.join(base, path))
                        if kind == "metrics" or (full.startswith("metrics/") and full.endswith(".json")):
                            paths.append(full)
    return paths


def _load_json(repo: Path, commit: str, path: str, label: str) -> Any:
    text = read_text(repo, commit, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise UserError(f"{path} at {label}: not valid JSON") from None


def snapshot(repo: Path, revision: str) -> Snapshot:
    """Everything a comparison needs from one revision; a revision without metrics is an error."""
    commit = resolve(repo, revision)
    metrics: dict[str, Any] = {}
    for path in metrics_files(repo, commit):
        if path == ENV_FILE:  # the fingerprint says whether runs compare; it is not a metric
            continue
        data = _load_json(repo, commit, path, revision)
        if data is not None:
            metrics.update(flatten(data, f"{Path(path).stem}."))
    if not metrics:
        raise UserError(f"revision '{revision}' has no metrics (no metrics files from dvc.yaml)")
    params_text = read_text(repo, commit, "params.yaml")
    try:
        params = flatten(YAML(typ="safe", pure=True).load(params_text) or {}) if params_text else {}
    except YAMLError:
        raise UserError(f"params.yaml at {revision}: not valid YAML") from None
    env = _load_json(repo, commit, ENV_FILE, revision)
    benchmark_env = _load_json(repo, commit, BENCHMARK_ENV.as_posix(), revision)
    return Snapshot(label=revision, metrics=metrics, params=params, env=env, benchmark_env=benchmark_env)


def commits_touching(repo: Path, path: str, count: int) -> list[str]:
    """The newest `count` commits that changed `path`, oldest first."""
    done = git(repo, "log", f"-n{count}", "--format=%H", "--", path)
    if done.returncode != 0:
        raise UserError(f"{repo}: not a git repository")
    return list(reversed(done.stdout.split()))
