"""Microbenchmarks (pytest-benchmark): tokenisation, collation (two ways), forward passes of the tiny and rbt3 shapes.

In the test command they run once each (`--benchmark-disable`) and only check their results; as
benchmarks: `pytest tests/benchmarks --benchmark-enable --benchmark-autosave`, then
`pytest-benchmark compare` between saved runs (see the README).
"""

import pytest
import torch
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

from conftest import TINY_PARAMS, TOKENIZER_DIR
from sentibench.core.modeling import architecture_config, load_tokenizer
from sentibench.core.padding import padding_collator
from sentibench.core.params import ModelParams
from sentibench.corpus.sources import load_embedded

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


@pytest.mark.parametrize("collate", ["DataCollatorWithPadding", "pad_batch"])
def test_collation_of_a_batch(benchmark, tokenizer, texts, collate):
    """Transformers' collator against sentibench's (the same tensors: tests/test_padding.py), side by side."""
    rows = [
        dict(zip(("input_ids", "token_type_ids", "attention_mask"), values, strict=True))
        for values in zip(
            *(tokenizer(texts[:32])[k] for k in ("input_ids", "token_type_ids", "attention_mask")), strict=True
        )
    ]
    pad = DataCollatorWithPadding(tokenizer) if collate == "DataCollatorWithPadding" else padding_collator(tokenizer)
    batch = benchmark(pad, rows)
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


@pytest.mark.parametrize("tool", ["sentibench predict", "pipeline"])
def test_classifying_500_texts(benchmark, tiny_run, texts, tool):
    """`sentibench predict` against `transformers.pipeline()` on the same packaged model and texts, side by
    side in one run (the pipeline is built outside the timing, predict loads its model inside, so the
    ratio understates predict); benchmark/predict_vs_pipeline.py measures the same at 10,000 texts."""
    import json

    from transformers import pipeline

    from sentibench.use import predict

    folder = tiny_run / "final"
    max_tokens = json.loads((folder / "sentibench.json").read_text())["max_tokens"]
    if tool == "pipeline":
        classify = pipeline("text-classification", model=str(folder), tokenizer=str(folder), device="cpu")
        labels = benchmark(
            lambda: [r["label"] for r in classify(texts, batch_size=64, truncation=True, max_length=max_tokens)]
        )
    else:
        names, probabilities, _ = benchmark(predict.predict, folder, texts, 64)
        labels = [names[i] for i in probabilities.argmax(axis=1)]
    names, probabilities, _ = predict.predict(folder, texts, 1)  # one text a batch: no padding, no sorting
    assert labels == [names[i] for i in probabilities.argmax(axis=1)]
