"""A validation split carved out of a stream's training images.

``config.data.validation = N`` (default 0: off) takes the last ``N``
training images of every task (per seed, in the order of the task's
``train_idx``, which the streams draw sorted) out of the training set and
evaluates on them *instead of* the test set: every accuracy the trainer
records (``accuracy.npy``, the summary) is then a validation accuracy, and
no test image is read. Settings chosen on such runs are chosen on held-out
data; the test set is used afterwards, with ``validation = 0``, on other
seeds.

The validation images come after ``data.train_subset`` has been applied
(``train_subset=1000, validation=200``: 800 training and 200 validation
images per task) and ``data.test_subset`` is then unused. ``N`` must be
smaller than every task's training count: a task without a training image
is refused (:func:`carve_validation`; :func:`check_config` refuses what is
decidable from the config alone, before any data is loaded).

The evaluation reads its images from the base dataset's test arrays; the
stream returned here swaps in a dataset whose test arrays *are* its
training arrays (the same numpy objects, no copy), so that the validation
indices point into the training images.
"""

from __future__ import annotations

import dataclasses

from mpl_jax.data import streams as streams_lib
from mpl_jax.train import checks


def check_config(config) -> int:
  """``config.data.validation`` (0 when absent): an int >= 0, smaller than
  ``data.train_subset`` when that is set. Returns it."""
  if 'validation' not in config.data:
    return 0
  n = checks.positive_int(config, 'data.validation', minimum=0)
  sub = config.data.get('train_subset', 0)
  if n and sub and n >= sub:
    raise checks.ConfigError(
        f'config.data.validation={n} must be smaller than '
        f'config.data.train_subset={sub}: the validation images are taken '
        'out of each task\'s training images (none would be left to train '
        'on).')
  return int(n)


def carve_validation(stream: streams_lib.TaskStream,
                     n: int) -> streams_lib.TaskStream:
  """The stream whose tasks train on all but their last ``n`` training
  images and are evaluated on those ``n`` (``n = 0``: ``stream`` as is).

  Raises:
    ValueError: ``n < 0``, or a task with ``n`` or fewer training images.
  """
  n = int(n)
  if n < 0:
    raise ValueError(f'validation must be >= 0, got {n}.')
  if n == 0:
    return stream
  tasks = []
  for t, task in enumerate(stream.tasks):
    have = task.train_idx.shape[1]
    if n >= have:
      raise ValueError(
          f'data.validation={n} leaves no training image in task {t} '
          f'({task.name!r}, {have} training images per seed); lower it.')
    tasks.append(dataclasses.replace(
        task, train_idx=task.train_idx[:, :-n], train_y=task.train_y[:, :-n],
        test_idx=task.train_idx[:, -n:], test_y=task.train_y[:, -n:]))
  datasets = tuple(dataclasses.replace(ds, test_x=ds.train_x,
                                       test_y=ds.train_y)
                   for ds in stream.datasets)
  return dataclasses.replace(stream, name=f'{stream.name}-validation{n}',
                             datasets=datasets, tasks=tuple(tasks))
