"""Stage `preprocess`: tokenise the prepared splits and apply the too-long policy
(sentibench.corpus.encoding): read params, call, write."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sentibench.core.atomic import atomic_dir, write_json
from sentibench.core.contract import (
    PREPARED,
    PREPROCESS_METRICS,
    SPLITS,
    TOKENIZED,
    TOKENIZER,
    VOCAB_MAP,
)
from sentibench.core.errors import UserError, run_cli
from sentibench.core.stagecli import stage_command
from sentibench.corpus.encoding import choose_tokenizer, preprocess


def main(argv: Sequence[str] | None = None) -> None:
    from sentibench.core.modeling import position_limit, save_tokenizer
    from sentibench.corpus.vocabulary import vocabulary_map

    paths = {"--prepared": PREPARED, "--out": TOKENIZED, "--metrics": PREPROCESS_METRICS}
    params, args = stage_command(__doc__, argv, paths, lambda a: (a.out, a.metrics))
    limit = position_limit(params.model)
    if limit is not None and params.preprocess.max_tokens > limit:
        raise UserError(
            f"preprocess.max_tokens is {params.preprocess.max_tokens}, but the model embeds only {limit} positions "
            "(its max_position_embeddings)"
        )
    tokenizer, source_ids = choose_tokenizer(params, args.prepared)
    print(
        f"preprocess: tokenising with {params.model.tokenizer or params.model.name} "
        f"({params.preprocess.vocabulary} vocabulary, {len(tokenizer)} tokens)",
        flush=True,
    )
    dataset, report = preprocess(args.prepared, tokenizer, params.preprocess.max_tokens, params.preprocess.too_long)
    vocabulary = vocabulary_map(tokenizer, source_ids)
    report["vocabulary"] = {"kind": vocabulary["vocabulary"], "size": vocabulary["size"]}
    with atomic_dir(args.out) as tmp:
        dataset.save_to_disk(str(tmp))
        save_tokenizer(tokenizer, tmp / TOKENIZER)
        write_json(tmp / VOCAB_MAP, vocabulary)
    write_json(args.metrics, report)
    for split in SPLITS:
        s = report[split]
        print(
            f"preprocess: {split}: {s['rows_out']} rows, {s['dropped']} dropped, {s['truncated']} truncated, "
            f"tokens median {s['tokens']['median']:.0f} max {s['tokens']['max']}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(run_cli(main))
