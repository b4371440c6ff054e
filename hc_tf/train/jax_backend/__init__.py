"""Keras 3 on JAX: the trainer that runs on a borrowed GPU machine with no
TensorFlow. Nothing here may import TensorFlow at module level."""
