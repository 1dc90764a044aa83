"""Microbenchmarks (pytest-benchmark): tokenisation, collation, forward passes of the tiny and rbt3 shapes.

In the test command they run once each (`--benchmark-disable`) and only check their results; as
benchmarks: `pytest tests/benchmarks --benchmark-enable --benchmark-autosave`, then
`pytest-benchmark compare` between saved runs (see the README).
"""

import pytest
import torch
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

from conftest import TINY_PARAMS, TOKENIZER_DIR
from sentibench.core.modeling import architecture_config, load_tokenizer
from sentibench.core.params import ModelParams
from sentibench.stages.sources import load_embedded

SHAPES = {
    "tiny": TINY_PARAMS["model"]["config"],
    "rbt3": {"num_hidden_layers": 3, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ModelParams(tokenizer=str(TOKENIZER_DIR)))


@pytest.fixture(scope="module")
def texts():
    frames, _ = load_embedded()
    return list(frames["all"]["text"][:500])


def test_tokenisation_rows(benchmark, tokenizer, texts):
    encoded = benchmark(tokenizer, texts)
    assert len(encoded["input_ids"]) == 500


def test_collation_of_a_batch(benchmark, tokenizer, texts):
    rows = [
        dict(zip(("input_ids", "token_type_ids", "attention_mask"), values, strict=True))
        for values in zip(
            *(tokenizer(texts[:32])[k] for k in ("input_ids", "token_type_ids", "attention_mask")), strict=True
        )
    ]
    batch = benchmark(DataCollatorWithPadding(tokenizer), rows)
    assert batch["input_ids"].shape[0] == 32


@pytest.mark.parametrize("shape", ["tiny", "rbt3"])
@pytest.mark.parametrize("batch_size", [1, 16])
def test_forward_pass(benchmark, tokenizer, texts, shape, batch_size):
    torch.manual_seed(0)
    config = architecture_config(ModelParams(config=SHAPES[shape]), len(tokenizer), ["negative", "positive"])
    model = AutoModelForSequenceClassification.from_config(config).eval()
    batch = tokenizer(texts[:batch_size], padding="max_length", truncation=True, max_length=64, return_tensors="pt")

    def forward():
        with torch.no_grad():
            return model(**batch).logits

    assert benchmark(forward).shape == (batch_size, 2)
