"""Reading runs across revisions: compare, aggregate, history and their tolerances."""
