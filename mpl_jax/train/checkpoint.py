"""Checkpoints of a run's full state, verified on restore.

A checkpoint is a folder ``step_<NNNNNN>`` (``step`` = tasks completed)
holding ``arrays.npz`` (the leaves of the tree, in order) and
``manifest.json`` (leaf count, shapes, dtypes, the SHA-256 of
``arrays.npz``). It is written into ``<name>.tmp`` and renamed when complete,
so a kill never leaves a half-written ``step_*`` folder; a damaged one (a
truncated or altered file, a missing manifest, ...) fails its checksum. On
restore, the newest intact checkpoint wins: each damaged newer one is
reported in one log line (its step and why) and skipped. The last
``max_to_keep`` checkpoints are kept.

Restoring needs a template tree of the same structure, which a fresh run
builds from the same config (any pytree type: NNX states, optax
NamedTuples, dicts of arrays).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from typing import Any, Optional

from absl import logging
import jax
import numpy as np

_STEP = re.compile(r'^step_(\d{6,})$')


class CheckpointDamaged(ValueError):
  """A checkpoint folder is incomplete or does not match its manifest."""


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


def _fsync_dir(path: str) -> None:
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


class Checkpointer:
  """Keeps the last ``max_to_keep`` checkpoints of a run under ``directory``."""

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.directory = os.path.abspath(directory)
    self.max_to_keep = max_to_keep
    os.makedirs(self.directory, exist_ok=True)

  def steps(self) -> list[int]:
    """Steps of the complete-looking checkpoints, oldest first."""
    out = []
    for name in os.listdir(self.directory):
      m = _STEP.match(name)
      if m:
        out.append(int(m.group(1)))
    return sorted(out)

  def _path(self, step: int) -> str:
    return os.path.join(self.directory, f'step_{step:06d}')

  def save(self, step: int, tree: Any) -> None:
    """Writes ``tree`` as checkpoint ``step`` and prunes old ones."""
    leaves = [np.asarray(x) for x in jax.tree.leaves(tree)]
    final = self._path(step)
    tmp = final + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    arrays = os.path.join(tmp, 'arrays.npz')
    with open(arrays, 'wb') as f:
      np.savez(f, *leaves)
      f.flush()
      os.fsync(f.fileno())
    manifest = {'step': step, 'leaves': len(leaves),
                'shapes': [list(x.shape) for x in leaves],
                'dtypes': [str(x.dtype) for x in leaves],
                'sha256': _sha256(arrays)}
    with open(os.path.join(tmp, 'manifest.json'), 'w') as f:
      json.dump(manifest, f)
      f.flush()
      os.fsync(f.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_dir(self.directory)
    for old in self.steps()[:-self.max_to_keep]:
      shutil.rmtree(self._path(old), ignore_errors=True)

  def _read(self, step: int, template: Any) -> Any:
    path = self._path(step)
    try:
      with open(os.path.join(path, 'manifest.json')) as f:
        manifest = json.load(f)
    except FileNotFoundError:
      raise CheckpointDamaged('manifest.json is missing') from None
    except (OSError, ValueError) as e:
      raise CheckpointDamaged(f'manifest.json is unreadable ({e})') from None
    arrays = os.path.join(path, 'arrays.npz')
    if not os.path.exists(arrays):
      raise CheckpointDamaged('arrays.npz is missing')
    if _sha256(arrays) != manifest.get('sha256'):
      raise CheckpointDamaged('arrays.npz does not match its checksum '
                              '(truncated or altered)')
    leaves, treedef = jax.tree.flatten(template)
    if manifest.get('leaves') != len(leaves):
      raise ValueError(
          f'checkpoint step {step} holds {manifest.get("leaves")} arrays, '
          f'the run {len(leaves)}: the workdir was written by another '
          'config or version.')
    with np.load(arrays) as z:
      restored = [z[f'arr_{i}'] for i in range(len(leaves))]
    for old, new in zip(leaves, restored):
      if np.shape(old) != new.shape:
        raise ValueError(
            f'checkpoint leaf shape {new.shape} does not match the run\'s '
            f'{np.shape(old)}: the workdir was written by another config.')
    return jax.tree.unflatten(treedef, restored)

  def restore_latest(self, template: Any) -> tuple[int, Optional[Any]]:
    """``(step, tree)`` of the newest intact checkpoint, or ``(0, None)``.

    Damaged checkpoints are logged (one line each) and skipped; a
    checkpoint of another config raises ``ValueError``.
    """
    for step in reversed(self.steps()):
      try:
        return step, self._read(step, template)
      except CheckpointDamaged as e:
        logging.warning('Checkpoint of task %d in %s is damaged (%s); '
                        'trying an older one.', step, self.directory, e)
    return 0, None
