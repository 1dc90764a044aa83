"""pretrain: the unlabeled corpus, loss at masked positions only, skipping, and resuming to the same bytes."""

import json

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, TrainerCallback

from conftest import write_params
from sentibench.core.contract import SKIPPED_NOTE
from sentibench.core.params import load_params
from sentibench.stages import pretrain as stage
from sentibench.training import pretraining


def test_peoples_daily_is_plain_text_and_never_the_review_splits():
    texts = pretraining.peoples_daily_texts()
    assert len(texts) > 19000
    assert texts[0] == "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）"
    assert not any("/" in t for t in texts[:100])


def test_long_texts_are_cut_into_framed_sequences():
    assert pretraining.chunked(list(range(5)), 2, 101, 102) == [[101, 0, 1, 102], [101, 2, 3, 102], [101, 4, 102]]


def test_loss_only_at_masked_positions_equals_the_full_mlm_loss():
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    ours = pretraining.masked_lm(config).eval()
    full = BertForMaskedLM(config).eval()
    full.load_state_dict(ours.state_dict(), strict=False)
    ids = torch.randint(5, 50, (2, 7))
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 5] = 7, 9
    with torch.no_grad():
        assert ours(input_ids=ids, labels=labels).loss == pytest.approx(full(input_ids=ids, labels=labels).loss.item())
        assert ours(input_ids=ids, labels=labels).logits.shape == (2, 50)  # two masked positions, not 14


def test_a_pretrained_model_is_not_pretrained_again(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", {"model": {"source": "local", "name": str(tmp_path)}})
    out = tmp_path / "pretrained"
    args = ["--params", str(params), "--out", str(out), "--checkpoints", str(tmp_path / "c")]
    stage.main(
        [
            *args,
            "--dvclive",
            str(tmp_path / "d"),
            "--metrics",
            str(tmp_path / "m.json"),
            "--timing",
            str(tmp_path / "t.json"),
        ]
    )
    assert [p.name for p in out.iterdir()] == [SKIPPED_NOTE]
    assert "already pretrained" in json.loads((tmp_path / "m.json").read_text())["skipped"]


class _Interrupt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 9:
            raise KeyboardInterrupt  # after checkpoint-6


class _InterruptAtEnd(TrainerCallback):
    def on_train_end(self, args, state, control, **kwargs):
        raise KeyboardInterrupt  # after the last checkpoint (12), before the encoder is saved


@pytest.mark.parametrize("interrupt", [_Interrupt, _InterruptAtEnd])
def test_interrupted_pretraining_ends_identical(tiny_run, tmp_path, interrupt):
    params = load_params(write_params(tmp_path / "params.yaml"))  # 12 steps, a checkpoint every 6
    tokenized = tiny_run / "tokenized"

    def run(name, callbacks=()):
        out = tmp_path / name
        return pretraining.pretrain(params, tokenized, out / "ckpt", out / "model", out / "live", callbacks)

    full, _ = run("full")
    with pytest.raises(KeyboardInterrupt):
        run("killed", [interrupt()])
    resumed, _ = run("killed")
    assert resumed == full and resumed["steps"] == 12
    for name in ("model/model.safetensors", "live/plots/metrics/loss.tsv"):
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


class _Steps(TrainerCallback):
    """Counts the optimizer steps this process really takes."""

    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


def _stage_args(root, params):
    return [
        *("--params", str(params), "--tokenized", str(root / "tokenized"), "--out", str(root / "pretrained")),
        *("--checkpoints", str(root / "ckpt"), "--dvclive", str(root / "live")),
        *("--metrics", str(root / "m.json"), "--timing", str(root / "t.json")),
    ]


def test_a_finished_pretraining_reruns_instead_of_reloading(tiny_run, tmp_path):
    params = load_params(write_params(tmp_path / "params.yaml"))
    tokenized, out = tiny_run / "tokenized", tmp_path / "run"
    first, steps = pretraining.pretrain(params, tokenized, out / "ckpt", out / "model", out / "live"), _Steps()
    again = pretraining.pretrain(params, tokenized, out / "ckpt", out / "model", out / "live", [steps])
    assert steps.steps == 12  # not the final checkpoint reloaded in 0 s
    assert again[0] == first[0] and again[1]["resumed_from_step"] == 0 and again[1]["pretrain_runtime_s"] > 0


@pytest.mark.parametrize("change", ["runtime", "code"])
def test_an_interrupted_pretraining_resumes_only_with_the_same_runtime_and_code(
    tiny_run, tmp_path, monkeypatch, change
):
    params = load_params(write_params(tmp_path / "params.yaml"))
    tokenized, out = tiny_run / "tokenized", tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        pretraining.pretrain(params, tokenized, out / "ckpt", out / "model", out / "live", [_Interrupt()])
    if change == "runtime":
        params = load_params(write_params(tmp_path / "params.yaml", {"runtime": {"threads": 1}}))
    else:
        monkeypatch.setattr("sentibench.training.checkpoints.code_digest", lambda stage: "other code")
    steps = _Steps()
    _, timing = pretraining.pretrain(params, tokenized, out / "ckpt", out / "model", out / "live", [steps])
    assert steps.steps == 12 and timing["resumed_from_step"] == 0


def test_a_skipped_run_leaves_nothing_that_changes_the_next_good_run(tiny_run, tmp_path):
    good = write_params(tmp_path / "good.yaml")
    skipped = write_params(tmp_path / "skipped.yaml", {"model": {"source": "local", "name": str(tmp_path)}})
    for root in (tmp_path / "clean", tmp_path / "after"):
        root.mkdir()
        (root / "tokenized").symlink_to(tiny_run / "tokenized")
    stage.main(_stage_args(tmp_path / "after", skipped))
    assert (tmp_path / "after" / "live" / SKIPPED_NOTE).is_file()
    for root in (tmp_path / "clean", tmp_path / "after"):
        stage.main(_stage_args(root, good))

    def files(root):  # DVCLive's params.yaml names the run's own checkpoints folder
        live = (p for p in (root / "live").rglob("*") if p.is_file())
        return {p.relative_to(root).as_posix(): p.read_bytes().replace(bytes(root), b"ROOT") for p in live}

    assert files(tmp_path / "after") == files(tmp_path / "clean")
    assert (tmp_path / "after" / "m.json").read_bytes() == (tmp_path / "clean" / "m.json").read_bytes()
