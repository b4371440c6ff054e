"""hc-tf: fetal head circumference measurement on 2D ultrasound."""

__version__ = "0.1.0"
