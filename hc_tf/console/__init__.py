"""The command line's parts besides cli.py (TF-free): the commands that make a model
(model_commands: prepare, train, export, parity), one-line errors, the inputs after `--`, the
printed summaries, TensorFlow's start-up noise kept quiet, progress bars."""
