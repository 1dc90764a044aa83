"""Stage `prepare`: load the source, clean it, split it without leakage and sample it
(sentibench.corpus.splits): read params, call, write."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sentibench.core.atomic import write_json
from sentibench.core.contract import DATA_METRICS, PREPARED, RAW_DATA, SPLITS
from sentibench.core.errors import run_cli
from sentibench.core.stagecli import stage_command
from sentibench.corpus.splits import check_tracked, prepare, write_splits


def main(argv: Sequence[str] | None = None) -> None:
    raw_data = (RAW_DATA, "where files/disk sources must live")
    paths = {"--out": PREPARED, "--metrics": DATA_METRICS, "--raw-data": raw_data}
    loaded, args = stage_command(__doc__, argv, paths, lambda a: (a.out, a.metrics))
    params = loaded.data
    check_tracked(params, args.raw_data)
    print(f"prepare: loading the {params.source} source", flush=True)
    frames, report = prepare(params)
    write_splits(frames, args.out, report["label_names"])
    write_json(args.metrics, report)
    rows = ", ".join(f"{s} {report['rows'][s]['total']}" for s in SPLITS)
    print(f"prepare: wrote {args.out} ({rows}); removed {report['removed']}", flush=True)


if __name__ == "__main__":
    sys.exit(run_cli(main))
