"""preprocess: the too-long policies on a text over 512 tokens, and the length report."""

import pandas as pd
import pytest

from conftest import TOKENIZER_DIR
from sentibench.core.modeling import load_tokenizer
from sentibench.core.params import ModelParams
from sentibench.corpus.encoding import ENCODED_FIELDS, length_stats, tokenize_split
from sentibench.corpus.lengths import apply_length_policy

LONG = "".join(f"{'好坏'[i % 2]}" for i in range(600)) + "完"  # 601 characters -> 603 tokens
SHORT = "明月装饰了你的窗子"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ModelParams(tokenizer=str(TOKENIZER_DIR)))


@pytest.fixture(scope="module")
def frame():
    return pd.DataFrame({"text": [SHORT, LONG], "label": [1, 0]})


def test_drop_removes_only_the_long_text(tokenizer, frame):
    columns, stats = tokenize_split(frame, tokenizer, 512, "drop")
    assert columns["text"] == [SHORT]
    assert stats["dropped"] == 1 and stats["truncated"] == 0
    assert stats["tokens"]["max"] == 603 and stats["tokens"]["min"] == 11


@pytest.mark.parametrize("policy", ["truncate_tail", "truncate_head"])
def test_truncation_keeps_special_tokens_and_fields_aligned(tokenizer, frame, policy):
    columns, stats = tokenize_split(frame, tokenizer, 512, policy)
    assert stats["dropped"] == 0 and stats["truncated"] == 1
    full = tokenizer(LONG)["input_ids"]
    ids = columns["input_ids"][1]
    assert len(ids) == 512
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    body = full[1:511] if policy == "truncate_tail" else full[-511:-1]
    assert ids[1:-1] == body
    assert all(len(columns[f][1]) == 512 for f in ENCODED_FIELDS)
    assert columns["input_ids"][0] == tokenizer(SHORT)["input_ids"]  # short rows untouched


def test_policy_cuts_every_field_at_the_same_positions():
    encoded = {
        "input_ids": [[101, 1, 2, 3, 4, 102]],
        "token_type_ids": [[0, 0, 0, 1, 1, 1]],
        "attention_mask": [[1, 1, 1, 1, 0, 1]],
    }
    tail, keep, truncated = apply_length_policy(encoded, 4, "truncate_tail")
    assert tail == {"input_ids": [[101, 1, 2, 102]], "token_type_ids": [[0, 0, 0, 1]], "attention_mask": [[1, 1, 1, 1]]}
    head, _, _ = apply_length_policy(encoded, 4, "truncate_head")
    assert head == {"input_ids": [[101, 3, 4, 102]], "token_type_ids": [[0, 1, 1, 1]], "attention_mask": [[1, 1, 0, 1]]}
    assert keep == [True] and truncated == 1


def test_length_stats():
    assert length_stats([10, 20, 30, 40]) == {"min": 10, "median": 25.0, "p95": 38.5, "max": 40, "mean": 25.0}


def test_max_tokens_beyond_the_position_embeddings_is_one_line(tmp_path, capsys):
    from conftest import write_params
    from sentibench.core.errors import run_cli
    from sentibench.stages import preprocess

    params = write_params(tmp_path / "params.yaml", {"preprocess": {"max_tokens": 1024}})
    code = run_cli(
        preprocess.main, ["--params", str(params), "--prepared", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "max_tokens is 1024, but the model embeds only 512 positions" in err
