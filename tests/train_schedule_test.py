"""One learning-rate curve for both trainers (hc_tf.train.schedule)."""

import math

import numpy as np
import pytest

from hc_tf import defaults
from hc_tf.train import schedule


@pytest.mark.parametrize("steps_per_epoch,epochs", [(10, 30), (3, 5), (1, 1)])
def test_the_keras_schedule_is_the_formula_step_by_step(steps_per_epoch, epochs):
    keras_lr = schedule.keras_schedule(1e-3, steps_per_epoch, epochs)
    total = epochs * steps_per_epoch
    warmup = schedule.warmup_length(total, steps_per_epoch)
    for step in range(total):
        expected = schedule.warmup_cosine(step, total, warmup, 1e-3) if warmup else \
            schedule.warmup_cosine(step, total, 0, 1e-3)
        assert float(keras_lr(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9), step


def test_the_per_epoch_rate_warms_up_then_ends_on_the_floor():
    epochs, peak = 40, 3e-4
    rates = [schedule.per_epoch_rate(e, epochs, peak) for e in range(epochs)]
    warm = defaults.WARMUP_EPOCHS
    assert rates[0] == pytest.approx(schedule.WARMUP_START * peak)
    assert max(rates) == pytest.approx(peak) and int(np.argmax(rates)) == warm
    assert rates[-1] == pytest.approx(defaults.LR_FLOOR * peak)
    assert all(a >= b for a, b in zip(rates[warm:], rates[warm + 1:]))  # decays after warm-up


def test_the_per_epoch_rate_is_the_released_models_recipe():
    # The JAX trainer's earlier per-epoch formula (2-epoch warm-up), which trained the release.
    def released(epoch, epochs, peak, warmup=2, floor=0.01):
        if epoch < warmup:
            return peak * (0.1 + 0.9 * epoch / warmup)
        t = (epoch - warmup) / max(1, epochs - 1 - warmup)
        return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    for e in range(60):
        assert schedule.per_epoch_rate(e, 60, 1e-3) == pytest.approx(released(e, 60, 1e-3))
