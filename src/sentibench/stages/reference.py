"""The classical reference: character n-gram TF-IDF with logistic regression.

Scored on exactly the rows the transformer is scored on, it shows what the transformer adds
(or, trained from scratch on little data, fails to add). Deterministic: lbfgs has no randomness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline


def fit_reference(
    texts: Sequence[str], labels: Sequence[int], ngram_max: int, max_features: int | None, c: float
) -> Pipeline:
    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, ngram_max), sublinear_tf=True, max_features=max_features),
        LogisticRegression(C=c, max_iter=2000),
    )
    return model.fit(list(texts), np.asarray(labels))
