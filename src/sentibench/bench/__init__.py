"""Speed: the benchmark stage, its statistics and FLOPs model, and the speed levers."""
