"""The HC18 TFDS dataset (see README.md in this folder)."""
