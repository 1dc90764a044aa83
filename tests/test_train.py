"""train: the tiny run's outputs, checkpoint validity, and resuming after an interruption."""

import json
import os

import pytest
import torch
from transformers import TrainerCallback

from conftest import write_params
from sentibench.core.contract import COMPLETE_MARKER
from sentibench.core.errors import UserError
from sentibench.core.params import load_params
from sentibench.training import checkpoints, finetune
from sentibench.training.curves import mean_logged_loss
from sentibench.training.measures import steps_to_target

ORIGINAL_CUBLAS_WORKSPACE = os.environ.get("CUBLAS_WORKSPACE_CONFIG")  # read at collection, before any run


def test_tiny_run_writes_model_metrics_and_curves(tiny_run):
    metrics = json.loads((tiny_run / "train.json").read_text())
    timing = json.loads((tiny_run / "train_timing.json").read_text())
    assert metrics["global_step"] == 76  # ceil(300 rows / 16) x 4 epochs
    assert metrics["train_rows"] == 300 and metrics["eval_rows"] == 60
    assert metrics["baseline_eval_accuracy"] == 0.55  # the majority class of the 60 validation rows
    assert metrics["eval_accuracy"] >= 0.7  # it learned: the tests that compare runs compare a real model
    assert metrics["train_loss"] > 0
    assert timing["threads"] == 2 and timing["cpu_capability"]
    assert timing["train_tokens_per_second"] > timing["train_samples_per_second"] > 0
    model_files = {p.name for p in (tiny_run / "model").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} <= model_files
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in model_files)
    curve = (tiny_run / "dvclive" / "plots" / "metrics" / "eval" / "accuracy.tsv").read_text().splitlines()
    assert curve[0].split("\t")[:2] == ["step", "accuracy"]
    steps = ["0", *map(str, range(10, 80, 10)), "76"]  # the baseline, every eval step, the final one
    assert [line.split("\t")[0] for line in curve[1:]] == steps
    record = json.loads((tiny_run / "checkpoints" / "run.json").read_text())
    assert record["complete"] is True


def _fake_checkpoint(root, step, state_step=None, skip=()):
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in checkpoints.CHECKPOINT_FILES:
        if name not in skip:
            if name.endswith(".pt"):
                torch.save({"state": {}}, folder / name)  # loads as data, as the Trainer's own do
            else:
                (folder / name).write_text("x")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": state_step or step}))
    if COMPLETE_MARKER not in skip:
        marker = {"step": step, "sha256": checkpoints.file_digests(folder)}
        (folder / COMPLETE_MARKER).write_text(json.dumps(marker))
    return folder


class _RunsCode:
    """A pickle that would run code when loaded: it creates a file."""

    def __init__(self, witness):
        self.witness = str(witness)

    def __reduce__(self):
        return (open, (self.witness, "w"))


def test_a_checkpoint_file_that_would_run_code_is_refused_and_passed_over(tmp_path, capsys):
    """A pickle in place of optimizer.pt, its marker's SHA-256 made to match: torch refuses it before any code
    runs, the checkpoint is named and passed over for an older intact one, and the run is never stuck."""
    import pickle

    _fake_checkpoint(tmp_path, 10)
    bad = _fake_checkpoint(tmp_path, 20)
    witness = tmp_path / "code-ran"
    (bad / "optimizer.pt").write_bytes(pickle.dumps(_RunsCode(witness)))
    marker = {"step": 20, "sha256": checkpoints.file_digests(bad)}
    (bad / COMPLETE_MARKER).write_text(json.dumps(marker))
    assert checkpoints.newest_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    said = capsys.readouterr().out
    assert "checkpoint-20: not resumable (optimizer.pt would run code when loaded: refused, not loaded" in said
    assert not witness.exists()


def test_newest_checkpoint_skips_half_written_ones(tmp_path):
    _fake_checkpoint(tmp_path, 10)
    _fake_checkpoint(tmp_path, 20, skip=("optimizer.pt",))
    _fake_checkpoint(tmp_path, 25, skip=(COMPLETE_MARKER,))  # killed while saving
    _fake_checkpoint(tmp_path, 30, state_step=20)
    (tmp_path / "checkpoint-40").mkdir()
    assert checkpoints.newest_checkpoint(tmp_path) == tmp_path / "checkpoint-10"


def test_a_checkpoint_damaged_after_its_save_is_named_and_passed_over(tmp_path, capsys):
    _fake_checkpoint(tmp_path, 10)
    damaged = _fake_checkpoint(tmp_path, 20)
    (damaged / "model.safetensors").write_text("")  # truncated on disk after the save finished
    assert checkpoints.newest_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    assert "checkpoint-20: not resumable (model.safetensors is damaged" in capsys.readouterr().out


RUN = {"params": "p", "data": "d", "code": "c"}


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"fingerprint": RUN}, None),
        ({"fingerprint": {**RUN, "code": "other"}}, "they belong to a run with other code"),
        ({"fingerprint": {**RUN, "params": "x", "data": "y"}}, "they belong to a run with other params and data"),
        ({"fingerprint": RUN, "complete": True}, "their run finished"),
        ({"fingerprint": "abc"}, "they were saved by an older sentibench"),
    ],
)
def test_resume_only_an_unfinished_run_of_the_same_configuration(tmp_path, capsys, record, why):
    """Checkpoints that cannot continue this run are deleted with one line naming them and why, never silently."""
    _fake_checkpoint(tmp_path, 10)
    (tmp_path / checkpoints.RUN_FILE).write_text(json.dumps(record))
    checkpoint, _ = checkpoints.resume_point(tmp_path, RUN)
    assert (checkpoint == tmp_path / "checkpoint-10") is (why is None)
    assert (tmp_path / "checkpoint-10").exists() is (why is None)
    said = capsys.readouterr().out
    if why:
        assert f"{tmp_path}: deleting checkpoint-10 ({why}" in said and "training starts from step 0" in said
    else:
        assert "deleting" not in said


def test_a_run_is_fingerprinted_by_its_own_stage_code(tmp_path):
    """An edit to a file the stage does not depend on (another stage, a report) keeps its checkpoints; an edit to
    one of its dvc.yaml deps does not."""
    (tmp_path / "src").mkdir()
    for name in ("train.py", "report.py"):
        (tmp_path / "src" / name).write_text("x = 1\n")
    pipeline = tmp_path / "dvc.yaml"
    pipeline.write_text("stages:\n  train:\n    cmd: x\n    deps:\n      - src/train.py\n      - data\n")
    before = checkpoints.code_digest("train", pipeline)
    (tmp_path / "src" / "report.py").write_text("x = 2  # an edit elsewhere\n")
    assert checkpoints.code_digest("train", pipeline) == before
    (tmp_path / "src" / "train.py").write_text("x = 2\n")
    assert checkpoints.code_digest("train", pipeline) != before


def test_starting_afresh_never_deletes_a_folder_no_run_made(tmp_path):
    folder = tmp_path / "results-of-mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("months of work")
    with pytest.raises(UserError, match=r"results-of-mine: holds files that no sentibench run wrote \(no run.json\)"):
        checkpoints.resume_point(folder, RUN)
    assert (folder / "thesis.tex").read_text() == "months of work"
    (folder / "thesis.tex").unlink()
    assert checkpoints.resume_point(folder, RUN) == (None, {"fingerprint": RUN})  # an empty one is fine


class _Interrupt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 15:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_from_its_newest_checkpoint(tiny_run, tmp_path, monkeypatch):
    params = load_params(write_params(tmp_path / "params.yaml"))
    outputs = [tiny_run / "tokenized", tmp_path / "ckpt", tmp_path / "model", tmp_path / "dvclive"]
    with monkeypatch.context() as patch:
        patch.setattr(finetune, "dvclive_callback", lambda *args, **kwargs: _Interrupt())
        with pytest.raises(KeyboardInterrupt):
            finetune.finetune(params, *outputs)
    assert checkpoints.newest_checkpoint(tmp_path / "ckpt").name == "checkpoint-10"
    assert not (tmp_path / "model").exists()
    metrics, timing = finetune.finetune(params, *outputs)
    assert timing["resumed_from_step"] == 10
    assert metrics["global_step"] == 76
    uninterrupted = json.loads((tiny_run / "train.json").read_text())
    assert metrics["baseline_eval_accuracy"] == uninterrupted["baseline_eval_accuracy"]


def test_mean_logged_loss_weights_each_log_by_its_span():
    history = [
        {"loss": 1.0, "step": 5},
        {"eval_loss": 9.0, "step": 5},
        {"loss": 0.5, "step": 10},
        {"loss": 0.2, "step": 12},
    ]
    assert mean_logged_loss(history) == pytest.approx((5 * 1.0 + 5 * 0.5 + 2 * 0.2) / 12)
    assert mean_logged_loss([{"eval_loss": 1.0, "step": 3}]) is None


def test_deterministic_training_keeps_async_launches_and_its_cublas_workspace(tiny_run):
    """The Trainer's full_determinism would set CUDA_LAUNCH_BLOCKING=1 and a 128 KiB cuBLAS workspace."""
    from sentibench.portable.runtime import CUBLAS_WORKSPACE

    assert os.environ.get("CUDA_LAUNCH_BLOCKING") != "1"
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") in (CUBLAS_WORKSPACE, ORIGINAL_CUBLAS_WORKSPACE)


def test_the_optimizer_portable_bytes_rely_on_is_pinned(tmp_path):
    """The fused AdamW, whatever a Transformers version defaults to: the for-loop one calls a float32 sqrt
    that is 1 ULP off on some CPUs, and portable bytes would then hang on which CPU ran."""
    from sentibench.core.params import Params
    from sentibench.training.trainer import training_arguments

    assert training_arguments(Params(), tmp_path).optim == "adamw_torch_fused"


def test_how_often_a_run_looks_does_not_change_what_it_learns(tiny_run, tmp_path):
    """Evaluating, saving and logging draw from no RNG that training uses: two cadences, same weights."""
    cadences = {
        "often": {"eval_steps": 3, "save_steps": 4, "logging_steps": 2},
        "rarely": {"eval_steps": 19, "save_steps": 19, "logging_steps": 19},
    }
    weights = {}
    for name, cadence in cadences.items():
        params = load_params(write_params(tmp_path / f"{name}.yaml", {"train": cadence}))
        out = tmp_path / name
        metrics, _ = finetune.finetune(params, tiny_run / "tokenized", out / "ckpt", out / "model", out / "dvclive")
        weights[name] = (out / "model" / "model.safetensors").read_bytes()
        assert metrics["global_step"] == 76
    assert weights["often"] == weights["rarely"]


def test_padding_efficiency_and_steps_to_target_are_recorded(tiny_run):
    metrics = json.loads((tiny_run / "train.json").read_text())
    timing = json.loads((tiny_run / "train_timing.json").read_text())
    assert 0.3 < metrics["padding_efficiency"] <= 1
    assert metrics["target_accuracy"] == 0.7
    assert metrics["steps_to_target"] in range(10, 77, 10)  # the timer's target-reached path ran
    assert 0 < timing["seconds_to_target"] < timing["train_runtime_s"]
    assert 0 <= timing["evaluation_share"] < 1 and timing["evaluation_seconds"] >= 0


def test_steps_to_target_is_the_first_evaluation_at_the_target():
    history = [{"eval_accuracy": a, "step": s} for a, s in ((0.5, 0), (0.81, 20), (0.9, 40))]
    assert steps_to_target(history, 0.8) == 20
    assert steps_to_target(history, 0.95) is None
    assert steps_to_target(history, None) is None


def test_a_typo_in_the_model_config_keeps_the_saved_progress(tiny_run, tmp_path):
    """Validation comes before checkpoints/ is touched: the interrupted run stays resumable."""
    _fake_checkpoint(tmp_path / "ckpt", 10)
    (tmp_path / "ckpt" / checkpoints.RUN_FILE).write_text(json.dumps({"fingerprint": "of an earlier run"}))
    params = load_params(write_params(tmp_path / "p.yaml", {"model": {"config": {"hidden_size": 100}}}))
    with pytest.raises(UserError, match="must be a multiple of"):
        finetune.finetune(params, tiny_run / "tokenized", tmp_path / "ckpt", tmp_path / "m", tmp_path / "d")
    assert (tmp_path / "ckpt" / "checkpoint-10").is_dir()
    assert json.loads((tmp_path / "ckpt" / checkpoints.RUN_FILE).read_text()) == {"fingerprint": "of an earlier run"}


def test_evaluation_share_counts_only_the_evaluations_this_process_ran():
    history = [{"eval_runtime": 5.0, "step": 0}, {"eval_runtime": 4.0, "step": 10}, {"eval_runtime": 2.0, "step": 20}]
    assert finetune.evaluation_share(history, 10.0, 0) == {"evaluation_seconds": 6.0, "evaluation_share": 0.6}
    resumed = finetune.evaluation_share(history, 4.0, 10)  # steps 0-10 ran before the kill
    assert resumed == {"evaluation_seconds": 2.0, "evaluation_share": 0.5}


def test_token_counts_are_exact_and_count_only_this_process(tmp_path):
    import torch

    from sentibench.training.measures import PADDING_FILE, padding_counter

    (tmp_path / PADDING_FILE).write_text(json.dumps({"real": 100, "padded": 200}))  # before a resume
    model = torch.nn.Linear(2, 2).train()
    counter = padding_counter(model, tmp_path)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    counter.count(model, (), {"attention_mask": mask})  # what the forward pre-hook does on a training batch
    assert counter.real_tokens_this_process() == 4
    assert counter.counts == {"real": 104, "padded": 208} and counter.efficiency() == 0.5
