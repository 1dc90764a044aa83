"""The text before the model: where the reviews come from, the vocabulary, and how long rows are cut."""
