"""The compact vocabulary: only the token ids the training split uses, plus the special tokens.

A model trained from random weights can never learn an embedding for a token that training never
shows it, so those rows of the embedding matrix (15,000 of bert-base-chinese's 21,128) are weight,
optimizer state and, in masked-language modelling, output logits that cost time and teach nothing.

The compact tokenizer is the source tokenizer with the unseen tokens removed from its WordPiece
vocabulary, so it stands alone in `models/final`: texts map to the kept tokens or to [UNK]. For the
training texts this is exactly the source tokenization renumbered, because WordPiece's greedy
longest match only ever picks tokens the source picked there; `compact_tokenizer` checks that
instead of trusting it (another tokenizer algorithm could re-segment).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentibench.core.errors import UserError


def kept_ids(tokenizer: Any, encoded: Sequence[Sequence[int]]) -> list[int]:
    """Source ids to keep, in source order: the special tokens and every id the encodings use."""
    seen = {int(i) for ids in encoded for i in ids}
    return sorted(seen | set(tokenizer.all_special_ids))


def _wordpiece_tokenizer(tokenizer: Any, tokens: list[str]) -> Any:
    """The same tokenizer class and settings over `tokens` (new id = position), built from a vocab.txt."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tokenizer.save_pretrained(tmp)
        (folder / "tokenizer.json").unlink(missing_ok=True)  # else it, with the full vocabulary, wins
        (folder / "vocab.txt").write_text("".join(f"{token}\n" for token in tokens), encoding="utf-8")
        return AutoTokenizer.from_pretrained(tmp)


def compact_tokenizer(
    tokenizer: Any, train_ids: Sequence[Sequence[int]], train_texts: Sequence[str]
) -> tuple[Any, list[int]]:
    """The compact tokenizer and the source id of each of its ids (its position in the list)."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    if type(model).__name__ != "WordPiece":
        raise UserError(
            f"preprocess.vocabulary compact needs a WordPiece tokenizer; {tokenizer.name_or_path} is "
            f"{type(model).__name__}"
        )
    keep = kept_ids(tokenizer, train_ids)
    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    compact = _wordpiece_tokenizer(tokenizer, [by_id[i] for i in keep])
    renumber = {source: new for new, source in enumerate(keep)}
    again = compact(list(train_texts))["input_ids"]
    for row, (source, new) in enumerate(zip(train_ids, again, strict=True)):
        if [renumber[int(i)] for i in source] != list(new):
            raise UserError(f"preprocess.vocabulary compact: the compact tokenizer splits training row {row} otherwise")
    return compact, keep


def vocabulary_map(tokenizer: Any, keep: Sequence[int] | None) -> dict[str, Any]:
    """What `vocab_map.json` records: the source vocabulary, and for a compact one the source id of each id."""
    record: dict[str, Any] = {"vocabulary": "compact" if keep is not None else "full", "size": len(tokenizer)}
    if keep is not None:
        record["source_ids"] = list(keep)
    return record
