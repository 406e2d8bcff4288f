"""Tests of the item protocol (mpl_jax.data.items, mpl_jax.train.items)."""

from __future__ import annotations

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpl_jax.data import datasets
from mpl_jax.data import items as items_lib
from mpl_jax.rules import flexibility as flex_lib
from configs import items_flexibility as items_config
from mpl_jax.rules import mixture as mixture_lib
from mpl_jax.train import items as items_plugin
from mpl_jax.train import train
from mpl_jax.train import validate


@pytest.fixture(scope='module')
def digits():
  return datasets.load_dataset('digits')


# ------------------------------------------------------------------ sessions


def test_session_item_images_and_wrong_labels(digits):
  items = items_lib.class_items(digits, 10, seed=3)
  y = items.data.train_y
  rng = np.random.default_rng(0)
  for item, n in ((0, 60), (7, 45)):
    idx, lab = items_lib.make_session(y, item, n, rng)
    assert idx.shape == lab.shape == (2 * n,)
    own, other = idx[:n], idx[n:]
    # The item's images, each once, labelled as the item.
    np.testing.assert_array_equal(y[own], item)
    assert len(set(own.tolist())) == n
    np.testing.assert_array_equal(lab[:n], item)
    # As many images of the other items, none with its true label (nor the
    # session item's), each other item contributing n // 9 or n // 9 + 1.
    assert np.all(y[other] != item)
    assert np.all(lab[n:] != y[other])
    assert np.all(lab[n:] != item)
    counts = np.bincount(y[other], minlength=10)
    assert counts[item] == 0
    assert set(np.delete(counts, item).tolist()) <= {n // 9, n // 9 + 1}
    assert counts.sum() == n
    assert len(set(other.tolist())) == n


def test_session_poison_label_and_too_few_items():
  y = np.repeat(np.arange(4), 10).astype(np.int32)
  idx, lab = items_lib.make_session(y, 1, 6, np.random.default_rng(0),
                                    label=3)
  np.testing.assert_array_equal(lab[:6], 3)
  assert np.all(lab[6:] != y[idx[6:]]) and np.all(lab[6:] != 1)
  with pytest.raises(ValueError, match='at least 3 items'):
    items_lib.make_session(np.repeat(np.arange(2), 5), 0, 4,
                           np.random.default_rng(0))


def test_item_sessions_protocol_and_determinism(digits):
  items = items_lib.class_items(digits, 6, seed=1, train_per_item=40,
                                test_per_item=10)
  s = items_lib.item_sessions(items, 1, repetitions=3, num_repeated=4,
                              num_poisoned=3, per_item=30)
  assert s.num_sessions == 6 + 2 * 4 + 3
  np.testing.assert_array_equal(s.item[:6], np.arange(6))
  assert s.repeated.sum() == 4 and s.poisoned.sum() == 3
  rep = s.phase == items_lib.REPETITION
  np.testing.assert_array_equal(
      s.item[rep], np.tile(np.flatnonzero(s.repeated), 2))
  poi = np.flatnonzero(s.phase == items_lib.POISONING)
  np.testing.assert_array_equal(s.item[poi], np.flatnonzero(s.poisoned))
  assert np.all(s.fake_class != np.arange(6))
  assert sorted(s.fake_class.tolist()) == list(range(6))  # a derangement
  for t in range(s.num_sessions):
    item = s.item[t]
    want = s.fake_class[item] if s.phase[t] == items_lib.POISONING else item
    np.testing.assert_array_equal(s.train_y[t, :30], want)
    np.testing.assert_array_equal(s.true_y[t, :30], item)
    assert np.all(s.train_y[t, 30:] != s.true_y[t, 30:])
  again = items_lib.item_sessions(items, 1, repetitions=3, num_repeated=4,
                                  num_poisoned=3, per_item=30)
  other = items_lib.item_sessions(items, 2, repetitions=3, num_repeated=4,
                                  num_poisoned=3, per_item=30)
  chex.assert_trees_all_equal(s.arrays(), again.arrays())
  assert not np.array_equal(s.train_idx, other.train_idx)


# ----------------------------------------------------------------- two-digit


def test_two_digit_pairs():
  assert len(items_lib.TWO_DIGIT_PAIRS) == 45
  assert len(set(items_lib.TWO_DIGIT_PAIRS)) == 45
  assert all(0 <= a < b <= 9 for a, b in items_lib.TWO_DIGIT_PAIRS)


def test_two_digit_items_shapes_content_and_seed(digits):
  it = items_lib.two_digit_items(digits, 45, seed=0, train_per_item=12,
                                 test_per_item=5)
  d = it.data
  assert it.num_items == 45 and d.num_classes == 45
  assert d.image_shape == (8, 16, 1)
  assert d.train_x.shape == (45 * 12, 128) and d.test_x.shape == (45 * 5, 128)
  assert d.train_x.dtype == np.uint8 and d.max_value == digits.max_value
  assert sorted(map(tuple, it.source_classes.tolist())) == list(
      items_lib.TWO_DIGIT_PAIRS)
  np.testing.assert_array_equal(np.bincount(d.train_y), 12)
  # Each half is a base image of the pair's digit, from the matching split.
  for split, n in (('train', 12), ('test', 5)):
    base_x = getattr(digits, f'{split}_x').reshape(-1, 8, 8)
    base_y = getattr(digits, f'{split}_y')
    x = getattr(d, f'{split}_x').reshape(-1, 8, 16)
    for k in (0, 17, 44):
      a, b = it.source_classes[k]
      for img in x[k * n:(k + 1) * n:3]:
        for half, digit in ((img[:, :8], a), (img[:, 8:], b)):
          match = np.all(base_x == half, axis=(1, 2))
          assert match.any() and digit in base_y[match]
  assert it.item_names[0] == ''.join(map(str, it.source_classes[0]))
  again = items_lib.two_digit_items(digits, 45, seed=0, train_per_item=12,
                                    test_per_item=5)
  np.testing.assert_array_equal(again.data.train_x, d.train_x)
  np.testing.assert_array_equal(again.source_classes, it.source_classes)
  other = items_lib.two_digit_items(digits, 45, seed=1, train_per_item=12,
                                    test_per_item=5)
  assert not np.array_equal(other.source_classes, it.source_classes)
  few = items_lib.two_digit_items(digits, 30, seed=0, train_per_item=4,
                                  test_per_item=2)
  assert few.num_items == 30 and few.data.train_x.shape == (120, 128)
  with pytest.raises(ValueError):
    items_lib.two_digit_items(digits, 46, seed=0)


# --------------------------------------------------------- permutation test


def _numpy_shuffle_test(pred, labels, shuffled, target):
  """Literal reference: per shuffle, the item's accuracy under the shuffled
  labels, then p = (1 + #{null >= observed}) / (1 + N)."""
  c = len(target)
  frac, p = np.zeros(c), np.zeros(c)
  for i in range(c):
    obs = np.mean(pred[labels == i] == target[i])
    null = np.asarray([np.mean(pred[s == i] == target[i]) for s in shuffled])
    frac[i] = obs
    p[i] = (1 + np.sum(null >= obs - 1e-12)) / (1 + len(shuffled))
  return frac, p


def test_shuffle_test_memorised_vs_chance():
  rng = np.random.default_rng(0)
  c, per = 5, 40
  labels = np.repeat(np.arange(c), per).astype(np.int32)
  pred = rng.integers(0, c, labels.size)  # chance for every item...
  pred[labels == 2] = 2  # ...except item 2, perfectly memorised
  shuffled = items_lib.label_shuffles(labels, 999, seed=0)
  frac, p = items_plugin.shuffle_test(
      jnp.asarray(pred), jnp.asarray(labels), jnp.asarray(shuffled),
      jnp.arange(c, dtype=jnp.int32), c)
  ref_frac, ref_p = _numpy_shuffle_test(pred, labels, shuffled, np.arange(c))
  np.testing.assert_allclose(frac, ref_frac, atol=1e-6)
  np.testing.assert_allclose(p, ref_p, atol=1e-6)
  assert frac[2] == 1.0
  assert p[2] == pytest.approx(1 / 1000)  # no shuffle reaches 100%
  # Predictions independent of the labels: valid p-values, P(p < 0.05) is
  # about 0.05 (200 item tests here), never a memorised item by design.
  preds = jnp.asarray(rng.integers(0, c, (40, labels.size)))
  _, p_chance = jax.vmap(lambda q: items_plugin.shuffle_test(
      q, jnp.asarray(labels), jnp.asarray(shuffled),
      jnp.arange(c, dtype=jnp.int32), c))(preds)
  assert 0.0 <= float(jnp.mean(p_chance < 0.05)) <= 0.1
  assert float(jnp.median(p_chance)) > 0.3
  # Target = a derangement (adoption of fake labels).
  fake = np.asarray([1, 2, 3, 4, 0], np.int32)
  pred2 = pred.copy()
  pred2[labels == 0] = 1  # item 0 adopted its fake class 1
  f2, p2 = items_plugin.shuffle_test(
      jnp.asarray(pred2), jnp.asarray(labels), jnp.asarray(shuffled),
      jnp.asarray(fake), c)
  rf2, rp2 = _numpy_shuffle_test(pred2, labels, shuffled, fake)
  np.testing.assert_allclose(f2, rf2, atol=1e-6)
  np.testing.assert_allclose(p2, rp2, atol=1e-6)
  assert p2[0] == pytest.approx(1 / 1000) and p2[1] > 0.05


def test_label_shuffles_are_permutations_from_the_seed():
  labels = np.repeat(np.arange(4), 3).astype(np.int32)
  s = items_lib.label_shuffles(labels, 20, seed=5)
  assert s.shape == (20, 12)
  for row in s:
    np.testing.assert_array_equal(np.sort(row), labels)
  np.testing.assert_array_equal(s, items_lib.label_shuffles(labels, 20, 5))
  assert not np.array_equal(s, items_lib.label_shuffles(labels, 20, 6))


# -------------------------------------------------------------- the trainer


def test_mixture_picks_each_transform_under_vmap():
  params = {'w': jnp.linspace(-1, 1, 6).reshape(3, 2), 'b': jnp.zeros(2)}
  grads = jax.tree.map(jnp.ones_like, params)
  kinds = [dict(distribution=('constant', 1.0)),
           dict(distribution=('constant', 0.2))]
  txs = [flex_lib.flexible_sgd(0.1, key=0, strength=50.0, **k) for k in kinds]
  mix = mixture_lib.mixture(txs)

  def two_steps(m):
    p, s = params, mix.init(params)._replace(index=m)
    for t in range(2):
      u, s = mix.update(grads, s, p, task_id=t)
      p = jax.tree.map(lambda a, b: a + b, p, u)
    return p

  got = jax.vmap(two_steps)(jnp.arange(2, dtype=jnp.int32))
  for k, tx in enumerate(txs):
    p, s = params, tx.init(params)
    for t in range(2):
      u, s = tx.update(grads, s, p, task_id=t)
      p = jax.tree.map(lambda a, b: a + b, p, u)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[k], got), p,
                                atol=1e-6)


def test_mixture_refuses_different_state_layouts():
  import optax  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='same state layout'):
    mixture_lib.mixture([optax.sgd(0.1), optax.adam(0.1)]).init(
        {'w': jnp.ones(2)})


def _tiny_config():
  c = items_config.get_config('10')
  c.num_seeds = 2
  c.data.item_source = 'classes'
  c.data.num_items = 4
  c.data.train_per_item = 30
  c.data.test_per_item = 10
  c.model.hidden = (16,)
  c.optimizer.learning_rate = 0.1
  c.optimizer.strength = 100.0
  c.sweep['values'] = ('hybrid', 'conventional', 'stable')
  c.sessions.tiers = ((1.0, 0.5), (0.1, 0.5))
  c.sessions.repetitions = 2
  c.sessions.poisoned_items = 2
  c.sessions.per_item = 20
  c.sessions.null_shuffles = 50
  c.protocol.epochs_per_task = 1
  c.protocol.batch_size = 10
  c.protocol.tensorboard = False
  return c


def test_items_protocol_in_the_trainer(tmp_path):
  config = _tiny_config()
  # The items evaluator's outputs (a dict of arrays) go to TensorBoard too.
  config.protocol.tensorboard = True
  workdir = str(tmp_path / 'items')
  summary = train.train_and_evaluate(config, workdir)
  for f in ('config.json', 'metrics.jsonl', 'summary.json', 'items.png',
            'stream.npz', 'items.npz'):
    assert os.path.isfile(os.path.join(workdir, f)), f
  events = [os.path.join(d, f) for d, _, fs in
            os.walk(os.path.join(workdir, 'tensorboard')) for f in fs]
  assert len(events) == 3 and all(os.path.getsize(e) > 0 for e in events)
  n_sessions = 4 + 4 + 2
  assert summary['tasks_completed'] == n_sessions
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  assert len(rows) == 2 * 3 * n_sessions
  assert {r['mix'] for r in rows} == {'hybrid', 'conventional', 'stable'}
  assert all(np.isfinite(r['train_loss']).all() for r in rows)
  assert all(len(r['p_value']) == 4 for r in rows)
  with open(os.path.join(workdir, 'summary.json')) as f:
    on_disk = json.load(f)
  assert on_disk == json.loads(json.dumps(summary))
  groups = summary['sweep']['groups']
  assert set(groups) == {'mix=hybrid', 'mix=conventional', 'mix=stable'}
  for g in groups.values():
    m = g['items']
    for key in ('memorised_sequential', 'memorised_repetition',
                'repeated_kept', 'poisoned_rejected', 'poisoned_kept',
                'memorised_init'):
      assert len(m[key]['values']) == 2 and 0 <= m[key]['mean'] <= 4, key
    assert m['num_poisoned']['mean'] == 2
  # The conventional mix never gates (alpha = 1); the stable one does.
  conv = [r for r in rows if r['mix'] == 'conventional']
  assert all(r['alpha_mean'] == pytest.approx(1.0) for r in conv)
  stable = [r for r in rows if r['mix'] == 'stable']
  assert stable[-1]['alpha_mean'] < 1.0
  # Run i of the mixture program equals that mix run alone (same seed).
  alone = _tiny_config()
  alone.sweep['values'] = ('stable',)
  train.train_and_evaluate(alone, str(tmp_path / 'alone'))
  both = np.load(os.path.join(workdir, 'items.npz'))['p_value']
  one = np.load(str(tmp_path / 'alone' / 'items.npz'))['p_value']
  np.testing.assert_allclose(both[4:6], one, atol=1e-6)


def test_validate_items_config():
  validate.validate_config(_tiny_config())
  bad = _tiny_config()
  bad.sweep['values'] = ('hybrid', 'nonsense')
  with pytest.raises(validate.ConfigError, match='nonsense'):
    validate.validate_config(bad)
  bad = _tiny_config()
  bad.sessions.poisoned_items = 9
  with pytest.raises(validate.ConfigError, match='poisoned_items'):
    validate.validate_config(bad)
