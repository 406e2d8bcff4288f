"""MESU: Metaplasticity from Synaptic Uncertainty (Bonnet et al.).

Every Bayesian synapse is a Gaussian ``N(mu, sigma^2)``; the network samples
``w = mu + sigma * eps`` in its forward pass and the loss is the Monte-Carlo
negative log-likelihood ``C = -sum_batch mean_samples log p(y | x, w_s)`` with
no KL term. The prior enters through the rule: its uncertainty ``sigma`` sets
each synapse's learning rate (``sigma^2``), and a memory window of ``N``
minibatches pulls ``(mu, sigma)`` back toward the prior, i.e. forgets old data
at a controlled rate.

Parameter trees. A Bayesian parameter is a mapping with exactly the two keys
``'mu'`` and ``'sigma'`` (a ``dict``, or the ``nnx.State`` node that
``nnx.split`` / ``nnx.as_pure`` give for an ``nnx.Dict``; the values may be
arrays or ``nnx.Param`` wrappers). Every other leaf is not Bayesian and passes
through the MESU transforms unchanged (see :func:`scale_by_mesu` for how to
train those leaves with another optimizer).

This module has no Flax import and knows nothing of models or trainers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from mpl_jax.rules import _common

PyTree = Any

GAUSSIAN_KEYS = frozenset(('mu', 'sigma'))


# ----------------------------------------------------------------------------
# Gaussian parameter trees.
# ----------------------------------------------------------------------------


def is_gaussian_param(node: Any) -> bool:
  """Whether ``node`` is a Bayesian parameter: a mapping ``{'mu', 'sigma'}``."""
  return (isinstance(node, Mapping) and len(node) == 2
          and set(node.keys()) == GAUSSIAN_KEYS)


def _first_key(path) -> Any:
  entry = path[0]
  for attr in ('key', 'name', 'idx'):
    if hasattr(entry, attr):
      return getattr(entry, attr)
  return entry


def map_gaussian(
    fn: Callable[..., tuple[jax.Array, jax.Array]],
    updates: PyTree,
    params: PyTree,
    *others: PyTree,
) -> PyTree:
  """Applies ``fn`` to every Bayesian node; other leaves pass unchanged.

  For each node ``{'mu': ., 'sigma': .}`` of ``updates`` (and the matching
  nodes of ``params`` and of every tree in ``others``), calls
  ``fn(g_mu, g_sigma, mu, sigma, *other_leaves)`` on the arrays inside and
  puts the returned ``(new_mu_update, new_sigma_update)`` back into a node of
  the same type as the one in ``updates`` (``dict``, ``nnx.State``, with or
  without ``nnx.Param`` wrappers). ``other_leaves`` are, for each tree in
  ``others``, the pair ``(other['mu'], other['sigma'])`` flattened to arrays.

  Leaves of ``updates`` that are not inside a Bayesian node (including
  ``None`` and ``optax.MaskedNode``) are returned as they are. A Bayesian
  node whose leaves were all masked out is returned as it is.

  Args:
    fn: ``(g_mu, g_sigma, mu, sigma, *others) -> (u_mu, u_sigma)``.
    updates: the incoming updates (usually gradients).
    params: the current parameters (same structure down to Bayesian nodes).
    *others: further trees with the structure of ``params`` (e.g. state).

  Returns:
    A tree with the structure of ``updates``.

  Raises:
    ValueError: if the ``mu`` and ``sigma`` parts of a node do not hold the
      same number of arrays.
  """

  def visit(u, p, *rest):
    if not is_gaussian_param(u):
      return u
    g_mu, g_sigma = jax.tree.leaves(u['mu']), jax.tree.leaves(u['sigma'])
    if not g_mu and not g_sigma:
      return u  # masked out (optax.masked / optax.partition)
    mu, sigma = jax.tree.leaves(p['mu']), jax.tree.leaves(p['sigma'])
    if not (len(g_mu) == len(g_sigma) == len(mu) == len(sigma)):
      raise ValueError(
          'A Bayesian parameter {"mu", "sigma"} must hold the same number of '
          f'arrays in mu and sigma (and in params); got {len(g_mu)}, '
          f'{len(g_sigma)}, {len(mu)}, {len(sigma)}.')
    rest_leaves = [(jax.tree.leaves(r['mu']), jax.tree.leaves(r['sigma']))
                   for r in rest]
    new_mu, new_sigma = [], []
    for i in range(len(g_mu)):
      extra = []
      for r_mu, r_sigma in rest_leaves:
        extra += [r_mu[i], r_sigma[i]]
      a, b = fn(g_mu[i], g_sigma[i], mu[i], sigma[i], *extra)
      new_mu.append(a.astype(g_mu[i].dtype))
      new_sigma.append(b.astype(g_sigma[i].dtype))
    flat, treedef = jax.tree_util.tree_flatten_with_path(u)
    it_mu, it_sigma = iter(new_mu), iter(new_sigma)
    leaves = [next(it_mu) if _first_key(path) == 'mu' else next(it_sigma)
              for path, _ in flat]
    return treedef.unflatten(leaves)

  return jax.tree.map(
      visit, updates, params, *others,
      is_leaf=lambda x: x is None or is_gaussian_param(x))


def guard_sigma_step(
    sigma: jax.Array,
    step: jax.Array,
    *,
    min_sigma_ratio: Any = 1e-3,
    sigma_min: Any = 1e-12,
    sigma_max: Any = 1e6,
    reflect: bool = True,
) -> jax.Array:
  r"""Limits a step on ``sigma`` so that ``sigma + step`` stays in range.

  With ``t = sigma + step`` (the value the unguarded rule would give):

  .. math::

    \sigma' = \mathrm{clip}\big(|t|,\; \max(r\,\sigma,\ \sigma_{min}),\;
              \sigma_{max}\big)

  (``t`` instead of ``|t|`` when ``reflect=False``), and the returned step is
  ``sigma' - sigma`` (or ``-sigma/2``, exact in floating point, where
  ``sigma + (sigma' - sigma)`` would round below the floor: a shrink by more
  than the float precision in one step). Wherever ``t`` is already inside
  ``[max(r sigma, sigma_min), sigma_max]`` the step is returned **bit for bit
  unchanged**, so the guard never alters a run in which it is inactive. A NaN
  step (both terms of a rule overflowing with opposite signs, or a NaN
  gradient) leaves ``sigma`` unchanged. For any finite ``sigma`` and any
  step, ``sigma + returned_step`` is finite and ``>= sigma_min > 0``.

  Args:
    sigma: current standard deviations (``> 0``; smaller values, even ``0``
      or negative ones, are lifted to ``sigma_min``).
    step: the rule's additive step on ``sigma``.
    min_sigma_ratio: ``r``, the largest shrink factor of one step
      (``sigma' >= r * sigma``).
    sigma_min: absolute floor (``> 0``).
    sigma_max: absolute ceiling (finite).
    reflect: take ``|t|`` before clipping (see :func:`scale_by_mesu` for why
      this reproduces the unguarded rule in distribution).

  Returns:
    The guarded step, same shape and dtype as ``step``.
  """
  dtype = step.dtype
  sigma = sigma.astype(dtype)
  target = sigma + step
  lo = jnp.maximum(jnp.asarray(min_sigma_ratio, dtype) * sigma,
                   jnp.asarray(sigma_min, dtype))
  hi = jnp.asarray(sigma_max, dtype)
  inside = (target >= lo) & (target <= hi)
  moved = jnp.abs(target) if reflect else target
  moved = jnp.clip(moved, lo, jnp.maximum(hi, lo))
  guarded = jnp.where(inside, step, moved - sigma)
  # `sigma + (moved - sigma)` can round below `lo` (to 0) when `lo` is far
  # below the spacing of floats near `sigma` (a shrink by more than ~1/eps in
  # one step). Halving is exact in binary floating point: use it there.
  halve = ((sigma + guarded) < 0.5 * lo) & (0.5 * sigma >= lo)
  guarded = jnp.where(halve, -0.5 * sigma, guarded)
  return jnp.where(jnp.isnan(step), jnp.zeros_like(step), guarded)


def _value(x: optax.ScalarOrSchedule, count: jax.Array) -> Any:
  return x(count) if callable(x) else x


# ----------------------------------------------------------------------------
# MESU.
# ----------------------------------------------------------------------------


class ScaleByMesuState(NamedTuple):
  """State of :func:`scale_by_mesu`: the step counter (for schedules)."""
  count: jax.Array


def mesu_updates(
    g_mu: jax.Array,
    g_sigma: jax.Array,
    mu: jax.Array,
    sigma: jax.Array,
    *,
    sigma_prior: Any,
    mu_prior: Any,
    memory_window: Any,
    learning_rate_mu: Any = 1.0,
    learning_rate_sigma: Any = 1.0,
    clamp_grad: Any = None,
) -> tuple[jax.Array, jax.Array]:
  """The unguarded MESU steps ``(d_mu, d_sigma)`` for one Gaussian tensor.

  See :func:`scale_by_mesu` for the equations. No guard is applied here.
  """
  dtype = mu.dtype
  f = lambda x: jnp.asarray(x, dtype)
  g_mu, g_sigma = g_mu.astype(dtype), g_sigma.astype(dtype)
  if clamp_grad is not None:
    bound = f(clamp_grad) / sigma
    g_mu = jnp.clip(g_mu, -bound, bound)
    g_sigma = jnp.clip(g_sigma, -bound, bound)
  variance = sigma * sigma
  prior_var = f(sigma_prior) ** 2
  n_prior_var = f(memory_window) * prior_var
  d_mu = f(learning_rate_mu) * (
      -variance * g_mu + variance * (f(mu_prior) - mu) / n_prior_var)
  d_sigma = f(learning_rate_sigma) * 0.5 * (
      -variance * g_sigma + sigma * (prior_var - variance) / n_prior_var)
  return d_mu, d_sigma


def scale_by_mesu(
    *,
    sigma_prior: Any,
    mu_prior: Any = 0.0,
    memory_window: Any,
    clamp_grad: Optional[Any] = None,
    learning_rate_mu: optax.ScalarOrSchedule = 1.0,
    learning_rate_sigma: optax.ScalarOrSchedule = 1.0,
    min_sigma_ratio: Any = 1e-3,
    sigma_min: Any = 1e-12,
    sigma_max: Any = 1e6,
) -> optax.GradientTransformationExtraArgs:
  r"""Turns ``(dC/dmu, dC/dsigma)`` into the MESU step on ``(mu, sigma)``.

  For every Bayesian node ``{'mu', 'sigma'}`` with incoming gradients
  ``g_mu = dC/dmu``, ``g_sigma = dC/dsigma`` (``C`` the Monte-Carlo NLL summed
  over the minibatch), prior ``N(mu_p, sigma_p^2)`` and memory window ``N``
  (in minibatches), the emitted update (added to the parameters, optax
  convention) is exactly

  .. math::

    \Delta\mu &= \eta_\mu \Big( -\sigma^2 g_\mu
                 + \frac{\sigma^2 (\mu_p - \mu)}{N \sigma_p^2} \Big) \\
    \Delta\sigma &= \eta_\sigma \, \tfrac12 \Big( -\sigma^2 g_\sigma
                 + \frac{\sigma (\sigma_p^2 - \sigma^2)}{N \sigma_p^2} \Big)

  with, if ``clamp_grad = c`` is given, ``g`` first clipped to
  ``[-c/sigma, c/sigma]`` (both ``g_mu`` and ``g_sigma``). ``N -> inf`` turns
  the prior pull off ("catastrophic remembering"). The PyTorch variant of the
  reference drops the 1/2: pass ``learning_rate_sigma = 2 * lr`` for it.

  **Sigma guard.** Nothing in the equation keeps ``sigma > 0``: a large
  ``g_sigma * sigma`` overshoots zero. Because ``w = mu + sigma * eps`` with a
  symmetric ``eps``, ``sigma`` and ``-sigma`` describe the same synapse, and
  the rule is equivariant under ``sigma -> -sigma`` (``Delta mu`` depends on
  ``sigma^2``; ``Delta sigma`` flips sign, as ``g_sigma`` does). The
  unguarded reference therefore behaves, in distribution, as if ``sigma``
  were replaced by ``|sigma|``. The guard (:func:`guard_sigma_step`) uses
  that: a step that overshoots zero is **reflected** (``sigma' = |sigma +
  Delta sigma|``), then ``sigma'`` is clipped to
  ``[max(min_sigma_ratio * sigma, sigma_min), sigma_max]`` so that it can
  neither collapse to 0 (or underflow) nor overflow. Where the unguarded
  ``sigma + Delta sigma`` already lies in that range the update is returned
  bit for bit unchanged; with the defaults the guard only acts on
  pathological steps (a 1000x shrink in one step, ``sigma`` below ``1e-12``
  or above ``1e6``). A NaN step leaves ``sigma`` unchanged. Hence ``sigma``
  stays finite and ``>= sigma_min`` for every finite gradient. ``mu`` is not
  guarded. Learning rates are part of this transform (not a later
  ``optax.scale``) so that the guard sees the final step.

  Non-Bayesian leaves pass through **unchanged** (the raw gradient would then
  be *added* to them). Train them with another optimizer through
  ``optax.partition``::

    def labels(params):
      return jax.tree.map(
          lambda node: 'mesu' if is_gaussian_param(node) else 'other',
          params, is_leaf=is_gaussian_param)

    tx = optax.partition(
        {'mesu': mesu(sigma_prior=0.06, memory_window=180_000),
         'other': optax.sgd(1e-3)},
        labels)

  (:func:`mesu` does this for you with ``non_bayesian=optax.sgd(1e-3)``.)

  All numeric hyperparameters may be traced: ``optax.inject_hyperparams``
  can inject and ``jax.vmap`` can sweep ``sigma_prior``, ``mu_prior``,
  ``memory_window``, the learning rates and the guard bounds (no Python
  branch depends on their values; pass ``memory_window`` as a float, e.g.
  ``1e15``, since an injected int is stored as int32). ``clamp_grad`` may be
  traced too, but ``None`` (no clamp) vs a value is a static choice.

  Args:
    sigma_prior: prior standard deviation ``sigma_p`` (``> 0``).
    mu_prior: prior mean ``mu_p``.
    memory_window: ``N``, the memory window in minibatches (``> 0``).
    clamp_grad: optional ``c``: clip gradients to ``+-c / sigma``.
    learning_rate_mu: ``eta_mu``, a scalar or an optax schedule.
    learning_rate_sigma: ``eta_sigma``, a scalar or an optax schedule.
    min_sigma_ratio: guard, the largest shrink of ``sigma`` in one step
      (``sigma' >= min_sigma_ratio * sigma``).
    sigma_min: guard, absolute floor on ``sigma`` (``> 0``).
    sigma_max: guard, absolute ceiling on ``sigma`` (finite).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` that needs ``params``.
    Extra keyword arguments (``task_id``, ...) are accepted and ignored: MESU
    needs no task boundaries.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> params = {'w': {'mu': jnp.zeros(3), 'sigma': jnp.full(3, 0.1)}}
    >>> grads = {'w': {'mu': jnp.ones(3), 'sigma': jnp.ones(3)}}
    >>> tx = scale_by_mesu(sigma_prior=0.1, memory_window=1e5)
    >>> u, _ = tx.update(grads, tx.init(params), params)
    >>> params = optax.apply_updates(params, u)
    >>> print(params['w']['mu'], params['w']['sigma'])
    [-0.01 -0.01 -0.01] [0.095 0.095 0.095]

  References:
    Bonnet, Cottart, Hirtzlin, Januel, Dalgaty, Vianello, Querlioz,
    "Bayesian continual learning and forgetting in neural networks",
    arXiv:2504.13569 (2025); earlier version arXiv:2312.10153 (2023).
    https://arxiv.org/abs/2504.13569
  """

  def init_fn(params):
    del params
    return ScaleByMesuState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_common.NO_PARAMS_MSG)
    lr_mu = _value(learning_rate_mu, state.count)
    lr_sigma = _value(learning_rate_sigma, state.count)

    def rule(g_mu, g_sigma, mu, sigma):
      d_mu, d_sigma = mesu_updates(
          g_mu, g_sigma, mu, sigma, sigma_prior=sigma_prior,
          mu_prior=mu_prior, memory_window=memory_window,
          learning_rate_mu=lr_mu, learning_rate_sigma=lr_sigma,
          clamp_grad=clamp_grad)
      d_sigma = guard_sigma_step(
          sigma, d_sigma, min_sigma_ratio=min_sigma_ratio,
          sigma_min=sigma_min, sigma_max=sigma_max, reflect=True)
      return d_mu, d_sigma

    updates = map_gaussian(rule, updates, params)
    return updates, ScaleByMesuState(count=optax.safe_increment(
        state.count))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def gaussian_labels(params: PyTree, *, bayesian: str = 'mesu',
                    other: str = 'other') -> PyTree:
  """Labels for ``optax.partition``: ``bayesian`` on Bayesian nodes."""
  return jax.tree.map(
      lambda node: bayesian if is_gaussian_param(node) else other,
      params, is_leaf=lambda x: x is None or is_gaussian_param(x))


def mesu(
    learning_rate_mu: optax.ScalarOrSchedule = 1.0,
    learning_rate_sigma: optax.ScalarOrSchedule = 1.0,
    *,
    sigma_prior: Any = 1.0,
    mu_prior: Any = 0.0,
    memory_window: Any = 300_000.0,
    clamp_grad: Optional[Any] = None,
    min_sigma_ratio: Any = 1e-3,
    sigma_min: Any = 1e-12,
    sigma_max: Any = 1e6,
    non_bayesian: Optional[optax.GradientTransformation] = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The MESU optimizer (defaults: the permuted-MNIST protocol of the spec).

  ``mesu(lr_mu, lr_sigma, sigma_prior=..., memory_window=...)`` is
  :func:`scale_by_mesu` with those settings; see it for the equations, the
  sigma guard and the handling of non-Bayesian leaves. With
  ``non_bayesian=tx`` the leaves outside ``{'mu', 'sigma'}`` nodes (biases,
  BatchNorm, ...) are trained by ``tx`` through ``optax.partition``; with
  ``None`` (default) their updates pass through unchanged.

  Injectable: ``optax.inject_hyperparams(mesu)(sigma_prior=0.06,
  memory_window=180_000.0)``; pass ``static_args='non_bayesian'`` when
  ``non_bayesian`` is given.

  Args:
    learning_rate_mu: ``eta_mu`` (scalar or schedule).
    learning_rate_sigma: ``eta_sigma`` (scalar or schedule).
    sigma_prior: prior standard deviation (spec: 1 for permuted MNIST, 0.06
      for the OOD protocol).
    mu_prior: prior mean.
    memory_window: ``N`` in minibatches (spec: 300000; 180000 vs 1e15 OOD).
    clamp_grad: optional gradient clamp ``c`` (``+-c/sigma``; spec OOD: 0.1).
    min_sigma_ratio: sigma guard, see :func:`scale_by_mesu`.
    sigma_min: sigma guard floor.
    sigma_max: sigma guard ceiling.
    non_bayesian: optional transformation for the non-Bayesian leaves.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` that needs ``params``.

  References:
    Bonnet et al., "Bayesian continual learning and forgetting in neural
    networks", arXiv:2504.13569 (2025). https://arxiv.org/abs/2504.13569
  """
  tx = scale_by_mesu(
      sigma_prior=sigma_prior, mu_prior=mu_prior,
      memory_window=memory_window, clamp_grad=clamp_grad,
      learning_rate_mu=learning_rate_mu,
      learning_rate_sigma=learning_rate_sigma,
      min_sigma_ratio=min_sigma_ratio, sigma_min=sigma_min,
      sigma_max=sigma_max)
  if non_bayesian is None:
    return tx
  return optax.partition({'mesu': tx, 'other': non_bayesian},
                         gaussian_labels)
