"""Macro-averaged precision, recall and F1 as one `evaluate` module, shipped in the repo (no Hub).

Macro averaging weighs both sentiment classes equally, so a model that always answers the
majority class cannot score well. Classes without predictions count as 0, not as an error.
"""

import datasets
import evaluate
from sklearn.metrics import precision_recall_fscore_support

_DESCRIPTION = "Macro-averaged precision, recall and F1 over all classes."
_KWARGS_DESCRIPTION = "predictions (list of int), references (list of int)"


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MacroPRF(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.precision_recall_fscore_support.html"
            ],
        )

    def _compute(self, predictions, references):
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, average="macro", zero_division=0
        )
        return {"precision_macro": float(precision), "recall_macro": float(recall), "f1_macro": float(f1)}
