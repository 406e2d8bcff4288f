"""Task streams: which examples, pixel orders and labels make up each task.

A stream never copies images. It holds the base datasets once (uint8, to be
put on the device once) and, per task and per seed, index arrays into them, a
pixel permutation and the labels to train on. Everything random (pixel
permutations, subsets, class splits) is drawn here, from each run's seed, when
the stream is built: seed ``s`` of a vmapped run sees exactly the stream that a
single run with seed ``s`` sees, whatever the number of seeds. The arrays are
recorded in the run's outputs (``stream.npz``).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from mpl_jax.data.datasets import ArrayDataset

STREAMS = ('permuted', 'sequential')


@dataclasses.dataclass(frozen=True)
class Task:
  """One task for every seed (leading axis ``S`` of each array).

  Attributes:
    name: a readable name (``'perm-3'``, ``'fashion_mnist'``).
    dataset: index into :attr:`TaskStream.datasets`.
    train_idx: ``int32[S, n]`` indices into the base training images.
    train_y: ``int32[S, n]`` labels to train on.
    test_idx: ``int32[S, m]`` indices into the base test images.
    test_y: ``int32[S, m]`` labels to evaluate against.
    pixel_perm: ``int32[S, D]`` input permutation applied on the fly.
  """
  name: str
  dataset: int
  train_idx: np.ndarray
  train_y: np.ndarray
  test_idx: np.ndarray
  test_y: np.ndarray
  pixel_perm: np.ndarray


@dataclasses.dataclass(frozen=True)
class TaskStream:
  """A sequence of tasks over shared base datasets."""
  name: str
  datasets: tuple[ArrayDataset, ...]
  tasks: tuple[Task, ...]
  seeds: tuple[int, ...]
  num_classes: int

  @property
  def input_dim(self) -> int:
    return int(self.datasets[0].train_x.shape[1])

  @property
  def num_tasks(self) -> int:
    return len(self.tasks)

  def arrays(self) -> dict[str, np.ndarray]:
    """Everything drawn from the seeds, for ``np.savez`` (outputs)."""
    out = {'seeds': np.asarray(self.seeds)}
    for t, task in enumerate(self.tasks):
      for field in ('train_idx', 'train_y', 'test_idx', 'test_y',
                    'pixel_perm'):
        out[f'task{t}_{field}'] = getattr(task, field)
    return out


def _rng(seed: int, *tags: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence([int(seed), *tags]))


def _subset(n_total: int, n: Optional[int], rng: np.random.Generator
            ) -> np.ndarray:
  """All indices in order, or a random subset of size ``n`` from ``rng``."""
  if not n or n >= n_total:
    return np.arange(n_total, dtype=np.int32)
  return np.sort(rng.choice(n_total, size=n, replace=False)).astype(np.int32)


def _check_subset(name: str, value: Optional[int]) -> None:
  if value is not None and value < 0:
    raise ValueError(f'{name} must be >= 0 (0 means all), got {value}.')


_TAG_PERM, _TAG_TRAIN, _TAG_TEST = 1, 2, 3


def permuted_stream(dataset: ArrayDataset, num_tasks: int,
                    seeds: Sequence[int], *, permute_first: bool = True,
                    train_subset: Optional[int] = None,
                    test_subset: Optional[int] = None) -> TaskStream:
  """Permuted-pixel tasks: each task is the dataset under its own permutation.

  Args:
    dataset: the base dataset.
    num_tasks: number of tasks (>= 1).
    seeds: one seed per run; permutations and subsets come from each seed.
    permute_first: whether task 0 is permuted too (the reference does: a new
      permutation per task, first included). If False, task 0 is the identity.
    train_subset: use a random subset of this many training images per seed
      (0 or None: all). The same subset serves every task.
    test_subset: likewise for the test images.

  Returns:
    A :class:`TaskStream`.
  """
  if num_tasks < 1:
    raise ValueError(f'num_tasks must be >= 1, got {num_tasks}.')
  _check_subset('train_subset', train_subset)
  _check_subset('test_subset', test_subset)
  d = dataset.train_x.shape[1]
  perms, tr_idx, te_idx = [], [], []
  for s in seeds:
    rng = _rng(s, _TAG_PERM)
    p = np.stack([rng.permutation(d) for _ in range(num_tasks)])
    if not permute_first:
      p[0] = np.arange(d)
    perms.append(p.astype(np.int32))
    tr_idx.append(_subset(len(dataset.train_y), train_subset,
                          _rng(s, _TAG_TRAIN)))
    te_idx.append(_subset(len(dataset.test_y), test_subset,
                          _rng(s, _TAG_TEST)))
  tr_idx, te_idx = np.stack(tr_idx), np.stack(te_idx)
  tasks = []
  for t in range(num_tasks):
    tasks.append(Task(
        name=f'perm-{t}', dataset=0,
        train_idx=tr_idx, train_y=dataset.train_y[tr_idx],
        test_idx=te_idx, test_y=dataset.test_y[te_idx],
        pixel_perm=np.stack([p[t] for p in perms])))
  return TaskStream(name=f'permuted-{dataset.name}', datasets=(dataset,),
                    tasks=tuple(tasks), seeds=tuple(int(s) for s in seeds),
                    num_classes=dataset.num_classes)


def sequential_stream(datasets: Sequence[ArrayDataset], seeds: Sequence[int],
                      *, train_subset: Optional[int] = None,
                      test_subset: Optional[int] = None) -> TaskStream:
  """One task per dataset, in order (e.g. MNIST then Fashion-MNIST).

  All datasets must have the same input size. Labels are kept as they are
  (a shared head over ``max(num_classes)`` outputs).
  """
  if not datasets:
    raise ValueError('sequential_stream needs at least one dataset.')
  dims = {ds.name: ds.train_x.shape[1] for ds in datasets}
  if len(set(dims.values())) != 1:
    raise ValueError(
        f'sequential datasets must share the input size, got {dims}.')
  _check_subset('train_subset', train_subset)
  _check_subset('test_subset', test_subset)
  d = next(iter(dims.values()))
  ident = np.tile(np.arange(d, dtype=np.int32), (len(seeds), 1))
  tasks = []
  for t, ds in enumerate(datasets):
    tr = np.stack([_subset(len(ds.train_y), train_subset,
                           _rng(s, _TAG_TRAIN, t)) for s in seeds])
    te = np.stack([_subset(len(ds.test_y), test_subset,
                           _rng(s, _TAG_TEST, t)) for s in seeds])
    tasks.append(Task(name=ds.name, dataset=t, train_idx=tr,
                      train_y=ds.train_y[tr], test_idx=te,
                      test_y=ds.test_y[te], pixel_perm=ident))
  return TaskStream(
      name='sequential-' + '-'.join(ds.name for ds in datasets),
      datasets=tuple(datasets), tasks=tuple(tasks),
      seeds=tuple(int(s) for s in seeds),
      num_classes=max(ds.num_classes for ds in datasets))
