"""Data-parallel training on the TensorFlow backend: `hc-tf train --distribute`.

Modes:
  none          the default strategy: one device, as before.
  mirrored      `tf.distribute.MirroredStrategy` over the local GPUs (or, with no GPU, over
                the logical CPU devices a test configured).
  multi-worker  `tf.distribute.MultiWorkerMirroredStrategy`, one process per host, the
                cluster described by the standard `TF_CONFIG` environment variable.

What holds with TF 2.21 + Keras 3.15 (measured in tests/distribute_test.py):
  * `--batch-size` is per replica; the global batch is that times the replicas.
  * BatchNormalization is synchronized across replicas (`synchronized=True`) whenever there
    is more than one: unsynchronized, Keras 3 gives the BN moving statistics
    aggregation "none", so each replica keeps statistics of its own shard only and the
    copies silently diverge (the saved model gets replica 0's). Synchronized, a distributed
    step equals a one-device step at the global batch (losses and weights within float
    tolerance).
  * MirroredStrategy uses `ReductionToOneDevice`: with its default cross-device ops the
    synchronized BN all-reduces fail ("Shape mismatch in the collective instance ...":
    the per-layer collectives are not launched in the same order on every replica).
  * MultiWorkerMirroredStrategy does not run under Keras 3's `fit` as released
    (keras-team/keras#20585, tensorflow/tensorflow#72388): its symbolic build reduces a
    data batch with `strategy.reduce` ("Attempt to convert a value (PerReplica...)"), and
    its per-step logs are reduced with `axis=0` on scalars ("Invalid reduction dimension 0
    for input with 0 dimensions"). `_patch_keras_multi_worker` fixes exactly those two
    reductions (logs and a shape-only build; gradients are untouched) and refuses to run
    when the Keras internals it replaces are not there.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from hc_tf import defaults

MODES = defaults.DISTRIBUTE_MODES
UPSTREAM_ISSUES = "keras-team/keras#20585, tensorflow/tensorflow#72388"


class DistributeError(ValueError):
    """A distribution mode that cannot run here; the message says why and what to do."""


@dataclasses.dataclass
class Plan:
    """How this process trains: its strategy and its place in the cluster.

    Attributes:
      mode: one of `MODES`.
      strategy: the `tf.distribute.Strategy` to build and compile the model under.
      replicas: replicas in sync over the whole cluster (the global batch multiplier).
      is_chief: whether this process writes the run directory.
      worker_index: this worker's index (0 outside multi-worker).
      num_workers: processes in the cluster (1 outside multi-worker).
    """

    mode: str
    strategy: Any
    replicas: int
    is_chief: bool = True
    worker_index: int = 0
    num_workers: int = 1

    @property
    def distributed(self) -> bool:
        """True when steps run under `mirrored` or `multi-worker` (even with one replica)."""
        return self.mode != "none"


def read_tf_config(environ: Optional[Dict[str, str]] = None) -> Dict:
    """The parsed `TF_CONFIG` of a multi-worker cluster.

    Args:
      environ: the environment (default: `os.environ`).

    Returns:
      The dict, with `cluster` (job -> list of "host:port") and `task` (`type`, `index`).

    Raises:
      DistributeError: when it is missing, not JSON, or does not name this task in its cluster.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("TF_CONFIG", "")
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not raw.strip():
        raise DistributeError(f"--distribute multi-worker needs TF_CONFIG on every worker, e.g. {example}")
    try:
        cfg = json.loads(raw)
        task_type, index = cfg["task"]["type"], int(cfg["task"]["index"])
        members = cfg["cluster"][task_type]
    except (ValueError, KeyError, TypeError) as err:
        raise DistributeError(f"TF_CONFIG is not a cluster with this task ({type(err).__name__}: "
                              f"{err}); expected e.g. {example}") from None
    if task_type not in ("worker", "chief") or not 0 <= index < len(members):
        raise DistributeError(f"TF_CONFIG task {task_type}:{index} is not a worker or chief of its "
                              f"cluster {cfg['cluster']}")
    return cfg


def is_chief_task(cfg: Dict) -> bool:
    """TensorFlow's rule: the `chief` task, or worker 0 when the cluster has no chief."""
    task = cfg["task"]
    if "chief" in cfg["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


def _mirrored_devices() -> List[str]:
    """The local GPUs, or the logical CPU devices when there is no GPU."""
    import tensorflow as tf
    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]


def make_plan(mode: str) -> Plan:
    """Creates this process's strategy. Call it before any other TensorFlow op runs
    (MultiWorkerMirroredStrategy must start the collective service first).

    Args:
      mode: one of `MODES`.

    Returns:
      The `Plan`.

    Raises:
      DistributeError: an unknown mode, a backend other than TensorFlow, a missing or bad
        TF_CONFIG, or a Keras whose internals the multi-worker fix does not recognise.
    """
    if mode not in MODES:
        raise DistributeError(f"--distribute must be one of {MODES}, got {mode!r}")
    import keras
    import tensorflow as tf
    if mode == "none":
        return Plan(mode, tf.distribute.get_strategy(), replicas=1)
    if keras.backend.backend() != "tensorflow":
        raise DistributeError(f"--distribute {mode} runs on the TensorFlow backend (KERAS_BACKEND="
                              f"{keras.backend.backend()}); for JAX use hc_tf/train/jax_backend/train_jax.py "
                              "--data-parallel")
    if mode == "mirrored":
        # Merge-call reduction: the synchronized BN all-reduces then keep their order.
        strategy = tf.distribute.MirroredStrategy(
            _mirrored_devices(), cross_device_ops=tf.distribute.ReductionToOneDevice())
        return Plan(mode, strategy, replicas=strategy.num_replicas_in_sync)
    cfg = read_tf_config()
    _patch_keras_multi_worker()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Plan(mode, strategy, replicas=strategy.num_replicas_in_sync, is_chief=is_chief_task(cfg),
                worker_index=int(cfg["task"]["index"]),
                num_workers=sum(len(v) for k, v in cfg["cluster"].items() if k in ("chief", "worker")))


def synchronize_batch_norm(model) -> int:
    """Makes every BatchNormalization layer in `model` (nested models included) compute
    its batch statistics over the global batch. Read at call time, so this works on a
    built model.

    Returns:
      The number of layers changed.
    """
    import keras
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            count += 1
    return count


def shard_by_data(dataset):
    """Sets DATA auto-sharding: every worker runs the same (seeded) pipeline and keeps its
    part of each global batch, so the batches equal a one-process run's and every worker
    has the same number of steps (FILE sharding of a few TFRecord files would not)."""
    import tensorflow as tf
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


# ---- Keras 3 + MultiWorkerMirroredStrategy ---------------------------------------------

_PATCHED = False


def _patch_keras_multi_worker() -> None:
    """Replaces the two reductions that break Keras 3's `fit` under MultiWorkerMirroredStrategy.

    Both are only taken when the strategy is multi-worker, and neither touches gradients
    (the optimizer's all-reduce is TensorFlow's own):
      1. `TensorFlowTrainer._maybe_symbolic_build` reduced the first data batch across
         workers only to build the model; the local batch has the same shapes.
      2. `reduce_per_replica(..., "mean")` reduced scalar logs with `axis=0`; `axis=None`
         is the mean over replicas that the one-worker path computes.

    Raises:
      DistributeError: when this Keras does not have the functions being replaced.
    """
    global _PATCHED
    if _PATCHED:
        return
    import keras
    import tensorflow as tf
    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer
        trainer_cls = tf_trainer.TensorFlowTrainer
        original_build = trainer_cls._maybe_symbolic_build
        original_reduce = tf_trainer.reduce_per_replica
        is_multi_worker = tf_trainer._collective_all_reduce_multi_worker
        is_per_replica = tf_trainer._is_per_replica_instance
    except (ImportError, AttributeError) as err:
        raise DistributeError(
            f"--distribute multi-worker: Keras {keras.__version__} fails under "
            f"MultiWorkerMirroredStrategy ({UPSTREAM_ISSUES}) and the known fix does not apply to "
            f"this version ({err}); use --distribute mirrored on one host, or the JAX trainer "
            "(hc_tf/train/jax_backend/train_jax.py --data-parallel) across hosts") from None

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not is_multi_worker(strategy) or iterator is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            data_batch = tf.nest.map_structure(
                lambda v: (strategy.experimental_local_results(v)[0]
                           if isinstance(v, tf.distribute.DistributedValues) else v), next(it))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None) if is_per_replica(v) else v, values)
        return original_reduce(values, strategy, reduction)

    trainer_cls._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
