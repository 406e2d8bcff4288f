"""A task stream's arrays on the devices, and the checks they need.

:class:`DeviceData` puts the base images on every device once (all datasets
of the stream concatenated, index arrays offset) and each task's index,
label, permutation and mask arrays per run, laid out like the runs axis
(:mod:`mpl_jax.train.program`). Test sets of one shape are stacked into
one :class:`~mpl_jax.train.program.TestGroup`, evaluated by one
``lax.map``.
"""

from __future__ import annotations

import jax
import numpy as np

from mpl_jax.config_checks import ConfigError
from mpl_jax.train import program as program_lib


class DeviceData:
  """The stream's arrays on the devices: base images once (every dataset
  concatenated, indices offset), per-task index arrays per run."""

  def __init__(self, stream, layout, run_of_seed, num_classes):
    off_train = np.cumsum([0] + [len(d.train_y) for d in stream.datasets])
    off_test = np.cumsum([0] + [len(d.test_y) for d in stream.datasets])
    rep = lambda x: program_lib.put(layout, x, per_run=True)
    self.images = program_lib.put(
        layout, np.concatenate([d.train_x for d in stream.datasets]), False)
    self.test_images = program_lib.put(
        layout, np.concatenate([d.test_x for d in stream.datasets]), False)
    host = []
    for t in stream.tasks:
      everything = np.ones((len(stream.seeds), num_classes), bool)
      mask = everything if t.class_mask is None else t.class_mask
      train_mask = (everything if t.training_mask is None
                    else t.training_mask)
      host.append(dict(
          idx=(t.train_idx + off_train[t.dataset])[run_of_seed],
          y=t.train_y[run_of_seed], perm=t.pixel_perm[run_of_seed],
          mask=train_mask[run_of_seed], eval_mask=mask[run_of_seed],
          test_idx=(t.test_idx + off_test[t.dataset])[run_of_seed],
          test_y=t.test_y[run_of_seed]))
    self.train = [jax.tree.map(rep, {k: v for k, v in h.items()
                                     if k != 'eval_mask'}) for h in host]
    # Tasks whose test sets have one shape are evaluated by one lax.map.
    by_shape: dict[int, list[int]] = {}
    for j, h in enumerate(host):
      by_shape.setdefault(h['test_idx'].shape[1], []).append(j)
    self.groups = []
    for ids in by_shape.values():
      stack = lambda k: np.stack([host[j][k] for j in ids], 1)
      self.groups.append(program_lib.TestGroup(
          np.asarray(ids, np.int32),
          dict(idx=rep(stack('test_idx')), y=rep(stack('test_y')),
               perm=rep(stack('perm')), mask=rep(stack('eval_mask')))))
    self.train_sizes = [h['idx'].shape[1] for h in host]


def check_batches(config, stream) -> None:
  """Refuses batch sizes that leave a task without a single step."""
  bs = config.protocol.batch_size
  for t, task in enumerate(stream.tasks):
    n = task.train_idx.shape[1]
    if n < bs:
      raise ConfigError(
          f'config.protocol.batch_size={bs} is larger than the {n} training '
          f'examples of task {t + 1} ({task.name}): no training step would '
          'run. Lower the batch size or raise data.train_subset.')
