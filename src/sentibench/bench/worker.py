"""A persistent measuring process, stepped in lockstep by bench/lockstep.py: one training step (or one inference
batch) each time it is told, its seconds and tokens sent back, then it waits.

It runs as a file (`python worker.py`), never as a module, so that `--src` can put another revision's
package first on the path: every `sentibench` import below is then that revision's own code, and what it
needs of that revision is only `load_params`, `apply_runtime` (in `portable.runtime`, or `core.runtime` in a
revision older than that room), `load_tokenized`, `load_data_tokenizer`, `ENCODED_FIELDS`, `synchronize` and
the benchmark's `measure_training(params, dataset, tokenizer, callbacks=...)` and `inference_batches`. Training
runs that revision's benchmark steps; a callback of this file holds the Trainer at the end of each step until the
next command.

With `--classify predict|pipeline` it trains nothing: it classifies chunks of texts with `sentibench predict`'s
code or with transformers' pipeline, one chunk a turn (benchmark/predict_vs_pipeline.py).

Protocol: this file writes one JSON object per line after MARK on standard output (other output is ignored)
and reads one command per line: `step` (training), `infer` (the next inference batch), `end` (leave this
phase). A closed standard input means `end` too, so an orphaned worker finishes instead of hanging.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARK = "@sentibench-worker "
MANY_STEPS = 1_000_000  # the Trainer's max_steps: the parent ends training with `end`, long before


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(message) + "\n")
    sys.stdout.flush()


def receive() -> str:
    return sys.stdin.readline().strip() or "end"


def extra_work(size: int, repeats: int) -> Any:
    """A fixed amount of known work per training step (`repeats` fp32 products of two size x size matrices,
    2 size^3 FLOPs each): the known slowdown that shows whether a comparison sees what is there."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(size, size, generator=generator), torch.randn(size, size, generator=generator)

    def run() -> float:
        started = time.perf_counter()
        for _ in range(repeats):
            torch.mm(x, y)
        return time.perf_counter() - started

    return run


def lockstep_callback(extra: Any) -> Any:
    """Holds the Trainer after every step until the parent says `step` again (or `end`); times each step
    from the moment it was let go, so the wait is never counted, and fetching its batch is."""
    from transformers import TrainerCallback

    from sentibench.bench.flops import synchronize

    class Lockstep(TrainerCallback):
        tokens = rows = 0
        started = extra_seconds = 0.0
        model: Any = None

        def count(self, _module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
            mask = kwargs["attention_mask"]
            self.tokens += int(mask.sum())
            self.rows += int(mask.shape[0])

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            self.model = model
            model.register_forward_pre_hook(self.count, with_kwargs=True)
            send({"ready": "training"})
            self.wait(control)

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if extra:
                self.extra_seconds = extra()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            synchronize()
            seconds = time.perf_counter() - self.started
            send({"seconds": seconds, "tokens": self.tokens, "rows": self.rows, "extra_seconds": self.extra_seconds})
            self.tokens = self.rows = 0
            self.wait(control)

        def wait(self, control: Any) -> None:
            if receive() != "step":
                control.should_training_stop = True
            self.started = time.perf_counter()

    return Lockstep()


def inference_batches(model: Any, tokenizer: Any, test: Any, batch_size: int) -> list[dict[str, Any]]:
    """The test split cut as the benchmark stage cuts it (its `inference_batches`: length-sorted, each batch
    padded to its own longest row, in a seeded shuffled order): the same batches in the same order on every side
    whose revision cuts them alike."""
    from sentibench.bench.benchmark import inference_batches as cut
    from sentibench.core.contract import ENCODED_FIELDS

    rows = test.select_columns(list(ENCODED_FIELDS))
    groups = cut([len(row["input_ids"]) for row in rows], batch_size, length_sorted=True)
    device = next(model.parameters()).device
    padded = (tokenizer.pad([rows[i] for i in group], return_tensors="pt") for group in groups)
    return [{name: value.to(device) for name, value in batch.items()} for batch in padded]


def serve_turns(ready: str, items: list[Any], turn: Callable[[Any], dict[str, int]]) -> None:
    """Say `ready`, then answer each `infer` with `turn` of the next item (cycling), timed, until `end`."""
    import torch

    send({"ready": ready})
    with torch.inference_mode():
        index = 0
        while receive() == "infer":
            item = items[index % len(items)]
            index += 1
            started = time.perf_counter()
            counted = turn(item)
            send({"seconds": time.perf_counter() - started, **counted})


def serve_inference(model: Any, batches: list[dict[str, Any]]) -> None:
    """Answer `infer` with the next batch's forward pass (cycling), until `end`."""
    from sentibench.bench.flops import synchronize

    def forward(batch: dict[str, Any]) -> dict[str, int]:
        model(**batch)
        synchronize()
        mask = batch["attention_mask"]
        return {"tokens": int(mask.sum()), "rows": int(mask.shape[0])}

    model.eval()
    serve_turns("inference", batches, forward)


def serve_classification(kind: str, model_dir: Path, texts: list[str], chunk: int, batch_size: int) -> None:
    """Answer `infer` with the next `chunk` texts (cycling) classified by `sentibench predict`'s code (`predict`) or
    by transformers' `pipeline("text-classification")` (`pipeline`), both loaded once, before `ready`; at `end`,
    the SHA-256 of every label given in order, so the parent can see that both sides agreed."""
    import hashlib

    from sentibench.use.predict import classify, load_classifier

    classifier = load_classifier(model_dir)
    if kind == "pipeline":
        from transformers import pipeline

        run = pipeline("text-classification", model=classifier.model, tokenizer=classifier.tokenizer, device="cpu")

        def labels_of(part: list[str]) -> list[str]:
            found = run(part, batch_size=batch_size, truncation=True, max_length=classifier.max_tokens)
            return [row["label"] for row in found]
    else:

        def labels_of(part: list[str]) -> list[str]:
            names, probabilities, _ = classify(classifier, part, batch_size)
            return [names[i] for i in probabilities.argmax(axis=1)]

    digest = hashlib.sha256()

    def labelled(part: list[str]) -> dict[str, int]:
        digest.update(json.dumps(labels_of(part)).encode())
        return {"tokens": len(part), "rows": len(part)}

    serve_turns("classification", [texts[start : start + chunk] for start in range(0, len(texts), chunk)], labelled)
    send({"labels_sha256": digest.hexdigest()})


def configured(args: argparse.Namespace) -> tuple[Any, dict[str, str] | None]:
    """The params this worker trains with, and the kernel pins of a candidate pinning (None: its params')."""
    from sentibench.core.params import load_params

    params = load_params(args.params)
    pins = None
    if args.variant:  # a lever of `sentibench levers`: always this checkout's code, never --src
        from sentibench.bench.levers import variant_params

        params, pins = variant_params(params, args.variant)
    runtime = dataclasses.replace(params.runtime, deterministic=args.deterministic)
    if args.native:  # as the benchmark stage measures: this CPU's own kernels
        runtime = dataclasses.replace(runtime, portable=False)
    benchmark = dataclasses.replace(params.benchmark, measure_steps=MANY_STEPS)
    return dataclasses.replace(params, runtime=runtime, benchmark=benchmark), pins


def runtime_module() -> Any:
    """The revision's runtime pins: in sentibench.portable since the portable room, in sentibench.core before."""
    import importlib

    try:
        return importlib.import_module("sentibench.portable.runtime")
    except ModuleNotFoundError:
        return importlib.import_module("sentibench.core.runtime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, help="a revision's src/ folder, imported instead of this checkout's")
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--tokenized", type=Path, help="the tokenized data a training side trains on")
    parser.add_argument("--classify", choices=("predict", "pipeline"), help="classify texts instead of training")
    parser.add_argument("--model", type=Path, help="with --classify: the model folder")
    parser.add_argument("--texts", type=Path, help="with --classify: a JSON list of texts")
    parser.add_argument("--chunk", type=int, default=1000, help="with --classify: texts per turn")
    parser.add_argument("--batch-size", type=int, default=64, help="with --classify: rows per forward pass")
    parser.add_argument("--variant", help="a lever's variant name, as `sentibench levers` lists them")
    parser.add_argument("--native", action="store_true", help="this CPU's fastest kernels (runtime.portable: false)")
    parser.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--extra-matmul", type=int, nargs=2, metavar=("SIZE", "REPEATS"), help="known extra work")
    parser.add_argument("--inference-batch-size", type=int, default=0, help="0: no inference phase")
    args = parser.parse_args()
    if args.src:  # in place of this file's own folder, which is no package root
        sys.path[0] = str(args.src.resolve())
    else:
        del sys.path[0]

    if args.classify:  # this checkout's code, its CPU's own kernels, the params' thread count
        import torch

        from sentibench.core.params import load_params

        torch.set_num_threads(load_params(args.params).runtime.threads)
        texts = json.loads(args.texts.read_text(encoding="utf-8"))
        serve_classification(args.classify, args.model, texts, args.chunk, args.batch_size)
        return
    runtime = runtime_module()
    params, pins = configured(args)
    runtime.apply_runtime(params.runtime, **({"native_pins": pins} if pins else {}))
    from sentibench.bench.benchmark import measure_training
    from sentibench.core.contract import load_data_tokenizer, load_tokenized

    dataset, tokenizer = load_tokenized(args.tokenized), load_data_tokenizer(args.tokenized)
    lockstep = lockstep_callback(extra_work(*args.extra_matmul) if args.extra_matmul else None)
    trained = measure_training(params, dataset, tokenizer, callbacks=[lockstep])
    kernels = runtime.kernels_in_use() if hasattr(runtime, "kernels_in_use") else None
    import sentibench

    send({"trained": {"weights_sha256": trained["weights_sha256"], "kernels": kernels, "code": sentibench.__file__}})
    if args.inference_batch_size:
        serve_inference(
            lockstep.model, inference_batches(lockstep.model, tokenizer, dataset["test"], args.inference_batch_size)
        )


if __name__ == "__main__":
    main()
