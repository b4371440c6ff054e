"""What the command line needs besides its commands (TF-free): one-line errors, the inputs
after `--`, the printed summaries, TensorFlow's start-up noise kept quiet, progress bars."""
