"""PCG64 dropout (train.dropout_masks: pcg64): dropout's distribution and scaling, masks that a resumed run
draws again, and bytes pinned across machines."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig

from sentibench.training.dropout import drop_threshold, keep_scale, use_pcg64_dropout

# keep_scale((4, 1000), 0.1, seed=7): its bytes on xeon2 (Intel, AVX-512) and on any x86-64 CPU, since PCG64 and
# the comparison are integer arithmetic; a change here changes every trained weight.
PINNED_SHA256 = "ffbd187b64dc3f0ef6989c3de99d76a1b08e435ac3f8831599d29f7096565b64"


def tiny_bert(hidden_dropout=0.1):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        hidden_dropout_prob=hidden_dropout,
        attention_probs_dropout_prob=0.0,
    )
    return AutoModelForSequenceClassification.from_config(config)


def test_drops_p_of_the_elements_and_scales_the_rest_as_torch_does():
    scale = keep_scale((1000, 1000), 0.1, seed=3)
    kept = scale != 0
    assert abs(1 - kept.mean() - 0.1) < 0.002
    assert drop_threshold(0.1) == 6554  # the drop rate is 6554 / 65536, within 1 / 131072 of p
    expected = (torch.ones(1) / 0.9).numpy()[0]  # torch's dropout divides its 0/1 noise by (1 - p) in float32
    assert scale.dtype == np.float32 and set(np.unique(scale)) == {np.float32(0), expected}


def test_the_same_seed_gives_the_same_bytes_here_and_on_the_recorded_machine():
    scale = keep_scale((4, 1000), 0.1, seed=7)
    assert np.array_equal(scale, keep_scale((4, 1000), 0.1, seed=7))
    assert not np.array_equal(scale, keep_scale((4, 1000), 0.1, seed=8))
    assert hashlib.sha256(scale.tobytes()).hexdigest() == PINNED_SHA256


def test_every_dropout_is_swapped_and_evaluation_is_unchanged():
    stock, swapped = tiny_bert(), tiny_bert()
    # embeddings, the classifier, and in each layer the attention output, the feed-forward output and the
    # attention's own module (which only holds p for the attention function: that dropout stays torch's)
    assert use_pcg64_dropout(swapped) == 8
    assert not any(type(m) is torch.nn.Dropout for m in swapped.modules())
    ids = torch.randint(1, 50, (3, 9), generator=torch.Generator().manual_seed(1))
    stock.eval(), swapped.eval()
    assert torch.equal(stock(input_ids=ids).logits, swapped(input_ids=ids).logits)
    assert swapped.state_dict().keys() == stock.state_dict().keys()


def test_training_masks_come_from_torchs_generator_so_a_resumed_run_draws_them_again():
    model = tiny_bert()
    use_pcg64_dropout(model)
    model.train()
    ids = torch.randint(1, 50, (3, 9), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    first = model(input_ids=ids).logits
    state = torch.get_rng_state()
    second = model(input_ids=ids).logits
    torch.manual_seed(5)
    assert torch.equal(model(input_ids=ids).logits, first)
    torch.set_rng_state(state)  # what the Trainer restores from a checkpoint
    assert torch.equal(model(input_ids=ids).logits, second)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forward_and_backward_multiply_by_the_drawn_scale(dtype):
    model = tiny_bert()
    use_pcg64_dropout(model)
    dropout = model.bert.embeddings.dropout
    x = torch.randn(4, 7, 16, dtype=dtype, requires_grad=True)
    torch.manual_seed(11)
    y = dropout(x)
    torch.manual_seed(11)
    seed = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
    scale = torch.from_numpy(keep_scale((4, 7, 16), 0.1, seed)).to(dtype)
    assert y.dtype == dtype and torch.equal(y, x * scale)
    y.sum().backward()
    assert torch.equal(x.grad, scale)


def test_p_zero_and_evaluation_pass_through():
    model = tiny_bert(hidden_dropout=0.0)
    use_pcg64_dropout(model)
    x = torch.randn(2, 3, 16)
    state = torch.get_rng_state()
    assert torch.equal(model.bert.embeddings.dropout.train()(x), x)
    assert torch.equal(torch.get_rng_state(), state)  # no draw: the RNG stream of a run without dropout is kept
