"""Orbax checkpoints of a run's full state, restored into the same tree.

The tree (train state with optimizer state and keys, plus the metric arrays)
is saved as a flat dict of its leaves, so any pytree type (NNX states, optax
NamedTuples) round-trips exactly: restoring needs a template tree of the same
structure, which a fresh run builds from the same config.
"""

from __future__ import annotations

import logging as std_logging
import os
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp


def _quiet_orbax(record: std_logging.LogRecord) -> bool:
  """Drops orbax's INFO chatter (one dozen lines per save) from the logs."""
  return record.levelno >= std_logging.WARNING or '/orbax/' not in (
      record.pathname or '')


std_logging.getLogger('absl').addFilter(_quiet_orbax)


class Checkpointer:
  """Keeps the last two checkpoints of a run under ``directory``."""

  def __init__(self, directory: str, max_to_keep: int = 2):
    self._manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, tree: Any) -> None:
    leaves = jax.tree.leaves(tree)
    flat = {f'{i:06d}': np.asarray(x) for i, x in enumerate(leaves)}
    self._manager.save(step, args=ocp.args.StandardSave(flat))
    self._manager.wait_until_finished()

  def restore(self, step: int, template: Any) -> Any:
    leaves, treedef = jax.tree.flatten(template)
    abstract = {f'{i:06d}': np.zeros(np.shape(x), np.asarray(x).dtype)
                for i, x in enumerate(leaves)}
    flat = self._manager.restore(step,
                                 args=ocp.args.StandardRestore(abstract))
    if len(flat) != len(leaves):
      raise ValueError('checkpoint does not match the run\'s state tree.')
    restored = [flat[f'{i:06d}'] for i in range(len(leaves))]
    for old, new in zip(leaves, restored):
      if np.shape(old) != np.shape(new):
        raise ValueError(
            f'checkpoint leaf shape {np.shape(new)} does not match the run\'s '
            f'{np.shape(old)}: the workdir was written by another config.')
    return jax.tree.unflatten(
        treedef, [jax.numpy.asarray(x) if isinstance(o, jax.Array) else
                  np.asarray(x) for o, x in zip(leaves, restored)])

  def close(self) -> None:
    self._manager.close()
