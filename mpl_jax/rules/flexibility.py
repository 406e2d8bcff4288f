"""Per-synapse flexibility gating (Lee, Paik, Baek, Cho, 2025).

Every gated synapse carries a fixed flexibility ``f`` in ``(0, 1]``, drawn once
at random and intermixed with the others. Its update is multiplied by

    alpha = 1 - tanh(s * ((f - 1) / f) * (w - w_init))**2,

so a synapse with ``f = 1`` is always fully plastic, and one with a small ``f``
freezes as soon as it has moved away from its initial value. ``alpha`` is
recomputed at the start of every learning session (task) or at every step.

Flexibilities come either from discrete *tiers* (``(flexibility, proportion)``
pairs) or from a continuous distribution. This module has no Flax import and
knows nothing of models or trainers.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mpl_jax.rules import _common

PyTree = Any
Tiers = Sequence[Tuple[float, float]]
Distribution = Union[str, Tuple[str, float]]

# Parameter of the biased mixes F(x) = (1 - a) x^2 + a x of the reference.
DEFAULT_BIAS = 0.5
# Flexibilities are clipped to [_FLOOR, 1]: (f - 1) / f stays finite, and
# s * ((f - 1) / f) * 0 is 0, not NaN, for any reasonable strength.
_FLOOR = float(np.finfo(np.float32).eps)
# Tolerance used to decide that a proportion list sums to one.
_SUM_TOL = 1e-6


class ScaleByFlexibilityState(NamedTuple):
  """State of :func:`scale_by_flexibility`.

  Attributes:
    count: number of ``update`` calls so far (int32). ``count == 0`` marks the
      first update, which draws the flexibility and always refreshes alpha.
    key: raw ``uint32[2]`` PRNG key, split at every step; the flexibility is
      drawn from it at the first update (see :func:`scale_by_flexibility`).
    flexibility: float32 tree like params with the per-synapse ``f`` for the
      gated leaves and ``optax.MaskedNode()`` for the others.
    w_init: the parameters at ``init`` (gated leaves; ``MaskedNode`` else).
    alpha: float32 tree with the current gate (gated leaves; ``MaskedNode``
      else). Equal to one at init, where ``w = w_init``.
    last_task: int32 id of the task seen at the last update (-1 at init).
  """
  count: jax.Array
  key: jax.Array
  flexibility: optax.Updates
  w_init: optax.Params
  alpha: optax.Updates
  last_task: jax.Array


def flexibility_factor(strength: Any, flexibility: jax.Array,
                       deviation: jax.Array) -> jax.Array:
  r"""``alpha = 1 - tanh(s ((f - 1) / f) (w - w_init))**2``.

  Exactly one where ``f = 1`` (the product inside ``tanh`` is then ``0``).

  Args:
    strength: ``s`` (scalar, may be traced).
    flexibility: ``f`` in ``(0, 1]``.
    deviation: ``w - w_init``.

  Returns:
    ``alpha``, with the broadcast shape and float dtype of the inputs.
  """
  stiffness = (flexibility - 1.0) / flexibility
  return 1.0 - jnp.tanh(stiffness * deviation * strength) ** 2


def _check_tiers(tiers: Tiers) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
  """Validates ``(flexibility, proportion)`` pairs; returns the two tuples."""
  try:
    pairs = [tuple(t) for t in tiers]
  except TypeError as e:
    raise ValueError(
        '`tiers` must be a sequence of (flexibility, proportion) pairs, got '
        f'{tiers!r}.') from e
  if not pairs or any(len(t) != 2 for t in pairs):
    raise ValueError(
        '`tiers` must be a non-empty sequence of (flexibility, proportion) '
        f'pairs, got {tiers!r}.')
  flex = tuple(float(f) for f, _ in pairs)
  props = tuple(float(q) for _, q in pairs)
  for f in flex:
    if not 0.0 < f <= 1.0:
      raise ValueError(f'tier flexibilities must lie in (0, 1], got {f}.')
  if len(set(flex)) != len(flex):
    raise ValueError(f'tier flexibilities must be distinct, got {flex}.')
  for q in props:
    if not q >= 0.0:
      raise ValueError(f'tier proportions must be >= 0, got {q}.')
  if abs(math.fsum(props) - 1.0) > _SUM_TOL:
    raise ValueError(
        f'tier proportions must sum to 1, got {props} (sum '
        f'{math.fsum(props)!r}).')
  return flex, props


def _check_distribution(distribution: Distribution) -> Tuple[str, float]:
  """Returns ``(kind, parameter)`` for a continuous distribution spec."""
  if isinstance(distribution, str):
    kind, value = distribution, None
  else:
    try:
      kind, value = distribution
    except (TypeError, ValueError) as e:
      raise ValueError(
          '`distribution` must be a name or a (name, value) pair, got '
          f'{distribution!r}.') from e
  if kind == 'uniform':
    if value is not None:
      raise ValueError("'uniform' takes no parameter.")
    return kind, 0.0
  if kind in ('increasing', 'decreasing'):
    a = DEFAULT_BIAS if value is None else float(value)
    if not 0.0 <= a <= 2.0:
      raise ValueError(
          f'the bias `a` of F(x) = (1-a) x^2 + a x must lie in [0, 2] for F '
          f'to be a CDF on [0, 1], got {a}.')
    return kind, a
  if kind == 'constant':
    if value is None:
      raise ValueError("'constant' needs a value: ('constant', f).")
    f = float(value)
    if not 0.0 < f <= 1.0:
      raise ValueError(f'a constant flexibility must lie in (0, 1], got {f}.')
    return kind, f
  raise ValueError(
      "`distribution` must be 'uniform', 'increasing', 'decreasing' or "
      f"('constant', f), got {distribution!r}.")


def _inverse_biased_cdf(u: jax.Array, a: float) -> jax.Array:
  """Solves ``(1 - a) x^2 + a x = u`` for ``x`` in ``[0, 1]``.

  Written as ``2u / (a + sqrt(a^2 + 4 (1 - a) u))`` (no cancellation, valid
  for ``a = 1``), so ``u > 0`` gives ``x > 0`` and ``u = 1`` gives ``x = 1``.
  """
  return 2.0 * u / (a + jnp.sqrt(a * a + 4.0 * (1.0 - a) * u))


def _make_sampler(tiers: Optional[Tiers], distribution: Optional[Distribution]
                  ) -> Callable[[jax.Array, Tuple[int, ...]], jax.Array]:
  """Returns ``sample(key, shape) -> float32 flexibilities in (0, 1]``."""
  if (tiers is None) == (distribution is None):
    raise ValueError(
        'Give exactly one of `tiers` (a sequence of (flexibility, proportion) '
        'pairs) and `distribution`.')
  if tiers is not None:
    flex, props = _check_tiers(tiers)
    values = np.asarray(flex, np.float32)
    # Upper edges of the first K-1 tiers; the last tier takes the rest.
    edges = np.cumsum(np.asarray(props, np.float64))[:-1].astype(np.float32)

    def sample(key, shape):
      u = jax.random.uniform(key, shape, jnp.float32)
      index = jnp.zeros(shape, jnp.int32)
      for edge in edges:
        index = index + (u >= edge).astype(jnp.int32)
      return jnp.asarray(values)[index]
    return sample

  kind, value = _check_distribution(distribution)

  def sample(key, shape):
    u = jax.random.uniform(key, shape, jnp.float32)  # in [0, 1)
    if kind == 'uniform':
      return 1.0 - u  # in (0, 1]
    if kind == 'increasing':
      return _inverse_biased_cdf(1.0 - u, value)  # in (0, 1]
    if kind == 'decreasing':
      return 1.0 - _inverse_biased_cdf(u, value)  # mirror: G(x) = 1-F(1-x)
    return jnp.full(shape, value, jnp.float32)
  return sample


def _map_selected(fn: Callable[..., Any], params: PyTree, selected: PyTree,
                  *trees: PyTree) -> PyTree:
  """``fn(p, *leaves)`` on the selected leaves, ``MaskedNode`` elsewhere."""
  leaves, treedef = jax.tree.flatten(params)
  flags = treedef.flatten_up_to(selected)
  others = [treedef.flatten_up_to(t) for t in trees]
  return treedef.unflatten([
      fn(p, *(o[j] for o in others)) if flag else optax.MaskedNode()
      for j, (p, flag) in enumerate(zip(leaves, flags))])


def scale_by_flexibility(
    key: Any,
    *,
    tiers: Optional[Tiers] = None,
    distribution: Optional[Distribution] = None,
    strength: Any,
    refresh: str = 'task',
    mask: _common.MaskOrFn = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Scales each synapse's update by a gate set by its fixed flexibility.

  For every gated leaf, with ``u`` the incoming update, ``w`` the current
  parameter and ``w_0`` its value at ``init``:

  .. math::

    \alpha_{ij} = 1 - \tanh^2\!\Big(s \,\frac{f_{ij} - 1}{f_{ij}}\,
                                    (w_{ij} - w_{0,ij})\Big),
    \qquad u'_{ij} = \alpha_{ij} \, u_{ij}.

  ``f_ij`` in ``(0, 1]`` is the synapse's flexibility, drawn once and never
  changed; ``f = 1`` gives ``alpha = 1`` exactly (fully plastic, the update
  passes bit for bit), ``f -> 0`` freezes a synapse once it has moved.
  ``alpha`` is computed at the first update and then

  * ``refresh='task'``: at each task boundary, from the parameters at that
    update (the start of the learning session, as in the reference); the
    boundary is read from the ``task_id`` extra argument
    (``update(..., task_id=t)``, required), the first update counts as one;
  * ``refresh='step'``: at every update, from the current parameters
    (``task_id`` not needed).

  **Where to put it.** The gate multiplies whatever update it receives. The
  reference scales the *gradient* of plain SGD; for SGD (no momentum), before
  and after ``optax.sgd`` give the same step, and :func:`flexible_sgd` puts
  the gate first, like the reference. With an adaptive optimizer put it
  *after* the optimizer (gate the emitted step,
  ``optax.chain(optax.adam(lr), scale_by_flexibility(...))``): Adam divides
  each coordinate by its own RMS, so a gradient scaled by an ``alpha`` that
  stays constant within a task would be scaled back up and the gate lost.

  **Flexibility draw and per-seed keys.** The flexibility is a function of the
  state's ``key`` field *as it stands at the first update*: the first update
  (``count == 0``) splits ``key`` and redraws ``flexibility`` from it. So
  after ``states = jax.vmap(tx.init)(params)`` followed by
  ``mpl_jax.reseed(states, per_seed_key)`` (which only replaces ``key``
  fields) each seed gets its own flexibility. ``init`` already fills
  ``flexibility`` with the draw from the factory ``key`` -- the very value the
  first update redraws when the state was not reseeded -- so a single run can
  inspect it before training. The redraw runs under a conditional that
  stays one under ``vmap`` (it runs when any seed is at its first update), so
  it costs nothing after the first step, vmapped over seeds or not.

  Leaves that are not gated hold ``optax.MaskedNode()`` in ``flexibility``,
  ``w_init`` and ``alpha`` (no memory, no leaves), so
  ``jax.tree.leaves(optax.tree_utils.tree_get(state, 'flexibility'))`` are
  exactly the gated synapses (see :func:`tier_fractions`).

  Reference values (Lee et al.): ``s = 4e5`` for 10 items, ``s = 2e5`` for 30;
  "hybrid" ``distribution='uniform'`` (f ~ U(0, 1)), "conventional"
  ``distribution=('constant', 1.0)`` (all f = 1; equal to the inner optimizer),
  "stable" ``distribution=('constant', 0.3)``; biased mixes
  ``'increasing'`` (CDF ``F(x) = (1 - a) x^2 + a x``, ``a = 0.5``: more
  flexible synapses) and ``'decreasing'`` (``1 - F(1 - x)``: more stable
  ones); plain SGD, learning rate 1e-4.

  Args:
    key: an int seed or a raw ``uint32[2]`` key (see above for reseeding).
    tiers: discrete synapse types, a sequence of ``(flexibility, proportion)``
      pairs: flexibilities distinct, in ``(0, 1]``; proportions ``>= 0``
      summing to 1. Each synapse independently takes tier ``k`` with
      probability ``proportion_k`` (random intermixing); realised fractions
      fluctuate by ``sqrt(q (1 - q) / n)`` (check with :func:`tier_fractions`).
    distribution: a continuous distribution instead: ``'uniform'``
      (``U(0, 1]``), ``'increasing'`` or ``('increasing', a)``,
      ``'decreasing'`` or ``('decreasing', a)`` (``0 <= a <= 2``, default
      ``0.5``; sampled by inverse CDF), or ``('constant', f)``. Exactly one of
      ``tiers`` and ``distribution``. Draws are clipped to
      ``[float32 eps, 1]``.
    strength: ``s >= 0``. May be injected with ``optax.inject_hyperparams``.
    refresh: ``'task'`` (default) or ``'step'``, see above.
    mask: which leaves are gated: a pytree of bools with the structure of
      params, or a callable returning one. Default: leaves with ``ndim > 1``
      (weight matrices; biases are not gated, as in the reference).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` with state
    :class:`ScaleByFlexibilityState`; ``update`` needs ``params`` (and
    ``task_id`` when ``refresh='task'``); other extra args are ignored.

  Raises:
    ValueError: for invalid ``tiers``/``distribution``/``refresh`` (at
      construction), missing ``params`` or ``task_id`` (at ``update``).

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> from mpl_jax.rules.flexibility import scale_by_flexibility
    >>> params = {'w': jnp.ones((3, 2)), 'b': jnp.zeros(2)}
    >>> tx = optax.chain(optax.adam(1e-3), scale_by_flexibility(
    ...     0, tiers=[(1.0, 0.5), (0.1, 0.5)], strength=4e5))
    >>> state = tx.init(params)
    >>> grads = jax.tree.map(jnp.ones_like, params)
    >>> updates, state = tx.update(grads, state, params, task_id=0)
    >>> flex = optax.tree_utils.tree_get(state, 'flexibility')
    >>> print(flex['w'])  # one tier per synapse, drawn at the first update
    [[1.  1. ]
     [0.1 1. ]
     [1.  1. ]]

  References:
    Lee, Paik, Baek, Cho, "Neuromimetic metaplasticity for adaptive
    continual learning", arXiv:2407.07133, 2024; Neural Networks, 2025.
    https://arxiv.org/abs/2407.07133 ; reference MATLAB code
    vsnnlab/Metaplasticity.
  """
  sample = _make_sampler(tiers, distribution)
  if refresh not in ('task', 'step'):
    raise ValueError(f"`refresh` must be 'task' or 'step', got {refresh!r}.")
  init_key = _common.as_key(key)

  def draw(draw_key, params, selected):
    return _common.draw_selected(
        lambda k, shape: jnp.clip(sample(k, shape), _FLOOR, 1.0),
        draw_key, params, selected)

  def alphas(params, flexibility, w_init, selected):
    return _map_selected(
        lambda p, f, w0: flexibility_factor(
            strength, f, (p - w0).astype(jnp.float32)).astype(jnp.float32),
        params, selected, flexibility, w_init)

  def init_fn(params):
    selected = _common.resolve_mask(mask, params)
    # The value the first update redraws if `key` is left as it is.
    flexibility = draw(jax.random.split(init_key)[1], params, selected)
    return ScaleByFlexibilityState(
        count=jnp.zeros([], jnp.int32),
        key=init_key,
        flexibility=flexibility,
        w_init=_map_selected(jnp.asarray, params, selected),
        alpha=_map_selected(
            lambda p: jnp.ones(jnp.shape(p), jnp.float32), params, selected),
        last_task=jnp.full([], -1, jnp.int32))

  def update_fn(updates, state, params=None, *, task_id=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_common.NO_PARAMS_MSG)
    selected = _common.resolve_mask(mask, params)
    first = state.count == 0
    key, draw_key = jax.random.split(state.key)
    shapes = _common.leaf_shapes(params)
    flexibility = _common.cond_any(
        first, lambda k, old: draw(k, shapes, selected), lambda k, old: old,
        draw_key, state.flexibility)
    if refresh == 'task':
      boundary = _common.task_boundary(
          state.last_task, task_id, rule='scale_by_flexibility')
      is_new = jnp.logical_or(boundary.is_new, first)
      fresh = alphas(params, flexibility, state.w_init, selected)
      alpha = jax.tree.map(lambda a, b: jnp.where(is_new, a, b), fresh,
                           state.alpha)
      last_task = boundary.task_id
    else:
      alpha = alphas(params, flexibility, state.w_init, selected)
      last_task = (state.last_task if task_id is None
                   else jnp.asarray(task_id, jnp.int32))

    def gate(u, a, is_selected):
      if not is_selected or u is None:
        return u
      return u * a.astype(u.dtype)

    updates = jax.tree.map(gate, updates, alpha, selected,
                           is_leaf=lambda x: x is None)
    return updates, ScaleByFlexibilityState(
        count=optax.safe_increment(state.count), key=key,
        flexibility=flexibility, w_init=state.w_init, alpha=alpha,
        last_task=last_task)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def tier_fractions(flexibility_tree: PyTree,
                   tiers_or_edges: Union[Tiers, Sequence[float]]) -> jax.Array:
  """Fraction of the gated synapses in each tier (or histogram bin).

  Args:
    flexibility_tree: the ``flexibility`` field of the state, e.g.
      ``optax.tree_utils.tree_get(opt_state, 'flexibility')``. Its leaves are
      the gated synapses only (ungated leaves are ``MaskedNode``); all leaves
      are pooled, including a leading seed axis of a vmapped state (use
      ``jax.vmap(tier_fractions, (0, None))`` for one row per seed).
    tiers_or_edges: either the ``tiers`` given to :func:`scale_by_flexibility`
      (pairs; a synapse is in tier ``k`` when its flexibility equals tier
      ``k``'s, up to float32 rounding), or increasing bin edges
      ``e_0 < ... < e_K`` (a synapse is in bin ``k`` when
      ``e_k <= f < e_{k+1}``; the last bin is closed).

  Returns:
    float32 array of ``K`` fractions (they sum to 1 when the tiers or edges
    cover every synapse). Works under ``jit``.

  Raises:
    ValueError: if the tree has no leaves, or for bad tiers or edges.
  """
  leaves = jax.tree.leaves(flexibility_tree)
  if not leaves:
    raise ValueError('`flexibility_tree` has no gated synapse.')
  f = jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in leaves])
  items = list(tiers_or_edges)
  if items and all(isinstance(t, (tuple, list)) for t in items):
    flex, _ = _check_tiers(items)
    hits = [jnp.isclose(f, max(v, _FLOOR), rtol=1e-6, atol=0.0) for v in flex]
  else:
    edges = [float(e) for e in items]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
      raise ValueError(
          f'edges must be at least two increasing numbers, got {edges}.')
    hits = [(f >= lo) & (f < hi) for lo, hi in zip(edges[:-1], edges[1:])]
    hits[-1] = (f >= edges[-2]) & (f <= edges[-1])
  return jnp.stack([jnp.mean(h.astype(jnp.float32)) for h in hits])


def flexible_sgd(
    learning_rate: optax.ScalarOrSchedule,
    *,
    key: Any = 0,
    tiers: Optional[Union[Tiers, Sequence[float]]] = None,
    distribution: Optional[Distribution] = None,
    strength: Any,
    refresh: str = 'task',
    mask: _common.MaskOrFn = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Plain SGD on flexibility-gated gradients, the reference optimizer.

  Equivalent to::

    optax.chain(
        scale_by_flexibility(key, tiers=tiers, distribution=distribution,
                             strength=strength, refresh=refresh, mask=mask),
        optax.sgd(learning_rate),
    )

  i.e. ``w <- w - lr * alpha * g``. With every flexibility equal to 1 it is
  ``optax.sgd(learning_rate)`` bit for bit. ``learning_rate`` and
  ``strength`` can be injected with ``optax.inject_hyperparams`` (pass
  ``static_args='mask'`` if ``mask`` is a callable). This is the factory
  behind ``config.optimizer.name = 'flexible_sgd'``.

  Args:
    learning_rate: a scalar or an optax schedule (reference: 1e-4).
    key: int seed or raw key for the flexibility draw (the trainer reseeds
      it per run).
    tiers: see :func:`scale_by_flexibility`; also accepted flat,
      ``(f1, p1, f2, p2, ...)`` (as a config writes it).
    distribution: see :func:`scale_by_flexibility`; ``'uniform'`` when
      neither ``tiers`` nor ``distribution`` is given.
    strength: ``s`` (reference: 4e5 for 10 items, 2e5 for 30).
    refresh: ``'task'`` (reference; needs ``task_id``) or ``'step'``.
    mask: which leaves are gated (default ``ndim > 1``).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs`.

  References:
    Lee, Paik, Baek, Cho, "Neuromimetic metaplasticity for adaptive
    continual learning", arXiv:2407.07133, 2024; Neural Networks, 2025.
    https://arxiv.org/abs/2407.07133
  """
  if tiers and not isinstance(tiers[0], (list, tuple)):
    if len(tiers) % 2:
      raise ValueError('flat tiers need (flexibility, proportion) pairs: '
                       f'an even number of values, got {tiers!r}.')
    tiers = tuple(zip(tiers[0::2], tiers[1::2]))
  tiers = tiers or None
  if isinstance(distribution, (list, tuple)):
    distribution = tuple(distribution)
  if tiers is None and distribution is None:
    distribution = 'uniform'
  return optax.chain(
      scale_by_flexibility(key, tiers=tiers, distribution=distribution,
                           strength=strength, refresh=refresh, mask=mask),
      optax.sgd(learning_rate),
  )


__getattr__ = _common.deprecated_aliases(__name__, {
    'flexibility_tiers': 'scale_by_flexibility',
    'FlexibilityTiersState': 'ScaleByFlexibilityState',
}, globals())
