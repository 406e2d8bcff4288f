"""Item-by-item learning sessions (Lee et al., SPEC §3); a two-digit analog.

An *item* is a class, learnt in one *session* at a time. A session for item
``i`` holds ``n`` training images of item ``i`` (labelled ``i``) plus ``n``
images of the other items, each relabelled to a *wrong* class: a class drawn
uniformly among the items that are neither the image's own class nor ``i``
(as in the reference code, where the other items' images take the labels of
the remaining non-target items). The other items contribute ``n / (C - 1)``
images each (the remainder goes to randomly chosen ones). A session thus
teaches "these images are ``i``" and actively contradicts every other item's
memory: a conventional network keeps only the most recent items.

The protocol (:func:`item_sessions`) is, in this order:

1. **sequential**: every item once, in the item order (item ``k`` is the
   ``k``-th one learnt);
2. **Hebb repetition**: the sequence of the *repeated* items learnt again,
   ``repetitions - 1`` more times (the reference repeats the whole sequence:
   ``repetitions = 9`` passes in all; a subset can be repeated instead, to
   compare repeated with unrepeated items);
3. **data poisoning**: one session per *poisoned* item (in the item order) in
   which the item's own images carry a fake class ``fake_class[i] != i``
   (a random derangement of the items; the other items' images are relabelled
   wrongly as in every session). The reference poisons every item.

Items come either from a dataset's classes (:func:`class_items`: 10 items for
``digits``, ``mnist_5k``, ``fashion_mnist``) or from the two-digit analog
(:func:`two_digit_items`, up to 45 items).

**This library's analog of the reference data.** The reference builds
"two-digit MNIST": 56x56 images of two MNIST digits side by side (28x28 each,
smaller digit left), one class per unordered digit pair ``{a < b}`` (45
classes), 5000 training (40% of them used) / 1000 test images per class
drawn from the MNIST train / test splits, and learns them with an MLP read-out (4096-4096-C, all
three layers gated) on *frozen ImageNet-pretrained AlexNet conv features*.
Neither full MNIST nor pretrained features are available offline here, so
:func:`two_digit_items` pastes two images of any 10-class base dataset side by
side without padding (``digits`` 8x8 -> 8x16, ``mnist_5k`` 28x28 -> 28x56),
and the trainer (``mpl_jax.train.items``) learns them with a small MLP on raw
pixels. Results are therefore comparable with the paper in kind (which mix
memorises how many items), not in numbers.

Everything random (which items, their order, the generated two-digit images,
each session's images and wrong labels, the repeated and poisoned items, the
fake classes, the label shuffles of the significance test) is drawn here from
the run's seed when the protocol is built, each from its own stream
``SeedSequence([seed, tag, ...])``.

References:
  Lee, Paik, Baek, Cho, "Neuromimetic metaplasticity for adaptive continual
  learning", arXiv:2407.07133, 2024 (Neural Networks 190, 2025);
  reference MATLAB code vsnnlab/Metaplasticity.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

from mpl_jax.data.datasets import ArrayDataset
from mpl_jax.data.streams import Task
from mpl_jax.data.streams import TaskStream

# The 45 classes of the two-digit analog: unordered digit pairs (a, b), a < b.
TWO_DIGIT_PAIRS = tuple((a, b) for a in range(10) for b in range(a + 1, 10))

# Phases of the protocol (values of :attr:`ItemSessions.phase`).
SEQUENTIAL, REPETITION, POISONING = 0, 1, 2
PHASE_NAMES = ('sequential', 'repetition', 'poisoning')

# Tags of the independent random streams drawn from a seed.
_TAG_ITEMS, _TAG_IMAGES, _TAG_SESSION, _TAG_SUBSETS, _TAG_SHUFFLE = range(5)


def _rng(seed: int, *tags: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence([int(seed), *tags]))


@dataclasses.dataclass(frozen=True)
class ItemDataset:
  """The items of one run, as a dataset whose labels are item indices.

  Attributes:
    data: an :class:`ArrayDataset` with ``num_classes = num_items``; label
      ``k`` is the ``k``-th item learnt.
    item_names: a readable name per item (``'3'``, ``'27'`` for the pair
      (2, 7)).
    source: ``'classes'`` or ``'two_digit'``.
    source_classes: ``int32[C]`` base class of each item (``'classes'``), or
      ``int32[C, 2]`` its digit pair (``'two_digit'``).
  """
  data: ArrayDataset
  item_names: tuple[str, ...]
  source: str
  source_classes: np.ndarray

  @property
  def num_items(self) -> int:
    return int(self.data.num_classes)


def _equal_subset(labels: np.ndarray, classes: Sequence[int], per_class: int,
                  rng: np.random.Generator, split: str, name: str,
                  num_classes: int) -> list[np.ndarray]:
  """``per_class`` random indices of each class.

  ``per_class = 0`` takes the smallest class count of the whole dataset (not
  only of ``classes``), so the shapes do not depend on the seed.
  """
  pools = [np.flatnonzero(labels == c) for c in classes]
  smallest = min(int(np.sum(labels == c)) for c in range(num_classes))
  n = smallest if per_class == 0 else per_class
  if n < 1 or n > min(len(p) for p in pools):
    raise ValueError(
        f'{name}: {split}_per_item={per_class} but the chosen classes have '
        f'{min(len(p) for p in pools)} to {max(len(p) for p in pools)} '
        f'{split} images each (use 0 for the smallest class count).')
  return [np.sort(rng.choice(p, n, replace=False)) for p in pools]


def class_items(base: ArrayDataset, num_items: int, seed: int, *,
                train_per_item: int = 0, test_per_item: int = 0
                ) -> ItemDataset:
  """Items = classes of ``base``, in an order drawn from ``seed``.

  Args:
    base: a dataset (e.g. ``digits``, ``mnist_5k``, ``fashion_mnist``).
    num_items: how many of its classes to learn (``<= base.num_classes``),
      chosen and ordered at random.
    seed: the run's seed.
    train_per_item: training images kept per item (a random subset, the same
      number for every item so that sessions have one shape); 0: the smallest
      class count of ``base`` (the same for every seed).
    test_per_item: the same for test images.

  Returns:
    An :class:`ItemDataset` (source ``'classes'``).
  """
  if not 1 <= num_items <= base.num_classes:
    raise ValueError(f'num_items must be in [1, {base.num_classes}] for '
                     f'{base.name}, got {num_items}.')
  rng = _rng(seed, _TAG_ITEMS)
  classes = rng.permutation(base.num_classes)[:num_items]
  train = _equal_subset(base.train_y, classes, train_per_item, rng, 'train',
                        base.name, base.num_classes)
  test = _equal_subset(base.test_y, classes, test_per_item, rng, 'test',
                       base.name, base.num_classes)

  def gather(x, parts):
    idx = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), k, np.int32)
                        for k, p in enumerate(parts)])
    return np.ascontiguousarray(x[idx]), y

  train_x, train_y = gather(base.train_x, train)
  test_x, test_y = gather(base.test_x, test)
  data = ArrayDataset(
      name=f'{base.name}-items', train_x=train_x, train_y=train_y,
      test_x=test_x, test_y=test_y, image_shape=base.image_shape,
      num_classes=num_items, max_value=base.max_value)
  return ItemDataset(data=data, item_names=tuple(str(int(c)) for c in classes),
                     source='classes',
                     source_classes=classes.astype(np.int32))


def two_digit_items(base: ArrayDataset, num_items: int, seed: int, *,
                    train_per_item: int = 200, test_per_item: int = 50,
                    shuffle_sides: bool = False) -> ItemDataset:
  """This library's offline analog of the reference's two-digit MNIST.

  Each image is two images of a 10-class ``base`` dataset pasted side by side
  (``H x W`` -> ``H x 2W``, no padding). Its class is the unordered digit pair
  ``{a, b}``, ``a < b`` (:data:`TWO_DIGIT_PAIRS`, 45 classes); as in the
  reference, the smaller digit is on the left (``shuffle_sides=True`` puts
  it on either side at random). ``num_items`` pairs are chosen and ordered
  from ``seed``; for each one, ``train_per_item`` training images are made
  from random base *training* images of ``a`` and ``b`` (drawn with
  replacement, independently for the two halves, as the reference does) and
  ``test_per_item`` test images from base *test* images only, so no base
  image is shared between the two splits.

  The reference (56x56 two-digit MNIST, 5000/1000 images per class, read by
  frozen pretrained AlexNet features) is not available offline; this analog
  keeps its class structure (45 pair classes, shared digits between classes)
  at a size a small MLP on raw pixels can learn (see the module docstring).

  Args:
    base: a 10-class dataset (``digits`` or ``mnist_5k``; any 10-class one).
    num_items: number of pair classes (1..45).
    seed: the run's seed.
    train_per_item: training images generated per item.
    test_per_item: test images generated per item.
    shuffle_sides: put the two digits in random order.

  Returns:
    An :class:`ItemDataset` (source ``'two_digit'``; ``source_classes`` holds
    each item's pair) with ``image_shape (H, 2W, C)``.

  Example:
    >>> from mpl_jax.data.datasets import load_dataset
    >>> items = two_digit_items(load_dataset('digits'), 30, seed=0)
    >>> items.data.image_shape, items.num_items, items.data.train_x.shape
    ((8, 16, 1), 30, (6000, 128))
  """
  if base.num_classes != 10:
    raise ValueError(f'two_digit_items needs a 10-class base dataset, got '
                     f'{base.name} with {base.num_classes} classes.')
  if not 1 <= num_items <= len(TWO_DIGIT_PAIRS):
    raise ValueError(f'num_items must be in [1, {len(TWO_DIGIT_PAIRS)}], got '
                     f'{num_items}.')
  for name, n in (('train_per_item', train_per_item),
                  ('test_per_item', test_per_item)):
    if n < 1:
      raise ValueError(f'{name} must be >= 1, got {n}.')
  rng = _rng(seed, _TAG_ITEMS)
  chosen = rng.permutation(len(TWO_DIGIT_PAIRS))[:num_items]
  pairs = np.asarray([TWO_DIGIT_PAIRS[c] for c in chosen], np.int32)
  h, w, ch = base.image_shape

  def make(x, y, n, tag):
    g = _rng(seed, _TAG_IMAGES, tag)
    pools = [np.flatnonzero(y == d) for d in range(10)]
    for d, p in enumerate(pools):
      if not len(p):
        raise ValueError(f'{base.name} has no image of class {d}.')
    images = x.reshape(-1, h, w, ch)
    out_x = np.empty((num_items * n, h, 2 * w, ch), np.uint8)
    for k, (a, b) in enumerate(pairs):
      left = g.choice(pools[a], n)
      right = g.choice(pools[b], n)
      if shuffle_sides:
        swap = g.random(n) < 0.5
        left, right = (np.where(swap, right, left),
                       np.where(swap, left, right))
      out_x[k * n:(k + 1) * n, :, :w] = images[left]
      out_x[k * n:(k + 1) * n, :, w:] = images[right]
    out_y = np.repeat(np.arange(num_items, dtype=np.int32), n)
    return out_x.reshape(num_items * n, -1), out_y

  train_x, train_y = make(base.train_x, base.train_y, train_per_item, 0)
  test_x, test_y = make(base.test_x, base.test_y, test_per_item, 1)
  data = ArrayDataset(
      name=f'two_digit_{base.name}', train_x=train_x, train_y=train_y,
      test_x=test_x, test_y=test_y, image_shape=(h, 2 * w, ch),
      num_classes=num_items, max_value=base.max_value)
  return ItemDataset(data=data,
                     item_names=tuple(f'{a}{b}' for a, b in pairs),
                     source='two_digit', source_classes=pairs)


@dataclasses.dataclass(frozen=True)
class ItemSessions:
  """Every session of the protocol for one seed.

  ``S`` sessions of ``L = 2 n`` training examples each (``n`` images of the
  session's item first, then ``n`` relabelled images of the other items).

  Attributes:
    item: ``int32[S]`` the item of each session.
    phase: ``int32[S]`` :data:`SEQUENTIAL`, :data:`REPETITION` or
      :data:`POISONING`.
    pass_index: ``int32[S]`` which pass over the items (0: sequential,
      ``1 .. repetitions - 1``: repetitions, ``repetitions``: poisoning).
    train_idx: ``int32[S, L]`` indices into the item dataset's training
      images.
    train_y: ``int32[S, L]`` the labels trained on.
    true_y: ``int32[S, L]`` the images' true items.
    repeated: ``bool[C]`` items learnt in the repetition passes.
    poisoned: ``bool[C]`` items given a poisoning session.
    fake_class: ``int32[C]`` the fake class of each item (a derangement:
      ``fake_class[i] != i``; used for the poisoned items).
  """
  item: np.ndarray
  phase: np.ndarray
  pass_index: np.ndarray
  train_idx: np.ndarray
  train_y: np.ndarray
  true_y: np.ndarray
  repeated: np.ndarray
  poisoned: np.ndarray
  fake_class: np.ndarray

  @property
  def num_sessions(self) -> int:
    return int(self.item.shape[0])

  def arrays(self) -> dict[str, np.ndarray]:
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
  """A uniformly random permutation of ``range(n)`` without fixed point."""
  if n < 2:
    raise ValueError(f'a derangement needs n >= 2, got {n}.')
  while True:  # Rejection: accepted with probability ~1/e.
    p = rng.permutation(n)
    if np.all(p != np.arange(n)):
      return p.astype(np.int32)


def make_session(train_y: np.ndarray, item: int, per_item: int,
                 rng: np.random.Generator, *, label: Optional[int] = None,
                 exclude_session_item: bool = True
                 ) -> tuple[np.ndarray, np.ndarray]:
  """One session: ``per_item`` images of ``item`` + as many relabelled others.

  Args:
    train_y: ``int[N]`` true item of each training image (items ``0..C-1``).
    item: the session's item.
    per_item: ``n``, images of ``item`` in the session (a random subset of
      its training images; the others contribute ``n`` images in all,
      ``n // (C - 1)`` each and one more for ``n % (C - 1)`` random ones).
    rng: the session's random generator.
    label: the label of the item's images (default ``item``; a fake class in
      a poisoning session).
    exclude_session_item: the other items' wrong labels avoid ``item`` too
      (as in the reference), not only their own class. Needs ``C >= 3``.

  Returns:
    ``(indices int32[2n], labels int32[2n])``: the item's images first.

  Raises:
    ValueError: too few items for a wrong label to exist, or too few images.
  """
  train_y = np.asarray(train_y)
  pools = [np.flatnonzero(train_y == j) for j in range(int(train_y.max()) + 1)]
  return _session(pools, item, per_item, rng, label, exclude_session_item)


def _session(pools, item, per_item, rng, label, exclude_session_item):
  """:func:`make_session` on precomputed per-item index pools."""
  num_items = len(pools)
  others = np.asarray([j for j in range(num_items) if j != item])
  if len(others) < (2 if exclude_session_item else 1):
    raise ValueError(
        f'a session needs at least {3 if exclude_session_item else 2} items '
        f'(a wrong label must exist for the other items), got {num_items}.')
  if per_item > len(pools[item]):
    raise ValueError(f'per_item={per_item} exceeds the {len(pools[item])} '
                     f'training images of item {item}.')
  own = rng.choice(pools[item], per_item, replace=False)
  counts = np.full(len(others), per_item // len(others))
  counts[rng.choice(len(others), per_item % len(others), replace=False)] += 1
  other_idx, wrong = [], []
  for j, k in zip(others, counts):
    if k > len(pools[j]):
      raise ValueError(f'item {j} has {len(pools[j])} training images, '
                       f'{k} are needed.')
    other_idx.append(rng.choice(pools[j], k, replace=False))
    allowed = np.asarray([c for c in range(num_items) if c != j and
                          not (exclude_session_item and c == item)])
    wrong.append(allowed[rng.integers(0, len(allowed), k)])
  idx = np.concatenate([own] + other_idx).astype(np.int32)
  y = np.concatenate([np.full(per_item, item if label is None else label)]
                     + wrong).astype(np.int32)
  return idx, y


def item_sessions(items: ItemDataset, seed: int, *, repetitions: int = 9,
                  num_repeated: Optional[int] = None,
                  num_poisoned: Optional[int] = None,
                  per_item: int = 0,
                  exclude_session_item: bool = True) -> ItemSessions:
  """Builds the whole protocol (sequential, repetition, poisoning) for a seed.

  Args:
    items: the run's items (item ``k`` is learnt ``k``-th).
    seed: the run's seed.
    repetitions: passes over the repeated items in all, the sequential one
      included (reference: 9; 1 = no repetition phase).
    num_repeated: how many items the repetition passes cover (a random
      subset, learnt in the item order); None: all of them (reference).
    num_poisoned: how many items get a poisoning session (a random subset
      drawn independently of the repeated one); None: all (reference); 0: no
      poisoning phase.
    per_item: images of the session's item per session (0: all its training
      images).
    exclude_session_item: see :func:`make_session`.

  Returns:
    An :class:`ItemSessions`.
  """
  c = items.num_items
  y = items.data.train_y
  if repetitions < 1:
    raise ValueError(f'repetitions must be >= 1, got {repetitions}.')
  num_repeated = c if num_repeated is None else int(num_repeated)
  num_poisoned = c if num_poisoned is None else int(num_poisoned)
  for name, v in (('num_repeated', num_repeated),
                  ('num_poisoned', num_poisoned)):
    if not 0 <= v <= c:
      raise ValueError(f'{name} must be in [0, {c}] (or None: all), got {v}.')
  smallest = int(np.bincount(y, minlength=c).min())
  per_item = smallest if per_item == 0 else int(per_item)
  if not 1 <= per_item <= smallest:
    raise ValueError(f'per_item must be in [1, {smallest}] (0: all), got '
                     f'{per_item}.')
  sub = _rng(seed, _TAG_SUBSETS)
  repeated = np.zeros(c, bool)
  repeated[sub.choice(c, num_repeated, replace=False)] = True
  poisoned = np.zeros(c, bool)
  poisoned[sub.choice(c, num_poisoned, replace=False)] = True
  fake = derangement(c, sub) if c >= 2 else np.zeros(c, np.int32)

  plan = [(k, SEQUENTIAL, 0) for k in range(c)]
  for p in range(1, repetitions):
    plan += [(k, REPETITION, p) for k in range(c) if repeated[k]]
  plan += [(k, POISONING, repetitions) for k in range(c) if poisoned[k]]
  pools = [np.flatnonzero(y == j) for j in range(c)]
  idx, labels = [], []
  for s, (k, phase, _) in enumerate(plan):
    i, l = _session(
        pools, k, per_item, _rng(seed, _TAG_SESSION, s),
        int(fake[k]) if phase == POISONING else None, exclude_session_item)
    idx.append(i)
    labels.append(l)
  idx = np.stack(idx)
  return ItemSessions(
      item=np.asarray([p[0] for p in plan], np.int32),
      phase=np.asarray([p[1] for p in plan], np.int32),
      pass_index=np.asarray([p[2] for p in plan], np.int32),
      train_idx=idx, train_y=np.stack(labels), true_y=y[idx],
      repeated=repeated, poisoned=poisoned, fake_class=fake)


def label_shuffles(labels: np.ndarray, num_shuffles: int, seed: int
                   ) -> np.ndarray:
  """``num_shuffles`` random permutations of ``labels`` (rows), from the seed.

  The label-shuffle null of the memorisation test: each row is the test
  labels permuted across the whole evaluated test set. Returned as the
  smallest integer dtype that holds them.
  """
  if num_shuffles < 1:
    raise ValueError(f'num_shuffles must be >= 1, got {num_shuffles}.')
  rng = _rng(seed, _TAG_SHUFFLE)
  dtype = np.int8 if labels.max() < 127 else np.int32
  return np.stack([rng.permutation(labels) for _ in range(num_shuffles)]
                  ).astype(dtype)


def items_stream(make_items: Callable[[int], ItemDataset],
                 seeds: Sequence[int], *, repetitions: int = 9,
                 num_repeated: Optional[int] = None,
                 num_poisoned: Optional[int] = None, per_item: int = 0,
                 exclude_session_item: bool = True,
                 null_shuffles: int = 1000) -> TaskStream:
  """The item protocol as a task stream: one task per session.

  Each seed has its own items (``make_items(seed)``: its own images), so the
  stream's base dataset is every seed's item dataset concatenated, and each
  seed's indices point into its own block. Task ``k`` is session ``k``:
  its training examples and labels (:func:`item_sessions`), and as test set
  the session item's test images (the first ``m`` of them, ``m`` the
  smallest item test count, so every task has one shape) labelled with the
  item; the memorisation test itself runs on each seed's whole test set
  (``extras``).

  Returns:
    A :class:`TaskStream` (``num_classes`` = items) whose ``extras`` hold
    ``items`` and ``sessions`` (one per seed), ``shuffled`` (``[S, N, M]``
    label shuffles of each seed's test labels), ``test_idx`` and ``test_y``
    (``[S, M]``, each seed's whole test set in the base dataset).
  """
  seeds = [int(s) for s in seeds]
  its = [make_items(s) for s in seeds]
  c = its[0].num_items
  if any(it.num_items != c or it.data.test_x.shape[1:] !=
         its[0].data.test_x.shape[1:] for it in its):
    raise ValueError('every seed must have the same number of items and '
                     'image size.')
  ses = [item_sessions(it, s, repetitions=repetitions,
                       num_repeated=num_repeated, num_poisoned=num_poisoned,
                       per_item=per_item,
                       exclude_session_item=exclude_session_item)
         for it, s in zip(its, seeds)]
  off_tr = np.cumsum([0] + [len(it.data.train_y) for it in its])
  off_te = np.cumsum([0] + [len(it.data.test_y) for it in its])
  base = ArrayDataset(
      name=its[0].data.name,
      train_x=np.concatenate([it.data.train_x for it in its]),
      train_y=np.concatenate([it.data.train_y for it in its]),
      test_x=np.concatenate([it.data.test_x for it in its]),
      test_y=np.concatenate([it.data.test_y for it in its]),
      image_shape=its[0].data.image_shape, num_classes=c,
      max_value=its[0].data.max_value)
  m = min(int(np.bincount(it.data.test_y, minlength=c).min()) for it in its)
  pools = [[np.flatnonzero(it.data.test_y == j)[:m] + off_te[r]
            for j in range(c)] for r, it in enumerate(its)]
  d = its[0].data.train_x.shape[1]
  tasks = []
  for k in range(ses[0].num_sessions):
    item = [int(se.item[k]) for se in ses]
    phase = PHASE_NAMES[ses[0].phase[k]]
    tasks.append(Task(
        name=f'{phase} {its[0].item_names[item[0]]}', dataset=0,
        train_idx=np.stack([se.train_idx[k] + off_tr[r]
                            for r, se in enumerate(ses)]).astype(np.int32),
        train_y=np.stack([se.train_y[k] for se in ses]),
        test_idx=np.stack([pools[r][i] for r, i in enumerate(item)]
                          ).astype(np.int32),
        test_y=np.stack([np.full(m, i, np.int32) for i in item]),
        pixel_perm=np.tile(np.arange(d, dtype=np.int32), (len(seeds), 1))))
  extras = dict(
      items=its, sessions=ses,
      shuffled=np.stack([label_shuffles(it.data.test_y, null_shuffles, s)
                         for it, s in zip(its, seeds)]),
      test_idx=np.stack([np.arange(len(it.data.test_y)) + off_te[r]
                         for r, it in enumerate(its)]).astype(np.int32),
      test_y=np.stack([it.data.test_y for it in its]).astype(np.int32))
  return TaskStream(name='items', datasets=(base,), tasks=tuple(tasks),
                    seeds=tuple(seeds), num_classes=c, extras=extras)
