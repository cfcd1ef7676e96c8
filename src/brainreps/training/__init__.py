"""Networks that learn inside the pipeline: labelled data, the training loop, task accuracy,
learning dynamics."""
