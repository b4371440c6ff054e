"""TensorFlow side: Keras -> TFLite conversion, int8 bias correction, op report,
bundle metadata, and the Keras-vs-int8 parity check."""
