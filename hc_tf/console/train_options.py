"""`hc-tf train`'s accuracy levers and schedule options as one click decorator: each is one
flag, the same in the JAX trainer (hc_tf/train/jax_backend/train_jax.py), default off."""

from __future__ import annotations

import click

from hc_tf import defaults


def recipe_options(command):
    """Adds --large-head-repeat, --boundary-weight, --hc-weight, --train-on-all and --val-every
    (passed as `large_head_repeat`, `boundary_weight`, `hc_weight`, `train_on_all`,
    `val_every`)."""
    command = click.option(
        "--val-every", default=1, show_default=True, type=click.IntRange(min=1),
        help="Measure the validation images every N epochs and at the last (a fixed schedule "
             "chooses nothing by them: fewer measurements, a faster CPU fold).")(command)
    command = click.option(
        "--train-on-all", is_flag=True,
        help="Train on train + validation for the fixed --epochs and keep the last epoch (the "
             "release's last step, once cross-validation fixed the recipe); not with --folds.")(command)
    command = click.option(
        "--hc-weight", default=0.0, show_default=True, type=click.FloatRange(min=0),
        help="Add this x |log(HC of the prediction / HC of the reference)| to the loss, each HC "
             "from the soft mask's moment ellipse (0: off).")(command)
    command = click.option(
        "--boundary-weight", default=0.0, show_default=True, type=click.FloatRange(min=0),
        help="Add this x BCE over the band around the reference outline to the loss (0: off).")(command)
    return click.option(
        "--large-head-repeat", default=1, show_default=True, type=click.IntRange(min=1),
        help=f"Show each training image whose reference HC is over {defaults.LARGE_HEAD_MM:g} mm "
             "this many times an epoch (1: off); the epoch's step count grows with it. "
             "Held-out images are never repeated.")(command)
