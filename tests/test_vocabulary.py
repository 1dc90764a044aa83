"""The compact vocabulary: the training ids renumbered, everything else [UNK], and a tokenizer that stands alone."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from tokenizers.models import BPE

from conftest import TOKENIZER_DIR, write_params
from sentibench.core.contract import TOKENIZER, VOCAB_MAP, load_data_tokenizer
from sentibench.core.errors import UserError, run_cli
from sentibench.core.modeling import load_tokenizer
from sentibench.core.params import ModelParams
from sentibench.corpus.vocabulary import compact_tokenizer
from sentibench.stages import preprocess

TRAIN = ["这家酒店的服务很好", "房间太小了, 不过 WiFi 很快", "早餐一般"]
UNSEEN = "鳄鱼"


@pytest.fixture(scope="module")
def full():
    return load_tokenizer(ModelParams(tokenizer=str(TOKENIZER_DIR)))


@pytest.fixture(scope="module")
def compact(full):
    return compact_tokenizer(full, full(TRAIN)["input_ids"], TRAIN)


def test_training_texts_encode_to_the_renumbered_source_ids(full, compact):
    tokenizer, source_ids = compact
    assert source_ids == sorted(source_ids) and len(tokenizer) == len(source_ids) < 60
    renumber = {source: new for new, source in enumerate(source_ids)}
    for text in TRAIN:
        assert tokenizer(text)["input_ids"] == [renumber[i] for i in full(text)["input_ids"]]
    for name in ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"):
        token = getattr(full, name)
        assert getattr(tokenizer, name) == token and source_ids[
            tokenizer.convert_tokens_to_ids(token)
        ] == full.convert_tokens_to_ids(token)


def test_unseen_characters_become_unk(compact):
    tokenizer, _ = compact
    ids = tokenizer(UNSEEN + "很好")["input_ids"]
    assert ids[1:3] == [tokenizer.unk_token_id] * 2 and tokenizer.unk_token_id not in ids[3:]


def test_a_tokenizer_that_is_not_wordpiece_is_refused():
    other = SimpleNamespace(backend_tokenizer=SimpleNamespace(model=BPE()), name_or_path="some-bpe")
    with pytest.raises(UserError, match="needs a WordPiece tokenizer; some-bpe is BPE"):
        compact_tokenizer(other, [[1]], ["a"])


def test_a_pretrained_model_keeps_its_vocabulary(tmp_path, capsys):
    params = write_params(
        tmp_path / "params.yaml",
        {"model": {"source": "local", "name": str(tmp_path)}, "preprocess": {"vocabulary": "compact"}},
    )
    pd.DataFrame({"text": TRAIN, "label": [1, 0, 0]}).to_parquet(tmp_path / "train.parquet")
    argv = ["--params", str(params), "--prepared", str(tmp_path), "--out", str(tmp_path / "out")]
    assert run_cli(preprocess.main, [*argv, "--metrics", str(tmp_path / "m.json")]) == 2
    assert "compact applies to models trained from random weights" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_pipeline_trains_and_packages_the_compact_vocabulary(tiny_run):
    tokenizer = load_data_tokenizer(tiny_run / "tokenized")
    record = json.loads((tiny_run / "tokenized" / VOCAB_MAP).read_text())
    assert record["vocabulary"] == "compact" and record["size"] == len(tokenizer) == len(record["source_ids"]) < 21128
    model_config = json.loads((tiny_run / "final" / "config.json").read_text())
    assert model_config["vocab_size"] == len(tokenizer)
    assert (tiny_run / "final" / "tokenizer.json").read_bytes() == (
        tiny_run / "tokenized" / TOKENIZER / "tokenizer.json"
    ).read_bytes()
    report = json.loads((tiny_run / "preprocess.json").read_text())
    assert report["vocabulary"] == {"kind": "compact", "size": len(tokenizer)}
    unknown = {
        split: report[split]["unknown_tokens_out"] / report[split]["real_tokens_out"] for split in ("train", "test")
    }
    assert unknown["test"] > 5 * unknown["train"]  # 300 training rows see few of the test split's characters
