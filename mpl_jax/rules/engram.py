"""Stochastic engram gates (this library's reading of Aguilar et al., 2025).

An *engram* is a random subset of the network's synapses -- or of its units,
a unit taking all its incoming synapses with it -- that is allowed to learn;
every synapse outside the active engram keeps its value. The engram is drawn
from the state's key with activation probability ``p`` and redrawn at every
step or at every task boundary. The gate composes with the metaplastic sign
gate of :mod:`mpl_jax.rules.metaplasticity` (an engram-gated metaplastic
binarized network, :func:`engram_metaplastic_adam`).

This module has no Flax import and knows nothing of models or trainers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mpl_jax.rules import _common
from mpl_jax.random import counter_bernoulli
from mpl_jax.rules import metaplasticity

PyTree = Any

_GRANULARITIES = ('synapse', 'unit')
_RESAMPLES = ('step', 'task')
_SAMPLERS = {'threefry': jax.random.bernoulli,
             'counter': counter_bernoulli}


class ScaleByEngramGateState(NamedTuple):
  """State of :func:`scale_by_engram_gate`.

  Attributes:
    count: number of ``update`` calls so far (int32); the first update always
      draws a fresh engram.
    key: raw ``uint32[2]`` PRNG key, split at every step; every engram is
      drawn from it.
    engram: the current engram, a tree like params: for gated leaves a bool
      array, ``True`` where the synapse may learn -- of the leaf's shape
      (``granularity='synapse'``) or of shape ``(1, ..., 1, n_units)``
      broadcastable to it (``'unit'``: one flag per column of a Flax
      ``[in, out]`` kernel, i.e. per output unit, the last axis);
      ``optax.MaskedNode()`` for leaves that are not gated. After ``init`` it
      holds the engram the first update will use if ``key`` is not reseeded.
    last_task: int32 id of the task at the last update (-1 at init).
  """
  count: jax.Array
  key: jax.Array
  engram: optax.Updates
  last_task: jax.Array


def _engram_shape(shape, granularity):
  if granularity == 'synapse' or len(shape) == 0:
    return tuple(shape)
  return (1,) * (len(shape) - 1) + (shape[-1],)


def scale_by_engram_gate(
    key: Any,
    *,
    p: Any,
    granularity: str = 'synapse',
    resample: str = 'step',
    sampler: str = 'threefry',
    mask: _common.MaskOrFn = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Lets only a random engram of synapses (or units) learn.

  For every gated leaf, with ``u`` the incoming update and ``m`` the current
  engram,

  .. math::

    m_{ij} \sim \mathrm{Bernoulli}(p) \;\; \text{i.i.d.}, \qquad
    u'_{ij} = \begin{cases} u_{ij} & m_{ij} = 1 \\ 0 & m_{ij} = 0, \end{cases}

  with ``m`` drawn per synapse (``granularity='synapse'``) or per unit
  (``'unit'``: one draw per index of the leaf's last axis, shared by all its
  incoming synapses -- a whole column of a Flax ``[in, out]`` kernel, or of a
  ``[h, w, in, out]`` conv kernel). No ``1/p`` rescaling: this is a gate,
  not dropout. ``p = 1`` is the identity bit for bit; ``p`` may be injected
  with ``optax.inject_hyperparams`` (values outside ``[0, 1]`` act as 0 or 1).
  Leaves that are not gated pass through unchanged.

  The engram is redrawn (from the state's ``key``, split at every step):

  * ``resample='step'``: at every update (``task_id`` not needed);
  * ``resample='task'``: at every task boundary, read from the ``task_id``
    extra argument (``update(..., task_id=t)``, required); the first update
    counts as one. The draw runs under a conditional that stays one under
    ``vmap`` over seeds, so steps inside a task cost only the masking.

  All randomness comes from the ``key`` field, so the gate is deterministic
  given the key, and ``mpl_jax.reseed`` after ``jax.vmap(tx.init)`` gives
  every seed its own engrams. ``sampler='counter'`` draws the Bernoulli
  variables from :func:`mpl_jax.random.counter_bernoulli`
  instead of ``jax.random.bernoulli`` (Threefry): the same law, other draws,
  and much cheaper on CPU when a per-synapse engram is redrawn every step
  (``benchmarks/bench_rules_overhead.py`` measures both).

  **This library's reading of the paper.** Aguilar et al. report that
  stochastically activated engrams gate the plasticity of a metaplastic BNN;
  what a gate acts on, its probability and its schedule are not confirmed
  (SPEC section 4). Here an engram is a Bernoulli(``p``) subset of the
  synapses or of the hidden units of each gated layer; only its members
  receive their update, every other synapse is protected for that step, and
  the engram is resampled each step or each task. Place the gate last in a
  chain, after the learning rate and after :func:`scale_by_metaplasticity`
  (see :func:`engram_metaplastic_adam`): optimizer statistics (Adam moments)
  keep seeing every gradient, and only the emitted step is gated.

  Args:
    key: an int seed or a raw ``uint32[2]`` key.
    p: activation probability of a synapse / unit (scalar, injectable).
    granularity: ``'synapse'`` (default) or ``'unit'``.
    resample: ``'step'`` (default) or ``'task'``.
    sampler: ``'threefry'`` (default, ``jax.random.bernoulli``) or
      ``'counter'`` (counter hash; same law, faster on CPU).
    mask: which leaves are gated: a pytree of bools with the structure of
      params, or a callable returning one. Default: leaves with ``ndim > 1``
      (weight matrices; biases and BatchNorm parameters always learn).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` with state
    :class:`ScaleByEngramGateState`. ``params`` are optional in ``update``
    (the mask is resolved on them when given, otherwise on the updates,
    which have the same structure); other extra args are ignored.

  Raises:
    ValueError: for an unknown ``granularity``, ``resample`` or ``sampler``
      (at construction), or a missing ``task_id`` with ``resample='task'``.

  Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> from mpl_jax.rules.engram import scale_by_engram_gate
    >>> params = {'w': jnp.zeros((4, 3)), 'b': jnp.zeros(3)}
    >>> tx = optax.chain(optax.sgd(0.1), scale_by_engram_gate(
    ...     0, p=0.5, granularity='unit', resample='task'))
    >>> state = tx.init(params)
    >>> grads = jax.tree.map(jnp.ones_like, params)
    >>> updates, state = tx.update(grads, state, params, task_id=0)
    >>> print(updates['w'] != 0)  # whole columns (units) learn or not
    [[ True  True False]
     [ True  True False]
     [ True  True False]
     [ True  True False]]
    >>> print(updates['b'])  # biases are not gated
    [-0.1 -0.1 -0.1]

  References:
    Aguilar, Herbozo Contreras, Kavehei, "Stochastic engrams for efficient
    continual learning with binarized neural networks", arXiv:2503.21436,
    2025. https://arxiv.org/abs/2503.21436
  """
  if granularity not in _GRANULARITIES:
    raise ValueError(
        f"`granularity` must be 'synapse' or 'unit', got {granularity!r}.")
  if resample not in _RESAMPLES:
    raise ValueError(f"`resample` must be 'step' or 'task', got {resample!r}.")
  if sampler not in _SAMPLERS:
    raise ValueError(
        f"`sampler` must be 'threefry' or 'counter', got {sampler!r}.")
  bernoulli = _SAMPLERS[sampler]
  init_key = _common.as_key(key)

  def draw(draw_key, prob, tree, selected):
    return _common.draw_selected(
        lambda k, shape: bernoulli(k, prob, shape), draw_key, tree,
        selected, lambda shape: _engram_shape(shape, granularity))

  def init_fn(params):
    selected = _common.resolve_mask(mask, params)
    return ScaleByEngramGateState(
        count=jnp.zeros([], jnp.int32),
        key=init_key,
        # The engram the first update draws if `key` is left as it is.
        engram=draw(jax.random.split(init_key)[1], p, params, selected),
        last_task=jnp.full([], -1, jnp.int32))

  def update_fn(updates, state, params=None, *, task_id=None, **extra_args):
    del extra_args
    reference = updates if params is None else params
    selected = _common.resolve_mask(mask, reference)
    del params
    key, draw_key = jax.random.split(state.key)
    if resample == 'step':
      engram = draw(draw_key, p, reference, selected)
      last_task = (state.last_task if task_id is None
                   else jnp.asarray(task_id, jnp.int32))
    else:
      boundary = _common.task_boundary(
          state.last_task, task_id, rule='scale_by_engram_gate')
      is_new = jnp.logical_or(boundary.is_new, state.count == 0)
      shapes = _common.leaf_shapes(reference)
      engram = _common.cond_any(
          is_new, lambda k, prob, old: draw(k, prob, shapes, selected),
          lambda k, prob, old: old, draw_key, jnp.asarray(p), state.engram)
      last_task = boundary.task_id

    def gate(u, m, is_selected):
      if not is_selected or u is None:
        return u
      return jnp.where(m, u, jnp.zeros_like(u))

    updates = jax.tree.map(gate, updates, engram, selected,
                           is_leaf=lambda x: x is None)
    return updates, ScaleByEngramGateState(
        count=optax.safe_increment(state.count), key=key, engram=engram,
        last_task=last_task)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def engram_metaplastic_adam(
    learning_rate: optax.ScalarOrSchedule,
    meta: Any,
    *,
    key: Any,
    p: Any,
    granularity: str = 'synapse',
    resample: str = 'step',
    sampler: str = 'threefry',
    weight_decay: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    mask: _common.MaskOrFn = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Engram-gated metaplastic Adam for binarized networks.

  Equivalent to::

    optax.chain(
        optax.add_decayed_weights(weight_decay),     # coupled L2
        optax.scale_by_adam(b1, b2, eps),
        optax.scale_by_learning_rate(learning_rate),
        scale_by_metaplasticity(meta, mask=mask),     # f_meta sign gate
        scale_by_engram_gate(key, p=p, granularity=granularity,
                           resample=resample, sampler=sampler, mask=mask),
    )

  A hidden weight changes only when it is in the active engram, and then by
  the metaplastic step of :func:`mpl_jax.metaplastic_adam`. With ``p = 1`` it
  equals ``metaplastic_adam`` bit for bit. ``learning_rate``, ``meta`` and
  ``p`` can be injected with ``optax.inject_hyperparams`` (pass
  ``static_args='mask'`` if ``mask`` is a callable). Needs ``params`` (for
  the metaplastic gate) and, with ``resample='task'``, ``task_id``.

  This is this library's reading of the engram gate (see
  :func:`scale_by_engram_gate`; the paper's gate is unconfirmed).

  Args:
    learning_rate: a scalar or an optax schedule.
    meta: metaplasticity strength ``m`` (see ``scale_by_metaplasticity``).
    key: int seed or raw key of the engram draws.
    p: engram activation probability.
    granularity: ``'synapse'`` or ``'unit'``.
    resample: ``'step'`` or ``'task'``.
    sampler: ``'threefry'`` or ``'counter'`` (see ``scale_by_engram_gate``).
    weight_decay: coupled L2 coefficient added to the gradient.
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay.
    eps: Adam's epsilon.
    mask: leaves that are metaplastic and engram-gated (default
      ``ndim > 1``).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs`.

  References:
    Aguilar, Herbozo Contreras, Kavehei, arXiv:2503.21436, 2025.
    https://arxiv.org/abs/2503.21436 ;
    Laborieux, Ernoult, Hirtzlin, Querlioz, Nature Communications 12:2549,
    2021. https://arxiv.org/abs/2003.03533
  """
  return optax.chain(
      *metaplasticity.coupled_adam(learning_rate, b1=b1, b2=b2, eps=eps,
                                   weight_decay=weight_decay,
                                   eps_placement='optax'),
      metaplasticity.scale_by_metaplasticity(meta, mask=mask),
      scale_by_engram_gate(key, p=p, granularity=granularity,
                           resample=resample, sampler=sampler, mask=mask),
  )


__getattr__ = _common.deprecated_aliases(__name__, {
    'stochastic_engram_gate': 'scale_by_engram_gate',
    'EngramGateState': 'ScaleByEngramGateState',
}, globals())
