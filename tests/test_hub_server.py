"""The seed's online path through the real clients, against a Hub-compatible server on this machine.

The server is olah (PyPI `olah`, maintained, MIT): with `offline = true` it serves git repositories in
a mirrors folder through the Hub's HTTP API (`/api/{type}s/{id}/revision/{rev}`, `/tree`, `/resolve`)
and never contacts huggingface.co. (`hf-local-hub`, the other candidate, ships only a client: its server
is a Go binary the wheel does not contain.) The repositories are laid out as `hfl/rbt3` and
`lansinuote/ChnSentiCorp` are: the model's file names and a BERT tokenizer with its special tokens
(random weights of the tiny test shape), the dataset's `data/{split}-00000-of-00001.parquet` with
`text` and `label`. Each has a second commit on `main` that the pinned revision must not see.
A gated repository is the one case olah cannot serve (its mirrors have no gating): for it, a minimal
server answers every request as the Hub answers for a gated repository one has not been granted
(403 with `X-Error-Code: GatedRepo`), through the same real clients.
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, TINY_PARAMS, TOKENIZER_DIR, copy_repository

# olah lives in a venv of its own (requirements/hub.txt, `make test` builds it): its fastapi-utils pins psutil<6
HUB_PYTHON = Path(os.environ.get("SENTIBENCH_HUB_PYTHON", REPO / ".venv-hub" / "bin" / "python"))
if not HUB_PYTHON.is_file():
    pytest.skip(f"olah serves the Hub API here, from {HUB_PYTHON} (make test builds it)", allow_module_level=True)


def _git(folder, *args):
    identity = ["-c", "user.name=hub", "-c", "user.email=hub@sentibench.invalid"]
    done = subprocess.run(["git", *identity, *args], cwd=folder, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _commit(folder, message):
    _git(folder, "add", "-A")
    _git(folder, "commit", "-qm", message)
    return _git(folder, "rev-parse", "HEAD")


def _model_repo(folder):
    """hfl/rbt3's files (config, safetensors weights, vocab and tokenizer files, card) at the tiny shape."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    folder.mkdir(parents=True)
    _git(folder, "init", "-q", "-b", "main")
    config = BertConfig(vocab_size=21128, **TINY_PARAMS["model"]["config"])
    BertForMaskedLM(config).save_pretrained(folder)  # rbt3 is a pretrained encoder, not a classifier
    AutoTokenizer.from_pretrained(str(TOKENIZER_DIR)).save_pretrained(folder)
    (folder / "README.md").write_text("---\nlanguage: zh\nlicense: apache-2.0\n---\n# tiny stand-in for rbt3\n")
    pinned = _commit(folder, "rbt3")
    (folder / "model.safetensors").unlink()  # main moves on: no safetensors weights there
    without_weights = _commit(folder, "drop the weights")
    return pinned, without_weights


def _dataset_repo(folder, prepared):
    """lansinuote/ChnSentiCorp's layout with the tiny run's prepared splits; main later loses most rows."""
    (folder / "data").mkdir(parents=True)
    _git(folder, "init", "-q", "-b", "main")
    for split in ("train", "validation", "test"):
        frame = pd.read_parquet(prepared / f"{split}.parquet")[["text", "label"]]
        frame.to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet", index=False)
    pinned = _commit(folder, "ChnSentiCorp")
    frame = pd.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
    frame.head(20).to_parquet(folder / "data" / "train-00000-of-00001.parquet", index=False)
    _commit(folder, "a later revision with fewer rows")
    return pinned


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def hub(tiny_run, tmp_path_factory):
    """olah serving the two repositories on 127.0.0.1; yields (endpoint, revisions)."""
    root = tmp_path_factory.mktemp("hub")
    model, without_weights = _model_repo(root / "mirrors" / "models" / "hfl" / "rbt3")
    dataset = _dataset_repo(root / "mirrors" / "datasets" / "lansinuote" / "ChnSentiCorp", tiny_run / "prepared")
    port = _free_port()
    config = {
        "basic": {
            "host": "127.0.0.1",
            "port": port,
            "repos-path": str(root / "olah-cache"),
            "mirrors-path": [str(root / "mirrors")],
            "mirror-netloc": f"127.0.0.1:{port}",
            "mirror-lfs-netloc": f"127.0.0.1:{port}",
        },
        "accessibility": {"offline": True},
    }
    (root / "olah.toml").write_text("\n".join(_toml(config)))
    log = (root / "olah.log").open("w")
    server = subprocess.Popen(
        [str(HUB_PYTHON), "-m", "olah.server", "-c", str(root / "olah.toml")], cwd=root, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # started once it accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert server.poll() is None, (root / "olah.log").read_text()[-2000:]
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", {"model": model, "without_weights": without_weights, "dataset": dataset}
    server.terminate()
    server.wait(timeout=30)


def _toml(config):
    for section, values in config.items():
        yield f"[{section}]"
        yield from (f"{key} = {json.dumps(value)}" for key, value in values.items())


def _env(home, endpoint=None, offline=False):
    env = {**os.environ, "HF_HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update({"HF_HUB_OFFLINE": "1" if offline else "0", "HF_DATASETS_OFFLINE": "1" if offline else "0"})
    env["HF_ENDPOINT"] = endpoint or "http://127.0.0.1:9"  # offline: nothing may be asked of any server
    return env


def _seed_checkout(root, revisions):
    """A repository copy with `sentibench profile seed` applied, pinned to the served revisions, sizes shrunk."""
    copy_repository(root)
    shutil.copy2(REPO / "params.yaml", root / "params.yaml")  # the project's params, not the tiny test overlay
    done = subprocess.run([sys.executable, "-m", "sentibench.cli", "profile", "seed"], cwd=root, capture_output=True)
    assert done.returncode == 0, done.stderr[-2000:]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["data"].update(revision=revisions["dataset"], train_rows=None, validation_rows=None, test_rows=None)
    params["model"].update(revision=revisions["model"])
    params["train"].update(eval_steps=10, save_steps=10)  # the served data is small: 19 steps
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return root


def test_the_seed_profile_runs_end_to_end_through_the_hub_clients_then_offline_from_the_cache(hub, tmp_path):
    endpoint, revisions = hub
    checkout, home = _seed_checkout(tmp_path / "repo", revisions), tmp_path / "hf_home"
    online = subprocess.run(["dvc", "repro"], cwd=checkout, env=_env(home, endpoint), capture_output=True, text=True)
    assert online.returncode == 0, online.stdout[-3000:] + online.stderr[-3000:]
    data = json.loads((checkout / "metrics" / "data.json").read_text())
    assert data["rows"]["train"]["total"] == 300  # the pinned revision's rows, not main's 20
    trained = json.loads((checkout / "metrics" / "train.json").read_text())
    assert trained["initialised_from"] == "hub" and trained["num_parameters"] == 1_456_450  # the served weights
    cache = home / "hub"
    assert (cache / "models--hfl--rbt3" / "snapshots" / revisions["model"] / "model.safetensors").exists()
    assert (cache / "datasets--lansinuote--ChnSentiCorp" / "snapshots" / revisions["dataset"]).is_dir()
    evaluation = (checkout / "metrics" / "eval.json").read_bytes()
    offline = subprocess.run(
        ["dvc", "repro", "--force"], cwd=checkout, env=_env(home, offline=True), capture_output=True, text=True
    )
    assert offline.returncode == 0, offline.stdout[-3000:] + offline.stderr[-3000:]
    assert (checkout / "metrics" / "eval.json").read_bytes() == evaluation  # the cache served the same run


def _the_one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """A stage's bad-input exit: status 2, one `error:` line (returned), no traceback."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("stage", "change", "message"),
    [
        ("prepare", {"data": {"revision": "f" * 40}}, "fff: the server has no such file, or no such revision"),
        ("prepare", {"data": {"name": "x/NoSuchCorp", "revision": None}}, "x/NoSuchCorp@main: no such repository"),
        ("train", {"model": {"revision": "without_weights"}}, "no file named model.safetensors at that revision"),
    ],
)
def test_a_wrong_revision_repository_or_missing_file_is_one_line(hub, tmp_path, tiny_run, stage, change, message):
    endpoint, revisions = hub
    checkout = _seed_checkout(tmp_path / "repo", revisions)
    params = yaml.safe_load((checkout / "params.yaml").read_text(encoding="utf-8"))
    for section, values in change.items():
        params[section].update({k: revisions.get(v, v) if v else v for k, v in values.items()})
    (checkout / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    args = []
    if stage == "train":  # its inputs from the tiny run: only the model comes from the server
        args = ["--tokenized", str(tiny_run / "tokenized"), "--pretrained", str(tmp_path / "none")]
    env = {**_env(tmp_path / "hf_home", endpoint), "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", f"sentibench.stages.{stage}", *args]
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    assert message in _the_one_error_line(done)


class _Gate(http.server.BaseHTTPRequestHandler):
    """The Hub's answer for a gated repository whose terms were not accepted, to every request."""

    def _deny(self):
        self.send_response(403)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("X-Error-Message", "Access to this repository is restricted. You must accept its terms.")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _deny

    def log_message(self, *args):
        pass


def test_a_gated_repository_is_one_line(hub, tmp_path):
    _, revisions = hub
    checkout = _seed_checkout(tmp_path / "repo", revisions)
    gate = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gate)
    threading.Thread(target=gate.serve_forever, daemon=True).start()
    try:
        env = {
            **_env(tmp_path / "hf_home", f"http://127.0.0.1:{gate.server_address[1]}"),
            "PYTHONPATH": str(REPO / "src"),
        }
        command = [sys.executable, "-m", "sentibench.stages.prepare"]
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    finally:
        gate.shutdown()
    error = _the_one_error_line(done)
    assert "lansinuote/ChnSentiCorp@" in error and "a gated repository: accept its terms" in error
    assert not (checkout / "data" / "prepared").exists()
