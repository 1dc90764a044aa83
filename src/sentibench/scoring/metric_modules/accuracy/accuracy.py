"""Accuracy as an `evaluate` module, shipped in the repo because `evaluate.load('accuracy')` needs the Hub.

Same definition and interface as the Hub's `evaluate-metric/accuracy` (Apache-2.0): the fraction
of predictions equal to their reference, via scikit-learn.
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score

_DESCRIPTION = "Accuracy is the proportion of correct predictions among all predictions."
_KWARGS_DESCRIPTION = "predictions (list of int), references (list of int), normalize (bool), sample_weight (list)"


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        return {
            "accuracy": float(accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight))
        }
