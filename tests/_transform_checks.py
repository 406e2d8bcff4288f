"""Helpers shared by the rule tests (parameters, gradients, runs).

The generic checks every transform must pass (jit, vmap over seeds,
injection, composition, extra args) live in tests/test_contracts.py only.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mpl_jax.rules import reseed


def small_mlp_params(seed=0, scale=1.0):
  """A two-layer MLP's parameter tree (kernels and biases), normal values."""
  rng = np.random.default_rng(seed)
  normal = lambda *shape: jnp.asarray(rng.normal(size=shape) * scale,
                                      jnp.float32)
  return {'dense0': {'kernel': normal(6, 5), 'bias': normal(5)},
          'dense1': {'kernel': normal(5, 3), 'bias': normal(3)}}


def random_grads(params, num_steps, seed=1):
  """``num_steps`` standard-normal gradient trees shaped like ``params``."""
  rng = np.random.default_rng(seed)
  return [jax.tree.map(
      lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
          for _ in range(num_steps)]


def hostile_sigma_steps(tx, gs, sigmas, steps=4):
  """Gaussian-parameter steps under extreme gradients of alternating sign.

  Every (gradient in ``gs``, initial sigma in ``sigmas``) pair is one element
  of a ``{'w': {'mu', 'sigma'}}`` tree (mu 0); the same gradient is fed to
  mu and sigma, its sign flipping each step.

  Returns:
    The sigma array after each of the ``steps`` jitted updates.
  """
  g_grid, s_grid = jnp.meshgrid(jnp.asarray(gs), jnp.asarray(sigmas))
  params = {'w': {'mu': jnp.zeros_like(s_grid), 'sigma': s_grid}}
  update = jax.jit(tx.update)
  state = tx.init(params)
  out = []
  for step in range(steps):
    g = g_grid * (-1) ** step
    u, state = update({'w': {'mu': g, 'sigma': g}}, state, params)
    params = optax.apply_updates(params, u)
    out.append(params['w']['sigma'])
  return out


def stack_copies(tree, n):
  """``n`` copies of every leaf, stacked on a new leading axis (numpy)."""
  return jax.tree.map(lambda x: np.stack([np.asarray(x)] * n), tree)


def seeded_init(tx, keys, stacked_params):
  """``vmap(tx.init)`` over stacked params, reseeded per run with ``keys``
  (``None``: left with the factory key, as a plain vmapped init)."""
  if keys is None:
    return jax.vmap(tx.init)(stacked_params)
  return jax.vmap(lambda k, p: reseed(tx.init(p), k))(
      keys, stacked_params)


def run_steps(tx, params, grads, tasks):
  """Runs jitted ``tx`` one step per gradient tree, with task ids ``tasks``.

  Returns:
    ``(final params, [updates per step], [state per step])``.
  """

  @jax.jit
  def step(p, s, g, t):
    u, s = tx.update(g, s, p, task_id=t)
    return optax.apply_updates(p, u), u, s

  state = jax.jit(tx.init)(params)
  all_updates, states = [], []
  for g, t in zip(grads, tasks):
    params, updates, state = step(params, state, g, np.int32(t))
    all_updates.append(updates)
    states.append(state)
  return params, all_updates, states
