"""The learning-rate schedule both trainers follow.

Linear warm-up from a tenth of the peak over `defaults.WARMUP_EPOCHS`, then cosine decay to
`defaults.LR_FLOOR` x the peak at the end. `hc-tf train` steps it per optimizer step (a Keras
`CosineDecay`), the JAX trainer per epoch (its epoch count may be set after two timed epochs);
`tests/train_schedule_test.py` holds the two to the one formula.
"""

from __future__ import annotations

import math

from hc_tf import defaults

WARMUP_START = 0.1  # the warm-up starts at this fraction of the peak


def warmup_cosine(position: float, total: float, warmup: float, peak: float) -> float:
    """The rate at `position` (a step or an epoch) of `total`, after `warmup` of them."""
    if position < warmup:
        return peak * (WARMUP_START + (1 - WARMUP_START) * position / warmup)
    t = min(1.0, (position - warmup) / max(1.0, total - warmup))
    floor = defaults.LR_FLOOR
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def warmup_length(total: float, per_epoch: float = 1.0) -> float:
    """Warm-up steps (or epochs, with per_epoch 1): WARMUP_EPOCHS, at most a tenth of the run."""
    return min(defaults.WARMUP_EPOCHS * per_epoch, total // 10)


def per_epoch_rate(epoch: int, epochs: int, peak: float) -> float:
    """The rate for a whole epoch (the JAX trainer); the last epoch gets the floor."""
    return warmup_cosine(epoch, epochs - 1, warmup_length(epochs), peak)


def keras_schedule(peak: float, steps_per_epoch: int, epochs: int):
    """The same curve per optimizer step, as a Keras schedule (`hc-tf train`)."""
    import keras
    total = max(1, epochs * steps_per_epoch)
    warmup = int(warmup_length(total, steps_per_epoch))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * WARMUP_START if warmup else peak,
        decay_steps=max(1, total - warmup), alpha=defaults.LR_FLOOR,
        warmup_target=peak if warmup else None, warmup_steps=warmup)
