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

STREAMS = ('permuted', 'sequential', 'split')
SCENARIOS = ('class', 'task', 'domain')
TRAIN_OUTPUTS = ('all', 'task')


@dataclasses.dataclass(frozen=True)
class Task:
  """One task for every seed (leading axis ``S`` of each array).

  Attributes:
    name: a readable name (``'perm-3'``: the third task, ``'fashion_mnist'``).
    dataset: index into :attr:`TaskStream.datasets`.
    train_idx: ``int32[S, n]`` indices into the base training images.
    train_y: ``int32[S, n]`` labels to train on.
    test_idx: ``int32[S, m]`` indices into the base test images.
    test_y: ``int32[S, m]`` labels to evaluate against.
    pixel_perm: ``int32[S, D]`` input permutation applied on the fly.
    class_mask: ``bool[S, C]`` outputs allowed for this task (masked logits
      of task-incremental learning); None: all outputs.
    train_class_mask: ``bool[S, C]`` outputs that take part in the training
      loss, when they differ from ``class_mask`` (the "labels trick" of
      class-incremental learning: train on the task's own outputs, test on
      all); None: ``class_mask``.
  """
  name: str
  dataset: int
  train_idx: np.ndarray
  train_y: np.ndarray
  test_idx: np.ndarray
  test_y: np.ndarray
  pixel_perm: np.ndarray
  class_mask: Optional[np.ndarray] = None
  train_class_mask: Optional[np.ndarray] = None

  @property
  def training_mask(self) -> Optional[np.ndarray]:
    """The outputs the training loss sees (None: all)."""
    return (self.class_mask if self.train_class_mask is None
            else self.train_class_mask)


@dataclasses.dataclass(frozen=True)
class TaskStream:
  """A sequence of tasks over shared base datasets."""
  name: str
  datasets: tuple[ArrayDataset, ...]
  tasks: tuple[Task, ...]
  seeds: tuple[int, ...]
  num_classes: int
  extras: Optional[dict] = None  # protocol-specific (e.g. item sessions)

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
                    'pixel_perm', 'class_mask', 'train_class_mask'):
        if getattr(task, field) is not None:
          out[f'task{t}_{field}'] = getattr(task, field)
    return out


def _rng(seed: int, *tags: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence([int(seed), *tags]))


def subset_indices(n_total: int, n: Optional[int], rng: np.random.Generator
            ) -> np.ndarray:
  """All indices in order, or a random subset of size ``n`` from ``rng``."""
  if not n or n >= n_total:
    return np.arange(n_total, dtype=np.int32)
  return np.sort(rng.choice(n_total, size=n, replace=False)).astype(np.int32)


def _check_subset(name: str, value: Optional[int]) -> None:
  if value is not None and value < 0:
    raise ValueError(f'{name} must be >= 0 (0 means all), got {value}.')


_TAG_PERM, _TAG_TRAIN, _TAG_TEST, _TAG_CLASSES = 1, 2, 3, 4


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
    tr_idx.append(subset_indices(len(dataset.train_y), train_subset,
                          _rng(s, _TAG_TRAIN)))
    te_idx.append(subset_indices(len(dataset.test_y), test_subset,
                          _rng(s, _TAG_TEST)))
  tr_idx, te_idx = np.stack(tr_idx), np.stack(te_idx)
  tasks = []
  for t in range(num_tasks):
    tasks.append(Task(
        name=('original' if t == 0 and not permute_first else
              f'perm-{t + 1}'),
        dataset=0,
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
    tr = np.stack([subset_indices(len(ds.train_y), train_subset,
                           _rng(s, _TAG_TRAIN, t)) for s in seeds])
    te = np.stack([subset_indices(len(ds.test_y), test_subset,
                           _rng(s, _TAG_TEST, t)) for s in seeds])
    tasks.append(Task(name=ds.name, dataset=t, train_idx=tr,
                      train_y=ds.train_y[tr], test_idx=te,
                      test_y=ds.test_y[te], pixel_perm=ident))
  return TaskStream(
      name='sequential-' + '-'.join(ds.name for ds in datasets),
      datasets=tuple(datasets), tasks=tuple(tasks),
      seeds=tuple(int(s) for s in seeds),
      num_classes=max(ds.num_classes for ds in datasets))


def split_stream(dataset: ArrayDataset, seeds: Sequence[int], *,
                 classes_per_task: int = 2, scenario: str = 'class',
                 class_order: str = 'fixed', num_tasks: Optional[int] = None,
                 train_subset: Optional[int] = None,
                 test_subset: Optional[int] = None,
                 train_outputs: str = 'all') -> TaskStream:
  """Split a dataset by class into tasks (e.g. split MNIST: 5 x 2 classes).

  Scenarios (van de Ven & Tolias, 2019):

  * ``'class'`` (class-incremental): one head over all the dataset's classes,
    no task identity at train or test time;
  * ``'task'`` (task-incremental): the logits of classes outside the task are
    masked at train and test time (a multi-head net with shared body);
  * ``'domain'`` (domain-incremental): the label is the class's position in
    its task (``0..classes_per_task-1``), one small shared head.

  Args:
    dataset: the base dataset.
    seeds: one seed per run.
    classes_per_task: classes in each task.
    scenario: ``'class'``, ``'task'`` or ``'domain'``.
    class_order: ``'fixed'`` (0, 1, 2, ...) or ``'random'`` (a class order
      drawn from each seed).
    num_tasks: tasks to keep (default: all ``num_classes //
      classes_per_task``).
    train_subset: at most this many training images per task (random per
      seed; 0/None: all). Tasks are cut to the smallest count over seeds so
      that runs stack.
    test_subset: likewise for test images.
    train_outputs: ``'all'`` (default) or, for ``scenario='class'`` only,
      ``'task'``: the training loss sees only the logits of the task's own
      classes (``Task.train_class_mask``), the test still takes the argmax
      over all classes (the "labels trick"; no task identity at test time,
      but the learner is told which outputs belong to the current task while
      training it).

  Returns:
    A :class:`TaskStream`.
  """
  if scenario not in SCENARIOS:
    raise ValueError(f'scenario must be one of {SCENARIOS}, got {scenario!r}.')
  if train_outputs not in TRAIN_OUTPUTS:
    raise ValueError(f'train_outputs must be one of {TRAIN_OUTPUTS}, got '
                     f'{train_outputs!r}.')
  if train_outputs != 'all' and scenario != 'class':
    raise ValueError(f"train_outputs={train_outputs!r} applies to the 'class' "
                     f'scenario only, got scenario={scenario!r}.')
  if class_order not in ('fixed', 'random'):
    raise ValueError(f"class_order must be 'fixed' or 'random', got "
                     f'{class_order!r}.')
  c = dataset.num_classes
  if not 1 <= classes_per_task <= c:
    raise ValueError(f'classes_per_task must be in 1..{c}, got '
                     f'{classes_per_task}.')
  max_tasks = c // classes_per_task
  num_tasks = num_tasks or max_tasks
  if not 1 <= num_tasks <= max_tasks:
    raise ValueError(f'num_tasks must be in 1..{max_tasks} for '
                     f'{classes_per_task} classes per task, got {num_tasks}.')
  _check_subset('train_subset', train_subset)
  _check_subset('test_subset', test_subset)
  orders = []
  for s in seeds:
    order = np.arange(c)
    if class_order == 'random':
      order = _rng(s, _TAG_CLASSES).permutation(c)
    orders.append(order)
  d = dataset.train_x.shape[1]
  ident = np.tile(np.arange(d, dtype=np.int32), (len(seeds), 1))
  out_classes = classes_per_task if scenario == 'domain' else c

  def pick(labels, classes, n_max, rng):
    idx = np.flatnonzero(np.isin(labels, classes))
    if n_max and len(idx) > n_max:
      idx = np.sort(rng.choice(idx, size=n_max, replace=False))
    return idx

  tasks = []
  for t in range(num_tasks):
    per_seed = []
    for s, order in zip(seeds, orders):
      cls = order[t * classes_per_task:(t + 1) * classes_per_task]
      tr = pick(dataset.train_y, cls, train_subset, _rng(s, _TAG_TRAIN, t))
      te = pick(dataset.test_y, cls, test_subset, _rng(s, _TAG_TEST, t))
      per_seed.append((cls, tr, te))
    n_tr = min(len(tr) for _, tr, _ in per_seed)
    n_te = min(len(te) for _, _, te in per_seed)
    tr_idx = np.stack([tr[:n_tr] for _, tr, _ in per_seed]).astype(np.int32)
    te_idx = np.stack([te[:n_te] for _, _, te in per_seed]).astype(np.int32)
    tr_y = dataset.train_y[tr_idx]
    te_y = dataset.test_y[te_idx]
    mask = None
    if scenario == 'domain':
      # label -> its position within the task's classes
      pos = np.stack([np.argsort(order)  # class -> its index in the order
                      for order in orders]) % classes_per_task
      tr_y = np.take_along_axis(pos, tr_y, 1).astype(np.int32)
      te_y = np.take_along_axis(pos, te_y, 1).astype(np.int32)
    own = np.zeros((len(seeds), c), bool)
    for i, (cls, _, _) in enumerate(per_seed):
      own[i, cls] = True
    train_mask = None
    if scenario == 'task':
      mask = own
    elif train_outputs == 'task':
      train_mask = own
    names = '-'.join(str(k) for k in per_seed[0][0])
    tasks.append(Task(name=f'classes-{names}' if class_order == 'fixed' else
                      f'split-{t + 1}', dataset=0, train_idx=tr_idx,
                      train_y=tr_y.astype(np.int32), test_idx=te_idx,
                      test_y=te_y.astype(np.int32), pixel_perm=ident,
                      class_mask=mask, train_class_mask=train_mask))
  return TaskStream(name=f'split-{scenario}-{dataset.name}',
                    datasets=(dataset,), tasks=tuple(tasks),
                    seeds=tuple(int(s) for s in seeds),
                    num_classes=out_classes)
