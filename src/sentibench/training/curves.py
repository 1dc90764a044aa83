"""Training curves through DVCLive, set up for a pipeline stage that can be killed and resumed.

Curves are indexed by the Trainer's global step, carry no timings (so two runs write the same
bytes), and a resumed run continues them from its checkpoint instead of restarting them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sentibench.core.atomic import atomic_path

TIMING_KEYS = ("runtime", "per_second", "preparation_time")  # kept out of the curves: they never repeat
# The Trainer's end-of-run train_loss only averages the steps since a resume; train.json uses mean_logged_loss.
UNRESUMABLE_KEYS = ("train_loss",)


def truncate_curves(directory: Path, last_step: int) -> dict[str, int]:
    """Drop curve rows logged after the checkpoint a run resumes from (they are logged again); return each
    curve's last step kept, so that rows already there at that step are not logged twice."""
    last: dict[str, int] = {}
    for tsv in directory.glob("plots/metrics/**/*.tsv"):
        lines = tsv.read_text().splitlines(keepends=True)
        kept = [lines[0], *(line for line in lines[1:] if int(line.split("\t", 1)[0]) <= last_step)]
        with atomic_path(tsv) as tmp:
            tmp.write_text("".join(kept))
        if len(kept) > 1:
            last[tsv.relative_to(directory / "plots" / "metrics").with_suffix("").as_posix()] = int(
                kept[-1].split("\t", 1)[0]
            )
    return last


def sort_summary(summary: Path) -> None:
    """DVCLive's summary keeps insertion order, which a resumed run changes; sorted, both runs match."""
    if summary.is_file():
        data = json.loads(summary.read_text())
        with atomic_path(summary) as tmp:
            tmp.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")


def dvclive_callback(directory: Path, resume_step: int | None) -> Any:
    """DVCLive's own Trainer callback (what `report_to='dvclive'` builds), set up for a pipeline stage.

    The default Live would try to save a DVC experiment and rewrite dvc.yaml, and counts its
    steps per log call; here the curves are indexed by the Trainer's global step, so evaluation
    points line up with `eval_steps`, timings stay out (so the curves of two runs are identical),
    and a resumed run continues its curves from the checkpoint instead of restarting them.
    """
    from dvclive.utils import standardize_metric_name
    from transformers.integrations import DVCLiveCallback

    from dvclive import Live

    logged = truncate_curves(directory, resume_step) if resume_step is not None else {}

    class GlobalStepDVCLiveCallback(DVCLiveCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            self.live.step = state.global_step
            logs = {
                k: v
                for k, v in (logs or {}).items()
                if k not in UNRESUMABLE_KEYS
                and not any(t in k for t in TIMING_KEYS)
                # a run killed after its last checkpoint resumes at that step and logs its end again
                and logged.get(standardize_metric_name(k, "dvclive.huggingface"), -1) < state.global_step
            }
            super().on_log(args, state, control, logs=logs, **kwargs)

    live = Live(dir=str(directory), resume=resume_step is not None, save_dvc_exp=False, dvcyaml=False, report=None)
    return GlobalStepDVCLiveCallback(live=live)


def mean_logged_loss(log_history: list[dict[str, Any]]) -> float | None:
    """Mean training loss over the logged steps, from the history a checkpoint restores.

    Each logged `loss` averages the steps since the previous log, so weighting by that span gives
    the mean over every step up to the last log, the same whether or not the run was resumed.
    """
    total, steps, last = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            span = entry["step"] - last
            total, steps, last = total + entry["loss"] * span, steps + span, entry["step"]
    return total / steps if steps else None
