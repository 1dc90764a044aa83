"""The ground floor: params, errors, atomic writes, runtime, environment, models and the pipeline contract."""
