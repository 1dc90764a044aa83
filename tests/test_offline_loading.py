"""The Hub code paths, run with the network off against files laid out as the Hugging Face cache."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO, TINY_PARAMS, TOKENIZER_DIR, write_params

DATASET_REVISION = "b0c4c119c3fb33b8e735969202ef9ad13d717e5a"
MODEL_REVISION = "0123456789abcdef0123456789abcdef01234567"
POS = ["房间很干净", "书写得真好", "电脑性能不错", "早餐丰富", "位置方便", "值得推荐", "服务周到", "很满意"]
NEG = ["房间很脏", "书很无聊", "电脑经常死机", "态度差", "隔音太差", "不会再来", "很失望", "太贵了"]


def _snapshot(hub, kind, repo_id, revision):
    root = hub / f"{kind}--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(revision)
    folder = root / "snapshots" / revision
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    """An HF_HOME whose hub cache holds lansinuote/ChnSentiCorp and a tiny stand-in for hfl/rbt3."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

    home = tmp_path_factory.mktemp("hf_home")
    data = _snapshot(home / "hub", "datasets", "lansinuote/ChnSentiCorp", DATASET_REVISION) / "data"
    data.mkdir()
    splits = {"train": (POS[:6], NEG[:6]), "validation": (POS[6:7], NEG[6:7]), "test": (POS[7:], NEG[7:])}
    for split, (pos, neg) in splits.items():
        frame = pd.DataFrame({"text": pos + neg, "label": [1] * len(pos) + [0] * len(neg)})
        frame.to_parquet(data / f"{split}-00000-of-00001.parquet")
    model_dir = _snapshot(home / "hub", "models", "hfl/rbt3", MODEL_REVISION)
    config = BertConfig(vocab_size=21128, **TINY_PARAMS["model"]["config"], num_labels=2)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(str(TOKENIZER_DIR)).save_pretrained(model_dir)
    return home


def _stage(module, params, cwd, home):
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", module, "--params", str(params)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_seed_paths_load_from_the_cache_with_the_network_off(hf_home, tmp_path):
    hub = {
        "data": {
            "source": "hub",
            "name": "lansinuote/ChnSentiCorp",
            "revision": DATASET_REVISION,
            "train_rows": None,
            "validation_rows": None,
            "test_rows": None,
        },
        "model": {"source": "hub", "name": "hfl/rbt3", "revision": None, "tokenizer": None},
        "preprocess": {"vocabulary": "full"},
        "train": {"eval_steps": 2, "save_steps": 2},
    }
    params = write_params(tmp_path / "params.yaml", hub)
    for module in ("sentibench.stages.prepare", "sentibench.stages.preprocess", "sentibench.stages.train"):
        done = _stage(module, params, tmp_path, hf_home)
        assert done.returncode == 0, f"{module}: {done.stderr[-2000:]}"
    report = json.loads((tmp_path / "metrics" / "data.json").read_text())
    assert [report["rows"][s]["total"] for s in ("train", "validation", "test")] == [12, 2, 2]
    trained = json.loads((tmp_path / "metrics" / "train.json").read_text())
    assert trained["num_parameters"] == 1_456_450  # the cached tiny weights, not rbt3's 38,478,338
    tokenizer_config = json.loads((tmp_path / "models" / "trained" / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "BertTokenizer"


def test_a_revision_missing_from_the_cache_is_one_clear_error(hf_home, tmp_path):
    params = write_params(
        tmp_path / "params.yaml", {"data": {"source": "hub", "name": "lansinuote/ChnSentiCorp", "revision": "f" * 40}}
    )
    done = _stage("sentibench.stages.prepare", params, tmp_path, hf_home)
    assert done.returncode == 2
    assert "and not in the Hugging Face cache" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()
