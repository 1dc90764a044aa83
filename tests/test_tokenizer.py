"""The embedded tokenizer and rbt3's architecture reproduce the seed's printed numbers."""

import hashlib

from conftest import TOKENIZER_DIR
from sentibench.core.modeling import architecture_config, count_parameters, load_tokenizer
from sentibench.core.params import ModelParams

VOCAB_SHA256 = "45bbac6b341c319adc98a532532882e91a9cefc0329aa57bac9ae761c27b291c"
RBT3 = {"num_hidden_layers": 3, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072}


def test_vocab_is_the_bert_base_chinese_file():
    assert hashlib.sha256((TOKENIZER_DIR / "vocab.txt").read_bytes()).hexdigest() == VOCAB_SHA256


def test_seed_sentences_encode_to_the_seed_ids():
    tokenizer = load_tokenizer(ModelParams(tokenizer=str(TOKENIZER_DIR)))
    encoded = tokenizer(["明月装饰了你的窗子", "你装饰了别人的梦"], truncation=True)
    assert len(tokenizer) == 21128
    assert encoded["input_ids"] == [
        [101, 3209, 3299, 6163, 7652, 749, 872, 4638, 4970, 2094, 102],
        [101, 872, 6163, 7652, 749, 1166, 782, 4638, 3457, 102],
    ]
    assert encoded["token_type_ids"] == [[0] * 11, [0] * 10]
    assert encoded["attention_mask"] == [[1] * 11, [1] * 10]


def test_rbt3_architecture_has_the_seed_parameter_count():
    from transformers import AutoModelForSequenceClassification

    config = architecture_config(ModelParams(config=RBT3), 21128, ["negative", "positive"])
    model = AutoModelForSequenceClassification.from_config(config)
    assert count_parameters(model) == 38_478_338  # the seed prints 3847.8338 (x 10^4)
