"""How predictions are scored: the metric modules, and the TF-IDF reference every model is held to."""
