"""The trained model is a DVC artifact: dvc.yaml declares `models/final` as a model with a description and
labels, and `dvc artifacts get` fetches it from a clone whose DVC remote holds it, as docs/use.md shows."""

import filecmp
import subprocess
import sys

import yaml

from conftest import REPO

NAME = "sentiment-classifier"


def run(*command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr[-800:]}"
    return done.stdout


def test_the_model_is_declared_where_dvc_users_look_for_it():
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    artifact = pipeline["artifacts"][NAME]
    assert artifact["path"] == "models/final" and artifact["type"] == "model"
    assert artifact["desc"] and "text-classification" in artifact["labels"]
    assert "models/final" in pipeline["stages"]["package"]["outs"]  # the package stage makes what it names
    assert "dvc artifacts get" in (REPO / "docs" / "use.md").read_text(encoding="utf-8")


def test_dvc_artifacts_get_fetches_the_model_from_a_clone_and_its_remote(tmp_path):
    """A repository with this dvc.yaml's artifact and a package stage whose output was pushed to a local remote;
    `dvc artifacts get` from its path gives the same files (the real model's bytes are the pipeline's)."""
    repo, remote, out = tmp_path / "repo", tmp_path / "remote", tmp_path / "fetched"
    repo.mkdir()
    dvc = [sys.executable, "-m", "dvc"]
    identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    run("git", "init", "-q", cwd=repo)
    run(*dvc, "init", "-q", cwd=repo)
    declared = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["artifacts"]
    stage = {"package": {"cmd": "true", "outs": ["models/final"]}}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stage, "artifacts": declared}), encoding="utf-8")
    model = repo / "models" / "final"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"architectures": ["BertForSequenceClassification"]}', encoding="utf-8")
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 16)
    run(*dvc, "commit", "-f", "-q", "package", cwd=repo)
    run(*dvc, "remote", "add", "-d", "local", str(remote), cwd=repo)
    run(*dvc, "push", "-q", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", *identity, "commit", "-qm", "the model", cwd=repo)
    run("git", *identity, "tag", "-a", f"{NAME}@v1.0.0", "-m", "registered", cwd=repo)  # GTO's version tag
    run(*dvc, "artifacts", "get", str(repo), NAME, "-o", str(out), cwd=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    assert all(filecmp.cmp(out / name, model / name, shallow=False) for name in ("config.json", "model.safetensors"))
