"""Stage `pretrain`: masked-language modelling of the encoder on unlabeled text, before fine-tuning
(sentibench.training.pretraining); for an already pretrained `model.source`, or with `pretrain.enabled: false`,
only a note saying why it was skipped."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sentibench.core.atomic import atomic_dir, write_json
from sentibench.core.contract import (
    DVCLIVE_PRETRAIN,
    PRETRAIN_CHECKPOINTS,
    PRETRAIN_METRICS,
    PRETRAIN_TIMING,
    PRETRAINED,
    SKIPPED_NOTE,
    TOKENIZED,
)
from sentibench.core.errors import run_cli
from sentibench.core.stagecli import stage_command
from sentibench.portable.runtime import apply_runtime
from sentibench.training.pretraining import pretrain, skip_reason


def write_skipped(out_dir: Path, reason: str) -> None:
    with atomic_dir(out_dir) as tmp:
        (tmp / SKIPPED_NOTE).write_text(f"pretraining skipped: {reason}\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    paths = {
        "--tokenized": TOKENIZED,
        "--checkpoints": PRETRAIN_CHECKPOINTS,
        "--out": PRETRAINED,
        "--dvclive": DVCLIVE_PRETRAIN,
        "--metrics": PRETRAIN_METRICS,
        "--timing": PRETRAIN_TIMING,
    }
    params, args = stage_command(__doc__, argv, paths, lambda a: (a.out, a.metrics, a.timing))
    apply_runtime(params.runtime)
    reason = skip_reason(params)
    if reason:
        print(f"pretrain: skipped ({reason})", flush=True)
        write_skipped(args.out, reason)
        write_skipped(args.dvclive, reason)  # a note, not an empty folder: git keeps files, not folders
        write_json(args.metrics, {"skipped": reason})
        write_json(args.timing, {"skipped": reason})
        return
    metrics, timing = pretrain(params, args.tokenized, args.checkpoints, args.out, args.dvclive)
    write_json(args.metrics, metrics)
    write_json(args.timing, timing)
    print(
        f"pretrain: {metrics['steps']} steps, MLM loss {metrics['first_logged_loss']:.3f} -> "
        f"{metrics['last_logged_loss']:.3f} in {timing['pretrain_runtime_s']:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
