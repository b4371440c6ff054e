"""TensorFlow side: the EfficientNet-UNet (Keras) and its runner."""
