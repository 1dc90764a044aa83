"""Stage `package`: the trained model as a folder that stands alone, with its model card; and the summary
(sentibench.packaging.modelcard): read params, call, write."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sentibench.core.atomic import write_json
from sentibench.core.contract import (
    DATA_METRICS,
    EVAL_METRICS,
    MODEL_DIR,
    MODEL_INFO,
    PRETRAIN_METRICS,
    SUMMARY,
    TRAIN_METRICS,
    TRAINED,
)
from sentibench.core.errors import run_cli
from sentibench.core.stagecli import stage_command
from sentibench.packaging.modelcard import check_keys, commit_of, package, read_json, summary


def main(argv: Sequence[str] | None = None) -> None:
    paths = {"--trained": TRAINED, "--out": MODEL_DIR, "--metrics-dir": EVAL_METRICS.parent, "--summary": SUMMARY}
    params, args = stage_command(__doc__, argv, paths, lambda a: (a.out, a.summary))
    sources = {"eval": EVAL_METRICS, "train": TRAIN_METRICS, "data": DATA_METRICS, "pretrain": PRETRAIN_METRICS}
    files = {name: args.metrics_dir / path.name for name, path in sources.items()}
    metrics = {name: read_json(path) for name, path in files.items()}
    check_keys(metrics, files)
    package(params, args.trained, args.out, metrics, commit_of(args.params.resolve().parent))
    write_json(args.summary, summary(metrics))
    print(f"package: wrote {args.out} (model card, {MODEL_INFO})", flush=True)


if __name__ == "__main__":
    sys.exit(run_cli(main))
