"""Keras `BackupAndRestore` whose training state is never half-written.

Keras rewrites `latest.weights.h5` in place, then `training_metadata.json`: an
interruption during the rewrite leaves a truncated weights file next to
metadata that still names the previous epoch, and every resume then fails.
Here each state's weights go to their own file, written under a temporary name
and renamed when complete; the metadata, written atomically after them, is the
single commit point and names the current and the previous state's files. The
previous state is deleted only after the new one is committed, so an unreadable
current state (disk full, copied badly) falls back to it.

Backup folder layout:
  training_metadata.json   {"epoch", "batch", "weights", "previous": {...} | null}
  epoch_NNNN.weights.h5    weights + optimizer state after epoch NNNN (two kept)
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Dict, List, Optional, Tuple

import keras

from hc_tf.io import atomic as io_utils

METADATA_NAME = "training_metadata.json"
LEGACY_WEIGHTS_NAME = "latest.weights.h5"  # plain Keras BackupAndRestore's file
# Keras wants weights files to end in ".weights.h5"; the leading dot marks it unfinished.
_PENDING_NAME = ".pending.weights.h5"
_MAX_REASON_CHARS = 160


class BackupError(ValueError):
    """No state in the backup folder can be loaded; the message says what to do."""


def _short_reason(err: BaseException) -> str:
    """The first line of an error, cut short: h5py/Keras messages can run to 59 KB."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= _MAX_REASON_CHARS else text[:_MAX_REASON_CHARS] + "..."


def _state_entry(metadata: Dict) -> Dict:
    """One state of the metadata: epoch, batch and its weights file name."""
    return {"epoch": int(metadata["epoch"]), "batch": int(metadata.get("batch", 0)),
            # Metadata written by plain Keras names no file: it is always latest.weights.h5.
            "weights": str(metadata.get("weights", LEGACY_WEIGHTS_NAME))}


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` with atomic saves and a fallback on load.

    Args:
      backup_dir: folder of the backup (created on first save); states are restored from it.
      delete_checkpoint: delete the folder when training finishes (as in Keras).
      write_dir: where this process saves its states, if not `backup_dir`: a multi-worker
        run's non-chief workers must save too (reading synchronized variables is a
        collective op every worker joins) but must not write the chief's folder; theirs
        is deleted when training ends.
    """

    def __init__(self, backup_dir: str, delete_checkpoint: bool = True,
                 write_dir: Optional[str] = None):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=delete_checkpoint)
        self._metadata_path = os.path.join(backup_dir, METADATA_NAME)
        self._write_dir = write_dir or backup_dir
        self._last_good: Optional[Dict] = None  # the state restored or last committed

    # ---- saving ----------------------------------------------------------------

    def _save_model(self) -> None:
        """Writes this epoch's state beside the previous one, then commits it.

        Order matters: (1) weights under a temporary name, renamed when complete;
        (2) the metadata, atomically; (3) only then files no state refers to.
        An interruption at any point leaves the last committed state loadable.
        """
        os.makedirs(self._write_dir, exist_ok=True)
        name = f"epoch_{self._current_epoch:04d}.weights.h5"
        pending = os.path.join(self._write_dir, _PENDING_NAME)
        self.model.save_weights(pending, overwrite=True)
        io_utils.fsync_path(pending)
        os.replace(pending, os.path.join(self._write_dir, name))
        current = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        previous = self._last_good
        keep = previous if previous and previous["weights"] != name else None
        io_utils.atomic_write_text(os.path.join(self._write_dir, METADATA_NAME),
                                   json.dumps({**current, "previous": keep}) + "\n")
        self._last_good = current
        self._remove_unreferenced({name, keep["weights"] if keep else name})

    def _remove_unreferenced(self, keep: set) -> None:
        """Deletes weights files of older states (and stale unfinished ones)."""
        for entry in os.listdir(self._write_dir):
            if entry.endswith(".weights.h5") and entry not in keep:
                os.unlink(os.path.join(self._write_dir, entry))

    # ---- loading ---------------------------------------------------------------

    def _candidates(self) -> Tuple[List[Dict], Optional[str]]:
        """States to try, newest first, and why the metadata itself is unusable (if so)."""
        if not os.path.exists(self._metadata_path):
            return [], None
        try:
            with open(self._metadata_path, encoding="utf-8") as f:
                metadata = json.load(f)
            states = [_state_entry(metadata)]
            if metadata.get("previous"):
                states.append(_state_entry(metadata["previous"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            return [], f"{METADATA_NAME}: {_short_reason(err)}"
        return states, None

    def _load_model(self) -> None:
        """Restores the newest loadable state; falls back to the previous one.

        Raises:
          BackupError: the backup holds states but none can be loaded.
        """
        if not self.model.built:
            raise ValueError("BackupAndRestore needs a built model")
        states, problem = self._candidates()
        failures = [problem] if problem else []
        for state in states:
            path = os.path.join(self.backup_dir, state["weights"])
            try:
                if self.model.optimizer is not None and not self.model.optimizer.built:
                    self.model.optimizer.build(self.model.trainable_variables)  # as Keras does
                self.model.load_weights(path)
            except Exception as err:  # any failure: try the next state
                failures.append(f"{state['weights']}: {_short_reason(err)}")
                continue
            if failures:
                print(f"backup: {'; '.join(failures)}; resuming from the previous state "
                      f"(epoch {state['epoch']})", flush=True)
            self.model._initial_epoch = state["epoch"]
            self._last_good = state
            return
        if failures:
            run_dir = os.path.dirname(os.path.abspath(self.backup_dir))
            raise BackupError(
                f"{self.backup_dir}: training backup unreadable ({'; '.join(failures)}); "
                f"delete that folder to restart this run from epoch 0 (best.keras is kept), or "
                f"start a new --run-dir with --init-from {os.path.join(run_dir, 'best.keras')}")

    def on_train_begin(self, logs=None) -> None:
        # Keras's own fallback copies files around on OSError; ours is in _load_model.
        self._load_model()

    def on_train_end(self, logs=None) -> None:
        super().on_train_end(logs)
        if self._write_dir != self.backup_dir:
            shutil.rmtree(self._write_dir, ignore_errors=True)


