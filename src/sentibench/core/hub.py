"""What went wrong with the Hugging Face Hub, in words a user can act on (models, tokenizers and datasets)."""

from __future__ import annotations

import re

MISSING_FILE = re.compile(r"does not appear to have a file named (\S+?)(?: or |\.? |$)")


def hub_failure(err: BaseException) -> str:
    """Which of the Hub's failures this was, in words. The clients wrap the server's answer (a cache miss
    raised from a 404, an OSError from a missing file), so every exception in the chain is looked at and
    the most specific answer wins: what the server said before what the cache could not find."""
    from huggingface_hub import constants, errors

    offline = "offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache"
    unreachable = offline if constants.HF_HUB_OFFLINE else "not in the Hugging Face cache and the Hub cannot be reached"
    kinds = [  # most specific first: gated is a RepositoryNotFound, a cache miss is an EntryNotFound
        (errors.OfflineModeIsEnabled, offline),
        (errors.GatedRepoError, "a gated repository: accept its terms on the Hub and log in (hf auth login)"),
        (errors.RevisionNotFoundError, "no such revision in that repository (check the pinned commit)"),
        (errors.RepositoryNotFoundError, "no such repository on the Hub (check the name), or it is private"),
        (
            errors.RemoteEntryNotFoundError,  # a mirror answers a wrong revision with a plain 404 too
            "the server has no such file, or no such revision of the repository (check the name and the pinned commit)",
        ),
        (errors.LocalEntryNotFoundError, unreachable),
        (ConnectionError, unreachable),
    ]
    chain = []
    seen: BaseException | None = err
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for kind, words in kinds:
        if any(isinstance(e, kind) for e in chain):
            return words
    for e in chain:
        missing = MISSING_FILE.search(str(e))
        if missing:
            return f"the repository has no file named {missing.group(1)} at that revision"
    return f"could not be loaded from the Hugging Face Hub ({type(err).__name__})"
