"""Tests of the task streams (mpl_jax.data.streams) on tiny synthetic data."""

import numpy as np
import pytest

from mpl_jax.data import streams
from mpl_jax.data.datasets import ArrayDataset

D = 12  # pixels per image (3 x 4 x 1)


def _dataset(name='toy', num_classes=6, n_train=60, n_test=30, seed=0):
  """Every class appears equally often (labels cycle through the classes)."""
  rng = np.random.default_rng(seed)
  return ArrayDataset(
      name=name,
      train_x=rng.integers(0, 256, (n_train, D), dtype=np.uint8),
      train_y=(np.arange(n_train) % num_classes).astype(np.int32),
      test_x=rng.integers(0, 256, (n_test, D), dtype=np.uint8),
      test_y=(np.arange(n_test) % num_classes).astype(np.int32),
      image_shape=(3, 4, 1), num_classes=num_classes, max_value=255)


def _seed_slice(stream, i):
  """Every array of seed ``i`` (its row), per task."""
  return [{f: None if getattr(t, f) is None else getattr(t, f)[i]
           for f in ('train_idx', 'train_y', 'test_idx', 'test_y',
                     'pixel_perm', 'class_mask')} for t in stream.tasks]


def _assert_same_runs(a, b):
  for ta, tb in zip(a, b):
    for field in ta:
      if ta[field] is None:
        assert tb[field] is None
      else:
        np.testing.assert_array_equal(ta[field], tb[field], err_msg=field)


# ---------------------------------------------------------------- permuted


def test_permuted_seed_sees_the_same_stream_whatever_the_other_seeds():
  ds = _dataset()
  both = streams.permuted_stream(ds, 3, [3, 5], train_subset=20,
                                 test_subset=10)
  alone = streams.permuted_stream(ds, 3, [5], train_subset=20,
                                  test_subset=10)
  _assert_same_runs(_seed_slice(both, 1), _seed_slice(alone, 0))
  again = streams.permuted_stream(ds, 3, [3, 5], train_subset=20,
                                  test_subset=10)
  np.testing.assert_equal(both.arrays(), again.arrays())


def test_permutations_are_permutations_and_differ_by_task_and_seed():
  ds = _dataset()
  s = streams.permuted_stream(ds, 3, [0, 1])
  perms = np.stack([t.pixel_perm for t in s.tasks])  # [T, S, D]
  assert perms.shape == (3, 2, D) and perms.dtype == np.int32
  for p in perms.reshape(-1, D):
    np.testing.assert_array_equal(np.sort(p), np.arange(D))
  flat = {tuple(p) for p in perms.reshape(-1, D)}
  assert len(flat) == 6  # every (task, seed) has its own permutation
  assert not any(np.array_equal(p, np.arange(D)) for p in perms[0])
  assert [t.name for t in s.tasks] == ['perm-1', 'perm-2', 'perm-3']
  # All tasks share the images and labels, unpermuted labels.
  for t in s.tasks:
    np.testing.assert_array_equal(t.train_idx, np.tile(np.arange(60), (2, 1)))
    np.testing.assert_array_equal(t.train_y, ds.train_y[t.train_idx])
    np.testing.assert_array_equal(t.test_y, ds.test_y[t.test_idx])
    assert t.class_mask is None and t.dataset == 0
  assert s.num_tasks == 3 and s.num_classes == 6 and s.input_dim == D


def test_permute_first_false_keeps_the_original_task():
  s = streams.permuted_stream(_dataset(), 2, [0, 1], permute_first=False)
  np.testing.assert_array_equal(s.tasks[0].pixel_perm,
                                np.tile(np.arange(D), (2, 1)))
  assert s.tasks[0].name == 'original'
  assert not np.array_equal(s.tasks[1].pixel_perm[0], np.arange(D))


def test_permuted_subsets():
  ds = _dataset()
  s = streams.permuted_stream(ds, 2, [0, 1], train_subset=20, test_subset=7)
  tr = s.tasks[0].train_idx
  assert tr.shape == (2, 20) and s.tasks[0].test_idx.shape == (2, 7)
  for row in tr:  # sorted, distinct, in range
    assert (np.diff(row) > 0).all() and 0 <= row[0] and row[-1] < 60
  assert not np.array_equal(tr[0], tr[1])  # a subset per seed
  np.testing.assert_array_equal(s.tasks[1].train_idx, tr)  # shared by tasks
  # 0, None and a size past the dataset mean every image, in order.
  for n in (0, None, 1000):
    full = streams.permuted_stream(ds, 1, [0], train_subset=n)
    np.testing.assert_array_equal(full.tasks[0].train_idx[0], np.arange(60))
  with pytest.raises(ValueError, match='train_subset'):
    streams.permuted_stream(ds, 1, [0], train_subset=-1)
  with pytest.raises(ValueError, match='num_tasks'):
    streams.permuted_stream(ds, 0, [0])


def test_subset_indices():
  rng = np.random.default_rng(0)
  np.testing.assert_array_equal(streams.subset_indices(5, None, rng),
                                np.arange(5))
  out = streams.subset_indices(100, 10, rng)
  assert out.dtype == np.int32 and len(np.unique(out)) == 10
  assert (np.diff(out) > 0).all()


# -------------------------------------------------------------- sequential


def test_sequential_stream():
  a, b = _dataset('a', num_classes=6), _dataset('b', num_classes=4, seed=1)
  s = streams.sequential_stream([a, b], [0, 1], train_subset=10)
  assert [t.name for t in s.tasks] == ['a', 'b']
  assert [t.dataset for t in s.tasks] == [0, 1]
  assert s.datasets == (a, b) and s.num_classes == 6  # shared head
  for t, ds in zip(s.tasks, (a, b)):
    np.testing.assert_array_equal(t.pixel_perm, np.tile(np.arange(D), (2, 1)))
    np.testing.assert_array_equal(t.train_y, ds.train_y[t.train_idx])
    assert t.train_idx.shape == (2, 10)
    assert not np.array_equal(t.train_idx[0], t.train_idx[1])  # per seed
  # Each task draws its own subset (a different tag), here of equal sizes.
  assert not np.array_equal(s.tasks[0].train_idx, s.tasks[1].train_idx)
  alone = streams.sequential_stream([a, b], [1], train_subset=10)
  _assert_same_runs(_seed_slice(s, 1), _seed_slice(alone, 0))
  with pytest.raises(ValueError, match='at least one'):
    streams.sequential_stream([], [0])
  other = ArrayDataset('c', np.zeros((4, 6), np.uint8),
                       np.zeros(4, np.int32), np.zeros((2, 6), np.uint8),
                       np.zeros(2, np.int32), (2, 3, 1), 2, 255)
  with pytest.raises(ValueError, match='input size'):
    streams.sequential_stream([a, other], [0])


# ------------------------------------------------------------------- split


@pytest.mark.parametrize('scenario', streams.SCENARIOS)
def test_split_fixed_order_classes_labels_and_masks(scenario):
  ds = _dataset()
  s = streams.split_stream(ds, [0, 1], scenario=scenario)
  assert s.num_tasks == 3  # 6 classes, 2 per task
  assert s.num_classes == (2 if scenario == 'domain' else 6)
  assert [t.name for t in s.tasks] == ['classes-0-1', 'classes-2-3',
                                       'classes-4-5']
  for t, task in enumerate(s.tasks):
    classes = {2 * t, 2 * t + 1}
    true_train = ds.train_y[task.train_idx]
    # Every example of the task's two classes, and only those.
    assert set(np.unique(true_train)) == classes
    assert task.train_idx.shape[1] == 20 and task.test_idx.shape[1] == 10
    np.testing.assert_array_equal(task.pixel_perm,
                                  np.tile(np.arange(D), (2, 1)))
    if scenario == 'domain':  # the class's position in its task
      np.testing.assert_array_equal(task.train_y, true_train - 2 * t)
      np.testing.assert_array_equal(task.test_y,
                                    ds.test_y[task.test_idx] - 2 * t)
    else:
      np.testing.assert_array_equal(task.train_y, true_train)
    if scenario == 'task':
      want = np.zeros(6, bool)
      want[sorted(classes)] = True
      np.testing.assert_array_equal(task.class_mask, np.stack([want] * 2))
    else:
      assert task.class_mask is None
  keys = s.arrays()
  assert ('task0_class_mask' in keys) == (scenario == 'task')


def test_split_labels_trick_masks_training_outputs_only():
  ds = _dataset()
  s = streams.split_stream(ds, [0, 1], scenario='class', train_outputs='task')
  assert s.num_classes == 6
  for t, task in enumerate(s.tasks):
    assert task.class_mask is None  # the test sees every output
    want = np.zeros(6, bool)
    want[[2 * t, 2 * t + 1]] = True
    np.testing.assert_array_equal(task.train_class_mask, np.stack([want] * 2))
  assert s.arrays()['task1_train_class_mask'].shape == (2, 6)
  plain = streams.split_stream(ds, [0, 1], scenario='class')
  assert all(t.train_class_mask is None for t in plain.tasks)
  for scenario in ('task', 'domain'):
    with pytest.raises(ValueError, match="applies to the 'class' scenario"):
      streams.split_stream(ds, [0], scenario=scenario, train_outputs='task')
  with pytest.raises(ValueError, match='train_outputs must be one of'):
    streams.split_stream(ds, [0], train_outputs='seen')


def test_split_random_order_per_seed():
  ds = _dataset()
  s = streams.split_stream(ds, [0, 1, 2], class_order='random',
                           scenario='domain')
  assert [t.name for t in s.tasks] == ['split-1', 'split-2', 'split-3']
  orders = []
  for i in range(3):
    classes = [tuple(np.unique(ds.train_y[t.train_idx[i]])) for t in s.tasks]
    # The tasks of one seed partition the classes.
    assert sorted(c for pair in classes for c in pair) == list(range(6))
    orders.append(classes)
    # Domain labels: 0 or 1, both present in each task.
    for t in s.tasks:
      assert set(np.unique(t.train_y[i])) == {0, 1}
  assert len({tuple(o) for o in orders}) > 1  # the order depends on the seed
  alone = streams.split_stream(ds, [2], class_order='random',
                               scenario='domain')
  _assert_same_runs(_seed_slice(s, 2), _seed_slice(alone, 0))


def test_split_subsets_and_number_of_tasks():
  ds = _dataset()
  s = streams.split_stream(ds, [0, 1], num_tasks=2, train_subset=8,
                           test_subset=3)
  assert s.num_tasks == 2
  for t in s.tasks:
    assert t.train_idx.shape == (2, 8) and t.test_idx.shape == (2, 3)
    assert not np.array_equal(t.train_idx[0], t.train_idx[1])
    for row in t.train_idx:
      assert (np.diff(row) > 0).all()
  # Classes of unequal sizes (0 and 1: 10 training examples each, the
  # others 5): every seed's task is cut to the smallest count over the
  # seeds (a prefix of what that seed alone gets), so that runs stack.
  labels = np.array([0, 1] * 10 + [2, 3, 4, 5] * 5, np.int32)
  uneven = ArrayDataset('u', np.zeros((40, D), np.uint8), labels,
                        np.zeros((6, D), np.uint8),
                        np.arange(6, dtype=np.int32), (3, 4, 1), 6, 255)
  seeds = [0, 1, 2, 3]
  s = streams.split_stream(uneven, seeds, class_order='random')
  alone = [streams.split_stream(uneven, [k], class_order='random')
           for k in seeds]
  for t, task in enumerate(s.tasks):
    sizes = [a.tasks[t].train_idx.shape[1] for a in alone]
    assert task.train_idx.shape[1] == min(sizes)
    for i, a in enumerate(alone):
      np.testing.assert_array_equal(
          task.train_idx[i], a.tasks[t].train_idx[0][:min(sizes)])
  assert len({a.tasks[0].train_idx.shape[1] for a in alone}) > 1


@pytest.mark.parametrize('kwargs, match', [
    (dict(scenario='instance'), 'scenario'),
    (dict(class_order='sorted'), 'class_order'),
    (dict(classes_per_task=0), 'classes_per_task'),
    (dict(classes_per_task=7), 'classes_per_task'),
    (dict(num_tasks=4), 'num_tasks'),
    (dict(test_subset=-2), 'test_subset'),
])
def test_split_errors(kwargs, match):
  with pytest.raises(ValueError, match=match):
    streams.split_stream(_dataset(), [0], **kwargs)
