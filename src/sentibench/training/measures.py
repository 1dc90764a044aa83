"""What the train stage measures beside the Trainer's own logs: padding and time to a target accuracy.

Padding efficiency is a count (real tokens over padded tokens of every training batch), so it is a
quality metric: deterministic, and the same after a kill and resume because the counts so far are
saved in each checkpoint and restored from it. Steps to the target come from the evaluation log
(also restored by a resume); seconds to it are a timing, measured in the process that reached it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sentibench.core.atomic import write_json

PADDING_FILE = "padding.json"


def padding_counter(model: Any, checkpoint: Path | None) -> Any:
    """A callback counting the real and padded tokens of each training batch the model sees."""
    from transformers import TrainerCallback

    class PaddingCounter(TrainerCallback):
        def __init__(self) -> None:
            saved = checkpoint / PADDING_FILE if checkpoint else None
            self.counts = json.loads(saved.read_text()) if saved and saved.is_file() else {"real": 0, "padded": 0}
            self.real_at_start = self.counts["real"]
            model.register_forward_pre_hook(self.count, with_kwargs=True)

        def count(self, module: Any, args: Any, kwargs: Any) -> None:
            mask = kwargs.get("attention_mask")
            if module.training and mask is not None:
                self.counts["real"] += int(mask.sum())
                self.counts["padded"] += int(mask.numel())

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:  # one writer: the counts reported are the main process's
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                write_json(folder / PADDING_FILE, self.counts)

        def efficiency(self) -> float | None:
            return self.counts["real"] / self.counts["padded"] if self.counts["padded"] else None

        def real_tokens_this_process(self) -> int:
            """Real (unpadded) tokens this process trained on since it started: the exact count, not an estimate."""
            return self.counts["real"] - self.real_at_start

    return PaddingCounter()


def steps_to_target(log_history: list[dict[str, Any]], target: float | None) -> int | None:
    """The first evaluated step whose validation accuracy reached the target; None if none did."""
    if target is None:
        return None
    reached = [e["step"] for e in log_history if "eval_accuracy" in e and e["eval_accuracy"] >= target]
    return min(reached) if reached else None


def target_timer(target: float | None) -> Any:
    """A callback noting the wall seconds from the start of training to the first evaluation at the target."""
    from transformers import TrainerCallback

    class TargetTimer(TrainerCallback):
        def __init__(self) -> None:
            self.started = 0.0
            self.seconds: float | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
            accuracy = (metrics or {}).get("eval_accuracy")
            reached = accuracy is not None and target is not None and accuracy >= target
            if reached and self.seconds is None and state.global_step > 0:  # not the untrained baseline
                self.seconds = time.perf_counter() - self.started

    return TargetTimer()
