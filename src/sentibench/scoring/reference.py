"""The classical reference: character n-gram TF-IDF with logistic regression.

Scored on exactly the rows the transformer is scored on, it shows what the transformer adds
(or, trained from scratch on little data, fails to add). Deterministic: lbfgs has no randomness,
and the n-grams kept under `max_features` are chosen here, not by scikit-learn, whose unstable
argsort breaks ties between equally frequent n-grams by whichever SIMD sort numpy dispatches to:
the reference then differed between an AVX-512 CPU and an emulated AVX2 one (docs/results.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline


def frequent_ngrams(texts: Sequence[str], ngram_max: int, max_features: int | None) -> list[str] | None:
    """The `max_features` most frequent character n-grams, ties broken by the n-gram itself (a stable order,
    the same on every CPU); None when there are no more than that (keep them all)."""
    counter = CountVectorizer(analyzer="char", ngram_range=(1, ngram_max))
    counts = counter.fit_transform(texts)
    if max_features is None or counts.shape[1] <= max_features:
        return None
    terms = counter.get_feature_names_out()
    order = np.lexsort((terms, -np.asarray(counts.sum(axis=0)).ravel()))  # by frequency, then by n-gram
    return sorted(terms[order[:max_features]])


def fit_reference(
    texts: Sequence[str], labels: Sequence[int], ngram_max: int, max_features: int | None, c: float
) -> Pipeline:
    vocabulary = frequent_ngrams(list(texts), ngram_max, max_features)
    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, ngram_max), sublinear_tf=True, vocabulary=vocabulary),
        LogisticRegression(C=c, max_iter=2000),
    )
    return model.fit(list(texts), np.asarray(labels))
