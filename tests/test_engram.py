"""Tests of mpl_jax.rules.engram (stochastic engram gates).

Optimizer runs are jitted as a whole and arrays are compared on the host with
numpy: on 2 CPU cores XLA compilation dominates the run time of this file.
"""

from __future__ import annotations

import chex
import jax
import numpy as np
import optax
import pytest

import mpl_jax
from mpl_jax.rules.engram import engram_metaplastic_adam
from mpl_jax.rules.engram import scale_by_engram_gate
from _transform_checks import random_grads as _grads
from _transform_checks import seeded_init
from _transform_checks import run_steps
from _transform_checks import small_mlp_params
from _transform_checks import stack_copies

TASKS = [0, 0, 0, 1, 1, 2]


def _params(seed=0):
  return small_mlp_params(seed, scale=0.5)


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def _run(tx, params, grads, tasks=TASKS):
  """Runs jitted ``tx``; returns final params, per-step updates and states."""
  params, updates, states = run_steps(tx, params, grads, tasks)
  return params, _np(updates), _np(states)


def _masks(tx, shape, num_steps, tasks=None):
  """The (broadcast) masks applied to an all-ones update, one per step."""
  params = {'w': np.zeros(shape, np.float32)}
  ones = {'w': np.ones(shape, np.float32)}
  tasks = tasks or [0] * num_steps
  _, updates, states = _run(tx, params, [ones] * num_steps, tasks)
  return [u['w'] for u in updates], [s.engram['w'] for s in states]


# --------------------------------------------------------------- the gate


@pytest.mark.parametrize('sampler', ['threefry', 'counter'])
def test_synapse_activation_frequency_is_p(sampler):
  p, shape, steps = 0.3, (300, 400), 3
  tx = scale_by_engram_gate(0, p=p, sampler=sampler)
  masks, engrams = _masks(tx, shape, steps)
  n = np.prod(shape)
  for m, e in zip(masks, engrams):
    assert set(np.unique(m)) <= {0.0, 1.0}
    np.testing.assert_array_equal(m, e.astype(np.float32))
    assert abs(m.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
  # resample='step': a fresh engram each step, drawn independently.
  overlap = np.mean(masks[0] * masks[1])
  assert abs(overlap - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / n)


@pytest.mark.parametrize('shape,sampler', [((50, 2000), 'threefry'),
                                           ((2, 3, 4, 500), 'threefry'),
                                           ((50, 2000), 'counter')])
def test_unit_granularity_masks_whole_columns(shape, sampler):
  p, steps = 0.6, 5
  tx = scale_by_engram_gate(1, p=p, granularity='unit', sampler=sampler)
  masks, engrams = _masks(tx, shape, steps)
  units = shape[-1]
  flat = np.stack([m.reshape(-1, units) for m in masks])  # [steps, in, out]
  # Every column (all incoming synapses of a unit) is all on or all off.
  assert np.all(flat.min(axis=1) == flat.max(axis=1))
  for e in engrams:
    assert e.shape == (1,) * (len(shape) - 1) + (units,)
  active = flat[:, 0, :]
  n = steps * units
  assert abs(active.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
  assert not np.array_equal(active[0], active[1])


@pytest.mark.parametrize('granularity', ['synapse', 'unit'])
def test_resample_task_keeps_mask_within_task_and_changes_across(granularity):
  tasks = [0, 0, 0, 1, 1, 2, 0]
  tx = scale_by_engram_gate(2, p=0.5, granularity=granularity,
                              resample='task')
  masks, _ = _masks(tx, (40, 30), len(tasks), tasks)
  for i in range(1, len(tasks)):
    same = np.array_equal(masks[i], masks[i - 1])
    assert same == (tasks[i] == tasks[i - 1]), i
  # Returning to task 0 draws a new engram (no per-task memory).
  assert not np.array_equal(masks[6], masks[0])


def test_p_one_is_identity_p_zero_freezes_selected_leaves_only():
  params = _params()
  grads = _grads(params, 3)
  _, got_u, _ = _run(optax.chain(optax.adam(1e-2),
                                 scale_by_engram_gate(0, p=1.0)),
                     params, grads, [0, 1, 1])
  _, ref_u, _ = _run(optax.adam(1e-2), params, grads, [0, 1, 1])
  chex.assert_trees_all_close(got_u, ref_u, rtol=1e-6, atol=1e-9)
  # The gate alone with p = 1 returns its input bit for bit.
  gate = scale_by_engram_gate(0, p=1.0, resample='task')
  u, _ = jax.jit(lambda g, p: gate.update(g, gate.init(p), p, task_id=0))(
      grads[0], params)
  chex.assert_trees_all_equal(u, grads[0])
  # p = 0: gated kernels get exactly 0; biases pass through unchanged.
  gate = scale_by_engram_gate(0, p=0.0)
  u = _np(jax.jit(lambda g, p: gate.update(g, gate.init(p), p)[0])(
      grads[0], params))
  for layer in ('dense0', 'dense1'):
    np.testing.assert_array_equal(u[layer]['kernel'], 0.0)
    np.testing.assert_array_equal(u[layer]['bias'], grads[0][layer]['bias'])


# ----------------------------------------------- with the metaplastic gate


def _np_adam_step(g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8):
  m = b1 * m + (1 - b1) * g
  v = b2 * v + (1 - b2) * g * g
  m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
  return -lr * m_hat / (np.sqrt(v_hat) + eps), m, v


@pytest.mark.parametrize('granularity, resample', [('synapse', 'step'),
                                                   ('unit', 'task')])
def test_engram_metaplastic_adam_matches_numpy_reference(granularity,
                                                         resample):
  lr, meta, wd = 0.05, 1.3, 1e-3
  params = _params()
  grads = _np(_grads(params, len(TASKS)))
  tx = engram_metaplastic_adam(lr, meta, key=4, p=0.5,
                               granularity=granularity, resample=resample,
                               weight_decay=wd)
  final, all_updates, states = _run(tx, params, grads)

  w = {k: {n: np.asarray(a, np.float64) for n, a in d.items()}
       for k, d in params.items()}
  m = jax.tree.map(np.zeros_like, w)
  v = jax.tree.map(np.zeros_like, w)
  for step, g in enumerate(grads):
    engram = states[step][-1].engram
    for k in w:
      for n in w[k]:
        grad = g[k][n] + wd * w[k][n]
        u, m[k][n], v[k][n] = _np_adam_step(grad, m[k][n], v[k][n],
                                            step + 1, lr)
        if n == 'kernel':
          f_meta = 1.0 - np.tanh(meta * np.abs(w[k][n])) ** 2
          u = np.where(u * w[k][n] < 0, u * f_meta, u)
          u = np.where(np.broadcast_to(engram[k][n], u.shape), u, 0.0)
        np.testing.assert_allclose(all_updates[step][k][n], u, rtol=2e-4,
                                   atol=1e-7)
        w[k][n] = w[k][n] + u
  for k in w:
    for n in w[k]:
      np.testing.assert_allclose(final[k][n], w[k][n], rtol=1e-4, atol=1e-6)
  # The engram did gate something and let something through.
  kernels = np.concatenate([np.ravel(u['dense0']['kernel'])
                            for u in all_updates])
  assert (kernels == 0).any() and (kernels != 0).any()


def test_engram_metaplastic_adam_p_one_equals_metaplastic_adam():
  params = _params()
  grads = _grads(params, 3)
  _, got_u, _ = _run(engram_metaplastic_adam(0.05, 1.3, key=0, p=1.0),
                     params, grads)
  _, ref_u, _ = _run(mpl_jax.metaplastic_adam(0.05, 1.3), params, grads)
  chex.assert_trees_all_close(got_u, ref_u, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------ keys and per-seed


def test_keys_determinism_and_per_seed_masks():
  num_seeds = 3
  params = _params()
  grads = _grads(params, 1)[0]
  tx = scale_by_engram_gate(0, p=0.5)

  @jax.jit
  def first_masks(keys, p):
    states = seeded_init(tx, keys, p)
    return jax.vmap(lambda s, q: tx.update(grads, s, q))(states, p)

  stacked = stack_copies(params, num_seeds)
  keys = np.stack([np.asarray(jax.random.PRNGKey(i)) for i in (3, 3, 4)])
  updates, _ = _np(first_masks(keys, stacked))
  kernel = updates['dense0']['kernel']
  np.testing.assert_array_equal(kernel[0], kernel[1])  # same key, same mask
  assert not np.array_equal(kernel[0], kernel[2])
  # Without reseed every seed shares the factory key.
  updates, _ = _np(first_masks(None, stacked))
  kernel = updates['dense0']['kernel']
  assert all(np.array_equal(kernel[0], kernel[i]) for i in range(num_seeds))

  # A fresh run from the same key replays the same engrams; int seed == key.
  tasks = [0, 0, 1]
  a = _run(scale_by_engram_gate(5, p=0.5, resample='task'), params,
           [grads] * 3, tasks)[1]
  b = _run(scale_by_engram_gate(jax.random.PRNGKey(5), p=0.5,
                                resample='task'), params, [grads] * 3,
           tasks)[1]
  chex.assert_trees_all_equal(a, b)


# ---------------------------------------------------------------- errors


def test_errors():
  for kwargs in (dict(granularity='layer'), dict(resample='epoch'),
                 dict(sampler='philox')):
    with pytest.raises(ValueError):
      scale_by_engram_gate(0, p=0.5, **kwargs)
  with pytest.raises(ValueError):
    scale_by_engram_gate(np.zeros(3, np.uint32), p=0.5)
