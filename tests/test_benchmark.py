"""benchmark: every field on the tiny config, warm-up excluded, padding efficiency and FLOPs by hand."""

import dataclasses
import itertools
import json
from pathlib import Path

import pytest
import torch
from transformers import BertConfig

from conftest import write_params
from sentibench.bench import benchmark, flops
from sentibench.bench.levers import chosen_variants, run_levers, table
from sentibench.bench.paired import compare_speeds
from sentibench.bench.stats import Stats, summarise
from sentibench.core.errors import UserError
from sentibench.core.levers import LEVERS, lever_values, variants
from sentibench.core.params import load_params

QUICK = {
    "warmup_steps": 2,
    "measure_steps": 4,
    "batch_sizes": [1, 4],
    "inference_warmup": 1,
    "min_iterations": 3,
    "min_seconds": 0.01,
    "gemm_size": 128,
}


def test_stage_writes_every_field(tiny_run, tmp_path):
    params = write_params(tmp_path / "params.yaml", {"benchmark": QUICK})
    metrics, curve = tmp_path / "throughput.json", tmp_path / "inference.csv"
    benchmark.main(
        [
            "--params",
            str(params),
            "--tokenized",
            str(tiny_run / "tokenized"),
            "--model-dir",
            str(tiny_run / "model"),
            "--metrics",
            str(metrics),
            "--curve",
            str(curve),
            "--env",
            str(tmp_path / "env.json"),
            "--speed",
            str(tmp_path / "speed.json"),
        ]
    )
    report = json.loads(metrics.read_text())
    training = report["training"]
    for key in ("samples_per_second", "tokens_per_second", "padded_tokens_per_second", "step_seconds"):
        assert set(training[key]) == {f.name for f in dataclasses.fields(Stats)}
        assert training[key]["n"] == 4
    assert len(training["step_seconds"]["warmup"]) == 2 and training["step_seconds"]["unit"] == "s"
    assert training["tokens_per_second"]["median"] < training["padded_tokens_per_second"]["median"]
    assert 0 < training["padding_efficiency"] <= 1
    assert 0 < training["model_flops_utilisation_real_tokens"] < training["model_flops_utilisation"] < 1
    assert training["peak_matmul_flops_per_second"] > training["achieved_flops_per_second"] > 0
    inference = report["inference"]
    assert [r["batch_size"] for r in inference["by_batch_size"]] == [1, 4]
    latency = inference["batch_1_latency"]
    assert latency["iterations"] >= 3 and latency["p50_ms"] <= latency["p99_ms"]
    assert {"mean_ms", "p90_ms", "stdev_ms", "rows_per_second"} <= set(latency)
    assert latency["iterations"] % 12 == 0  # whole passes over the pool: max(batch_sizes) 4 x min_iterations 3
    widest = inference["by_batch_size"][-1]
    assert latency["padding_efficiency"] == 1  # one row a batch: no padding
    assert widest["padding_efficiency"] > widest["given_order_padding_efficiency"]  # sorting removes padding
    assert report["memory"]["peak_rss_mib"] > 0 and "cuda_max_allocated_mib" in report["memory"]
    assert "environment" not in report  # not a metric: it goes beside it
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["runtime"]["deterministic"] is False  # speed runs outside deterministic mode
    header = curve.read_text().splitlines()[0].split(",")
    assert header[:3] == ["batch_size", "rows_per_second", "padding_efficiency"] and "given_order_p50_ms" in header


def test_a_slow_first_step_is_warm_up_not_measured(tiny_run, tmp_path):
    """A fake clock makes the first step take 100 s; with one warm-up step it is not in any statistic."""
    ticks = itertools.count()
    # the peak's five timed GEMMs before the steps read the clock ten times, the step timer's start once more:
    # the reading after those ends the first step
    slow_first_end = 11

    def clock():
        tick = next(ticks)
        return tick * 0.01 + (100.0 if tick >= slow_first_end else 0.0)

    params = load_params(write_params(tmp_path / "params.yaml", {"benchmark": {**QUICK, "warmup_steps": 1}}))
    from sentibench.core.contract import load_data_tokenizer, load_tokenized

    tokenized = tiny_run / "tokenized"
    training = benchmark.measure_training(params, load_tokenized(tokenized), load_data_tokenizer(tokenized), clock)
    assert training["measured_steps"] == 4
    assert training["step_seconds"]["max"] == pytest.approx(0.01)
    assert training["step_seconds"]["median"] == pytest.approx(0.01)


def test_padding_efficiency_of_hand_made_batches():
    first = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    second = torch.tensor([[1, 0]])
    assert benchmark.padding_efficiency([first]) == 6 / 8
    assert benchmark.padding_efficiency([first, second]) == 7 / 10


def test_bert_flops_per_token_match_a_hand_count():
    config = BertConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2)
    # per layer: QKV+output 4*64*64, feed-forward 2*64*128, attention 2*10*64; x2 FLOPs per MAC, x2 layers
    assert flops.bert_forward_flops_per_token(config, 10) == 2 * 2 * (16384 + 16384 + 1280)
    assert flops.training_flops_per_token(config, 10) == 3 * 136192
    rbt3 = BertConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=3)
    assert flops.bert_forward_flops_per_token(rbt3, 0) == 2 * 3 * 7_077_888  # 2 x encoder matmul weights


def test_one_statistics_type_keeps_unit_and_warmup():
    stats = summarise([1.0, 2.0, 3.0, 4.0], "ms", warmup=[9.0])
    assert stats.mean == pytest.approx(2.5) and stats.median == pytest.approx(2.5)
    assert (stats.p10, stats.p90, stats.min, stats.max, stats.n) == (1.0, 4.0, 1.0, 4.0, 4)
    assert stats.as_dict()["unit"] == "ms" and stats.as_dict()["warmup"] == [9.0]
    assert summarise([3.0, 1.0, 2.0], "s").median == 2.0


def test_levers_each_change_one_thing(tmp_path):
    params = load_params(write_params(tmp_path / "params.yaml"))
    found = variants(params)
    assert len(found) == 1 + sum(len(lever.trials) - 1 for lever in LEVERS)  # one of each lever's trials is current
    assert found["train.sampler: random"].train.sampler == "random" != params.train.sampler
    assert found["runtime.threads: 1"].runtime.threads == 1
    for name, variant in found.items():
        changed = [k for k in lever_values(params) if lever_values(variant)[k] != lever_values(params)[k]]
        expected = 0 if name == "current params" else 2 if name.endswith("(portable off)") else 1
        assert len(changed) == expected, name  # bf16 turns portable off too: a lever of native kernels only
    no_dropout = found["model.config.hidden_dropout_prob: 0.0"].model.config
    assert no_dropout == {**params.model.config, "hidden_dropout_prob": 0.0}  # one key of the mapping, the rest kept

    rows = [
        {
            "lever": "group",
            **compare_speeds([100.0] * 40, [150.0] * 40, "tokens/s", 0.05).as_dict(),
            "changes_weights": True,
            "kernels": "ATen AVX2",
        }
    ]
    [line] = table(rows, "text").splitlines()[1:]
    assert line.split()[:7] == ["group", "100", "150", "1.500x", "[1.500,", "1.500]", "faster"]
    assert line.split()[-4:] == ["40", "yes", "ATen", "AVX2"]


def test_model_levers_exist_only_for_a_model_built_from_its_config(tmp_path):
    pretrained = {"model": {"source": "local", "name": str(tmp_path)}}
    params = load_params(write_params(tmp_path / "params.yaml", pretrained))
    assert not any(key.startswith("model.") for key in lever_values(params))
    assert not any(name.startswith("model.") for name in variants(params))


def test_a_lever_read_when_torch_loads_is_measured_in_its_own_process(tiny_run, tmp_path):
    from sentibench.bench.lockstep import Plan
    from sentibench.bench.paired import MIN_BLOCKS
    from sentibench.core.levers import needs_own_process

    params_file = write_params(tmp_path / "params.yaml", {"benchmark": {**QUICK, "warmup_steps": 1}})
    params = load_params(params_file)  # portable, the default
    named = variants(params)
    assert needs_own_process(params, named["runtime.portable: False"])
    assert not needs_own_process(params, named["runtime.threads: 1"])
    assert needs_own_process(params, named["train.bf16: True (portable off)"])  # bf16 needs native kernels
    assert not named["train.bf16: True (portable off)"].runtime.portable
    plan = Plan(budget=0.1, warmup=1)  # the fewest whole blocks that can say anything
    native, candidate = run_levers(
        params_file, tiny_run / "tokenized", ["runtime.portable: False", "kernels: MKL_CBWR=AVX2"], plan
    )
    for row in (native, candidate):
        assert row["pairs"] == len(row["a_speeds"]) == len(row["b_speeds"]) == 2 * MIN_BLOCKS
        assert row["low"] <= row["ratio"] <= row["high"] and row["verdict"] in (
            "faster",
            "slower",
            "same",
            "inconclusive",
        )
    assert "MKL_CBWR" not in native["kernels"]  # native: none of this process's portable variables leak in
    if "avx512f" in Path("/proc/cpuinfo").read_text().split():
        assert native["kernels"].startswith("ATen AVX512")
    assert native["changes_weights"]  # MKL's or AVX-512's products, not portable's OpenBLAS
    assert candidate["kernels"] == "ATen AVX2, MKL_CBWR=AVX2"
    with pytest.raises(UserError, match=r"no tokenized data set here"):
        run_levers(params_file, tmp_path / "nothing-here", ["runtime.portable: False"], plan)
    with pytest.raises(UserError, match=r"--only bogus: no lever starts with that"):
        chosen_variants(params, ["bogus"])


def test_lockstep_pairs_train_the_same_batches_and_a_failing_worker_is_named(tiny_run, tmp_path):
    """A/A in two workers: after the same number of lockstep steps the weights are identical, so both sides
    trained on the same batches in the same order; a worker that dies is one line naming its side."""
    from sentibench.bench.lockstep import Plan, Side, measure

    params_file = write_params(tmp_path / "params.yaml", {"benchmark": {**QUICK, "warmup_steps": 1}})
    common = ["--params", str(params_file), "--tokenized", str(tiny_run / "tokenized"), "--inference-batch-size", "4"]
    phases, trained = measure(Side("A", common), Side("B", common), Plan(budget=0.1, warmup=1), inference=True)
    assert [p.phase for p in phases] == ["training", "inference"]
    assert trained["A"]["weights_sha256"] == trained["B"]["weights_sha256"]
    assert all(p.comparison.pairs >= 12 for p in phases)
    broken = ["--params", str(tmp_path / "missing.yaml"), "--tokenized", str(tiny_run / "tokenized")]
    with pytest.raises(UserError, match=r"the worker for 'broken' ended \(exit \d+\): .*missing\.yaml"):
        measure(Side("A", common), Side("broken", broken), Plan(budget=0.1, warmup=1))


def test_a_slow_setting_says_so_with_its_measured_factor(monkeypatch):
    from sentibench.portable import runtime

    monkeypatch.setattr(runtime, "cpu_identity", lambda: {"vendor": "AuthenticAMD", "isa": ["avx2", "fma"]})
    monkeypatch.setattr(runtime.platform, "machine", lambda: "x86_64")
    [portable] = runtime.slow_lever_notes(portable=True, bf16=False)
    assert "about 0.8x native speed" in portable and "docs/results.md#portable-speed" in portable
    [bf16] = runtime.slow_lever_notes(portable=False, bf16=True)
    assert "without bf16 instructions" in bf16 and "0.08x" in bf16
    monkeypatch.setattr(runtime, "cpu_identity", lambda: {"vendor": "GenuineIntel", "isa": ["avx2", "amx_bf16"]})
    assert runtime.slow_lever_notes(portable=False, bf16=True) == []


def test_length_sorted_batches_cover_the_pool_once_with_less_padding():
    lengths = [5, 50, 6, 48, 7, 52, 4, 49]
    for length_sorted in (True, False):
        batches = benchmark.inference_batches(lengths, 2, length_sorted)
        assert sorted(i for batch in batches for i in batch) == list(range(8))

    def padded(batches):
        return sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)

    assert padded(benchmark.inference_batches(lengths, 2, True)) < padded(
        benchmark.inference_batches(lengths, 2, False)
    )
    assert benchmark.inference_batches(lengths, 2, True) == benchmark.inference_batches(lengths, 2, True)  # seeded


def test_scaling_changes_one_axis_at_a_time_and_measures_each_in_its_own_process(tiny_run, tmp_path, capsys):
    from sentibench.bench import scaling

    params = load_params(write_params(tmp_path / "params.yaml", {"benchmark": QUICK}))
    found = scaling.variants(params)
    assert found["current params"] == (params, None) and found["rows 2000"] == (params, 2000)
    tokens, _ = found["max_tokens 64"]
    assert tokens.preprocess.max_tokens == 64 and tokens.model == params.model and tokens.train == params.train
    wide, _ = found["shape: rbt3 shape"]
    assert wide.model.config["hidden_size"] == 768 and wide.preprocess == params.preprocess
    args = ["--params", str(tmp_path / "params.yaml"), "--prepared", str(tiny_run / "prepared")]
    args += ["--tokenized", str(tiny_run / "tokenized"), "--only", "max_tokens 64", "--format", "md"]
    scaling.main(args)
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()[2:]]
    assert [r[0].lstrip("| ") for r in rows] == ["current params", "max_tokens 64"]
    assert float(rows[1][4]) < float(rows[0][4])  # fewer real tokens a row at the lower limit
    assert all(float(r[7].rstrip(" |")) > 0 for r in rows)  # each process's own peak RSS
