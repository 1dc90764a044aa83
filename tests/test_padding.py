"""pad_batch and pad_columns return what DataCollatorWithPadding returns, byte for byte: training, evaluation and
predict use them."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, DataCollatorWithPadding

from conftest import TOKENIZER_DIR
from sentibench.core.padding import pad_batch, pad_columns

TEXTS = ["这家酒店很好", "房间太小了，而且隔音不好，下次不会再来", "好", "服务一般般，早餐还可以，价格偏贵"]


def encoded_rows(tokenizer, fields, labels=True):
    encoded = tokenizer(TEXTS)
    rows = [{k: encoded[k][i] for k in fields} for i in range(len(TEXTS))]
    return [{**row, "label": i % 2} for i, row in enumerate(rows)] if labels else rows


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize(
    ("fields", "labels"),
    [
        (("input_ids", "token_type_ids", "attention_mask"), True),
        (("input_ids", "attention_mask"), True),
        (("input_ids", "token_type_ids", "attention_mask"), False),
    ],
)
def test_the_same_tensors_as_the_stock_collator(side, fields, labels):
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR), padding_side=side)
    rows = encoded_rows(tokenizer, fields, labels)
    expected = DataCollatorWithPadding(tokenizer)([dict(row) for row in rows])
    got = pad_batch(rows, tokenizer)
    by_field = pad_columns({key: [row[key] for row in rows] for key in rows[0]}, tokenizer)  # evaluate, predict
    for padded in (got, by_field):
        assert list(padded) == list(expected)
        for key, tensor in expected.items():
            assert padded[key].dtype == tensor.dtype and torch.equal(padded[key], tensor), key
    assert (got["attention_mask"].sum(dim=1) < got["attention_mask"].shape[1]).any()  # some rows were padded


def test_a_field_without_a_padding_value_is_named():
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    rows = [{**row, "offsets": [0]} for row in encoded_rows(tokenizer, ("input_ids",), labels=False)]
    with pytest.raises(ValueError, match="'offsets'"):
        pad_batch(rows, tokenizer)
