"""What went wrong with the Hugging Face Hub, in words a user can act on (models, tokenizers and datasets)."""

from __future__ import annotations


def hub_failure(err: BaseException) -> str:
    """Which of the Hub's failures this was (the exception or any it was raised from), in words."""
    from huggingface_hub import constants, errors

    offline = "offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache"
    unreachable = offline if constants.HF_HUB_OFFLINE else "not in the Hugging Face cache and the Hub cannot be reached"
    kinds = [  # subclasses before their bases: gated is a RepositoryNotFound, local-entry an EntryNotFound
        (errors.OfflineModeIsEnabled, offline),
        (errors.LocalEntryNotFoundError, unreachable),
        (errors.GatedRepoError, "a gated repository: accept its terms on the Hub and log in (hf auth login)"),
        (errors.RevisionNotFoundError, "no such revision in that repository (check the pinned commit)"),
        (errors.RepositoryNotFoundError, "no such repository on the Hub (check the name), or it is private"),
        (errors.EntryNotFoundError, "the repository has no such file"),
        (ConnectionError, unreachable),
    ]
    seen: BaseException | None = err
    while seen is not None:
        for kind, words in kinds:
            if isinstance(seen, kind):
                return words
        seen = seen.__cause__ or seen.__context__
    return f"could not be loaded from the Hugging Face Hub ({type(err).__name__})"
