"""Stage `train`: fine-tune with the Hugging Face `Trainer`, as the seed does, resumably
(sentibench.training.finetune); with `train.processes` above 1, as that many DDP processes under torchrun."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from sentibench.core.atomic import write_json
from sentibench.core.contract import (
    CHECKPOINTS,
    DVCLIVE,
    ENV,
    PRETRAINED,
    TOKENIZED,
    TRAIN_METRICS,
    TRAIN_TIMING,
    TRAINED,
)
from sentibench.core.errors import Terminated, UserError, run_cli
from sentibench.core.stagecli import stage_command
from sentibench.portable.environment import environment
from sentibench.portable.runtime import apply_runtime
from sentibench.training.finetune import finetune


def launch_distributed(processes: int, argv: Sequence[str]) -> None:
    """Re-run this stage under torchrun with `processes` workers on this host (DDP; gloo on CPU). torchrun puts
    its own SIGTERM handler in place of ours: it stops the workers (each removes its temporaries and exits 143)
    and raises here, where it becomes the same SIGTERM exit as a single process's. Its handler raises wherever
    the launcher is, also inside one of torchrun's own log calls, where `logging` would print a traceback of its
    own ("--- Logging error ---", seen once in CI); logging's errors are therefore not printed here."""
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    logging.raiseExceptions = False
    try:
        torchrun(["--standalone", f"--nproc-per-node={processes}", "-m", "sentibench.stages.train", *argv])
    except SignalException as err:
        if err.sigval != signal.SIGTERM:
            raise
        raise Terminated from None
    except ChildFailedError as err:
        raise UserError(
            f"distributed training with {processes} processes failed: {err.get_first_failure()[1].message}"
        ) from None


def main(argv: Sequence[str] | None = None) -> None:
    paths = {
        "--tokenized": TOKENIZED,
        "--pretrained": PRETRAINED,
        "--checkpoints": CHECKPOINTS,
        "--model-dir": TRAINED,
        "--dvclive": DVCLIVE,
        "--metrics": TRAIN_METRICS,
        "--timing": TRAIN_TIMING,
        "--env": ENV,
    }
    params, args = stage_command(
        __doc__, argv, paths, lambda a: (a.model_dir, a.metrics, a.timing, a.env, a.checkpoints / "run.json")
    )
    if params.train.processes > 1 and "LOCAL_RANK" not in os.environ:
        apply_runtime(params.runtime)  # before torchrun loads torch; the workers inherit its variables
        launch_distributed(params.train.processes, sys.argv[1:] if argv is None else argv)
        return
    metrics, timing = finetune(
        params, args.tokenized, args.checkpoints, args.model_dir, args.dvclive, pretrained_dir=args.pretrained
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return
    write_json(args.metrics, metrics)
    write_json(args.timing, timing)
    write_json(args.env, environment(params.runtime))
    print(
        f"train: accuracy {metrics['baseline_eval_accuracy']:.4f} -> {metrics['eval_accuracy']:.4f} on validation, "
        f"{metrics['global_step']} steps in {timing['train_runtime_s']:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
