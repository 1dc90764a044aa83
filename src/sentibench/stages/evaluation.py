"""Stage `evaluate`: score the saved model on the whole test split, beside the TF-IDF reference
(sentibench.scoring.predictions): read params, call, write."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sentibench.core.atomic import write_csv, write_json
from sentibench.core.contract import (
    EVAL_METRICS,
    PREDICTIONS,
    TOKENIZED,
    TRAINED,
)
from sentibench.core.errors import run_cli
from sentibench.core.stagecli import stage_command
from sentibench.portable.runtime import apply_runtime
from sentibench.scoring.predictions import evaluate_model


def main(argv: Sequence[str] | None = None) -> None:
    paths = {"--model-dir": TRAINED, "--tokenized": TOKENIZED, "--metrics": EVAL_METRICS, "--predictions": PREDICTIONS}
    params, args = stage_command(__doc__, argv, paths, lambda a: (a.predictions, a.metrics))
    apply_runtime(params.runtime)
    print(f"evaluate: scoring {args.model_dir} and the TF-IDF reference on the test split", flush=True)
    report, records = evaluate_model(args.model_dir, args.tokenized, params.evaluate)
    write_csv(args.predictions, records)
    write_json(args.metrics, report)
    print(
        f"evaluate: test accuracy {report['accuracy']:.4f} (reference {report['reference']['accuracy']:.4f}), "
        f"macro F1 {report['f1_macro']:.4f}, {report['rows']} rows",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
