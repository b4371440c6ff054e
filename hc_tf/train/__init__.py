"""TensorFlow side: tf.data input, losses, the fit loop, backups, distribution;
jax_backend/ trains the same model with Keras 3 on JAX (no TensorFlow)."""
