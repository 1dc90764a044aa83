"""What the pipeline hands over: the final model folder, its model card and the headline summary."""
