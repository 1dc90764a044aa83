"""The too-long policy, shared by the preprocess stage, `predict` and the scaling benchmark so that a text is cut
the same way wherever it is scored: `drop` removes rows over `max_tokens` (the seed keeps `len(input_ids) <= 512`),
`truncate_tail` keeps the start of the text and `truncate_head` its end. Truncation keeps [CLS] and [SEP] and cuts
input_ids, token_type_ids and attention_mask at the same positions."""

from __future__ import annotations


def _keep_positions(length: int, max_tokens: int, policy: str) -> list[int]:
    """Positions to keep: the first ([CLS]) and last ([SEP]) always, and a window of the body."""
    body = max_tokens - 2
    inner = range(1, length - 1)
    window = inner[:body] if policy == "truncate_tail" else inner[len(inner) - body :]
    return [0, *window, length - 1]


def apply_length_policy(
    encoded: dict[str, list[list[int]]], max_tokens: int, policy: str
) -> tuple[dict[str, list[list[int]]], list[bool], int]:
    """Return the encodings after the policy, a keep-mask over rows, and how many were truncated."""
    out: dict[str, list[list[int]]] = {key: [] for key in encoded}
    keep: list[bool] = []
    truncated = 0
    for row in range(len(encoded["input_ids"])):
        length = len(encoded["input_ids"][row])
        if length <= max_tokens:
            keep.append(True)
            for key in encoded:
                out[key].append(encoded[key][row])
        elif policy == "drop":
            keep.append(False)
        else:
            keep.append(True)
            truncated += 1
            positions = _keep_positions(length, max_tokens, policy)
            for key in encoded:
                values = encoded[key][row]
                out[key].append([values[i] for i in positions])
    return out, keep, truncated
