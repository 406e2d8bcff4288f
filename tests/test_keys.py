"""Named random streams: distinct everywhere, and no stream feeds another."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mpl_jax
from mpl_jax.train import keys


def _all_keys(seeds, n=4):
  out = {}
  for seed in seeds:
    for name, idx_names in keys.STREAMS.items():
      for idx in itertools.product(range(n), repeat=len(idx_names)):
        out[(seed, name, idx)] = tuple(np.asarray(
            keys.stream_key(seed, name, *idx)).tolist())
  return out


def test_streams_seeds_indices_are_distinct():
  table = _all_keys(range(3))
  values = list(table.values())
  assert len(set(values)) == len(values)


def test_derived_keys_do_not_meet_other_streams():
  """The keys a run derives below its streams (a rule splitting its key each
  step, the epoch's shuffle and step keys) meet no key of another stream."""
  seed = 0
  derived = {}
  for t in range(3):
    k = keys.stream_key(seed, 'rule', t)
    for i in range(6):  # what a rule that splits its key each step sees
      k, sub = jax.random.split(k)
      derived[('rule', t, i, 'sub')] = tuple(np.asarray(sub).tolist())
      derived[('rule', t, i, 'key')] = tuple(np.asarray(k).tolist())
    for e in range(3):
      ek = keys.stream_key(seed, 'epoch', t, e)
      derived[('shuffle', t, e)] = tuple(np.asarray(
          jax.random.fold_in(ek, 0)).tolist())
      root = jax.random.fold_in(ek, 1)
      for i in range(6):
        derived[('step', t, e, i)] = tuple(np.asarray(
            jax.random.fold_in(root, i)).tolist())
  values = list(derived.values()) + list(_all_keys([seed]).values())
  assert len(set(values)) == len(values)


def test_unknown_stream_and_wrong_arity_are_refused():
  with pytest.raises(ValueError, match='unknown random stream'):
    keys.stream_key(0, 'shufle')
  with pytest.raises(ValueError, match='takes indices'):
    keys.stream_key(0, 'epoch', 1)


def test_traced_seed_under_vmap_equals_single():
  batched = jax.jit(jax.vmap(lambda s: keys.stream_key(s, 'epoch', 2, 3)))(
      jnp.arange(4, dtype=jnp.int32))
  for s in range(4):
    np.testing.assert_array_equal(batched[s],
                                  keys.stream_key(s, 'epoch', 2, 3))


def test_per_step_engram_is_uncorrelated_with_the_shuffle_order():
  """The case of the old trainer: an engram redrawn each step from the rule's
  key was exactly 'this example is in the first half of the epoch's shuffled
  order'. With named streams the two are independent."""
  n = 1000
  params = {'w': jnp.zeros((n, 1))}
  tx = mpl_jax.scale_by_engram_gate(0, p=0.5, granularity='synapse',
                                      resample='step')
  seed, task, epoch = 0, 0, 0
  state = mpl_jax.reseed(tx.init(params), keys.stream_key(seed, 'rule',
                                                          task))
  order = jax.random.permutation(
      jax.random.fold_in(keys.stream_key(seed, 'epoch', task, epoch), 0), n)
  first_half = np.zeros(n, bool)
  first_half[np.asarray(order[:n // 2])] = True
  g = {'w': jnp.ones((n, 1))}
  for _ in range(3):
    _, state = tx.update(g, state, params, task_id=0)
    engram = np.asarray(optax.tree_utils.tree_get(state, 'engram')['w']
                        ).reshape(-1).astype(bool)
    agree = np.mean(engram == first_half)
    # Independent bits agree on ~50% (binomial sd 1.6%); the collision gave
    # 0% or 100%.
    assert 0.42 < agree < 0.58
