"""What users run: predict (one process or Beam), evaluate, the demo. TF-free."""
