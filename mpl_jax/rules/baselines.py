"""Continual-learning baselines as composable optax transforms.

* :func:`add_ewc_penalty` -- Elastic Weight Consolidation, online (task
  boundaries) or stream (every step) variant: adds the gradient of
  ``importance/2 * sum F (theta - theta*)^2`` to the incoming gradient.
* :func:`add_synaptic_intelligence` -- Synaptic Intelligence: adds the
  gradient of ``c * sum Omega (theta - theta*)^2``.
* :func:`ewc_sgd`, :func:`si_sgd` -- each penalty followed by plain SGD, the
  full optimizers of the configs (``'ewc_sgd'``, ``'si_sgd'``).

The two penalties go *first* in a chain, where ``updates`` are still the
plain loss gradients, e.g. ``optax.chain(add_ewc_penalty(2.0, decay=0.2),
optax.sgd(0.002))``. They need ``params``; the boundary-driven ones read the
task index from the keyword extra argument ``task_id`` of ``update``.

This module has no Flax import and knows nothing of models or trainers.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from mpl_jax.rules import _common

PyTree = Any


def _where_tree(cond, new, old):
  return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def _zeros_like(tree):
  return optax.tree.zeros_like(tree)


def _with_dtype_of(new, ref):
  return jax.tree.map(lambda a, b: a.astype(b.dtype), new, ref)


# ----------------------------------------------------------------------------
# Elastic Weight Consolidation.
# ----------------------------------------------------------------------------


class AddEwcPenaltyState(NamedTuple):
  """State of :func:`add_ewc_penalty`.

  Attributes:
    last_task: the task id seen at the previous step (-1 before any step).
    count: steps seen in the current task (online mode).
    fisher_task: running mean of ``g^2`` over the current task (online mode;
      zeros in stream mode).
    fisher: the consolidated diagonal Fisher ``F``.
    anchor: the anchor parameters ``theta*``.
  """
  last_task: jax.Array
  count: jax.Array
  fisher_task: optax.Updates
  fisher: optax.Updates
  anchor: optax.Params


def add_ewc_penalty(
    importance: Any,
    *,
    decay: Any = 1.0,
    mode: str = 'online',
) -> optax.GradientTransformationExtraArgs:
  r"""Adds the EWC penalty gradient ``importance * F * (theta - theta*)``.

  The penalty is :math:`\frac{\lambda}{2}\sum_i F_i(\theta_i-\theta^*_i)^2`
  (``lambda = importance``), whose gradient is added to the incoming
  gradient ``g``: ``u = g + lambda F (theta - theta*)``. ``F`` is the
  diagonal empirical Fisher estimated from the squared incoming gradients
  ``g^2`` (the per-example Fisher at batch size 1; at larger batches, the
  square of the minibatch-mean gradient).

  ``mode='online'`` (online EWC, Schwarz et al. 2018; spec: importance 2,
  decay 0.2). During a task, ``F_task`` is the running mean of ``g^2`` over
  the task's steps. At a task boundary (``task_id`` changes)

  .. math::

    F \leftarrow \gamma F + F_{task}, \qquad \theta^* \leftarrow \theta,
    \qquad F_{task} \leftarrow 0

  with ``gamma = decay``, before the penalty of that step is computed (so it
  is zero at the first step of a task). Unlike the reference code, which
  recomputes ``F_task`` at the end of the task in a second pass over the
  task's data at the final parameters, this transform only sees the stream
  of gradients: ``F_task`` averages ``g^2`` at the parameters where each
  gradient was taken. No penalty applies during the first task.

  ``mode='stream'`` (stream EWC; spec: importance 5). No task boundaries
  (``task_id`` is ignored). Our reading, from the reference code: after
  every step, the Fisher is decayed and accumulated and the anchor is moved
  to the parameters the step started from:

  .. math::

    u_t = g_t + \lambda F_{t-1} (\theta_t - \theta_{t-1}), \qquad
    F_t = \gamma F_{t-1} + g_t^2,

  with ``F_0 = 0`` and ``theta_0`` the parameters at ``init``. The penalty
  therefore resists moving synapses that had large recent gradients away
  from where they were one step ago (a Fisher-weighted step damping).
  ``decay`` is the reference's "downweighting" (0.2 in its configs for both
  variants); ``decay = 1`` accumulates the Fisher without forgetting.

  Args:
    importance: ``lambda`` (``>= 0``); may be injected / traced.
    decay: ``gamma`` in ``[0, 1]``; may be injected / traced.
    mode: ``'online'`` (needs ``task_id``) or ``'stream'``.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` that needs ``params``
    (and, in online mode, the keyword extra argument ``task_id``).

  Raises:
    ValueError: for an unknown ``mode``; at ``update``, if ``params`` or (in
      online mode) ``task_id`` is missing.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> params, grads = {'w': jnp.ones(3)}, {'w': jnp.full(3, 0.5)}
    >>> tx = optax.chain(add_ewc_penalty(2.0, decay=0.2), optax.sgd(0.002))
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params, task_id=0)
    >>> print(updates['w'])  # no penalty during the first task
    [-0.001 -0.001 -0.001]

  References:
    Kirkpatrick et al., "Overcoming catastrophic forgetting in neural
    networks", PNAS 114(13):3521-3526, 2017. https://arxiv.org/abs/1612.00796

    Schwarz et al., "Progress & Compress: A scalable framework for continual
    learning", ICML 2018. https://arxiv.org/abs/1805.06370

    Bonnet et al., "Bayesian continual learning and forgetting in neural
    networks", arXiv:2504.13569 (2025) (stream EWC baseline).
  """
  if mode not in ('online', 'stream'):
    raise ValueError(f"mode must be 'online' or 'stream', got {mode!r}.")

  def init_fn(params):
    return AddEwcPenaltyState(
        last_task=jnp.full([], -1, jnp.int32),
        count=jnp.zeros([], jnp.int32),
        fisher_task=_zeros_like(params),
        fisher=_zeros_like(params),
        anchor=jax.tree.map(jnp.asarray, params))

  def penalty(updates, fisher, params, anchor):
    return jax.tree.map(
        lambda g, f, p, a: (g + importance * f * (p - a)).astype(g.dtype),
        updates, fisher, params, anchor)

  def update_online(updates, state, params, task_id):
    boundary = _common.task_boundary(state.last_task, task_id,
                                     rule='add_ewc_penalty(mode="online")')
    is_new = boundary.is_new
    fisher = _where_tree(
        is_new,
        jax.tree.map(lambda f, ft: decay * f + ft, state.fisher,
                     state.fisher_task),
        state.fisher)
    fisher = _with_dtype_of(fisher, state.fisher)
    anchor = _where_tree(is_new, params, state.anchor)
    count = jnp.where(is_new, 0, state.count)
    fisher_task = _where_tree(is_new, _zeros_like(state.fisher_task),
                              state.fisher_task)
    count = optax.safe_increment(count)
    n = count.astype(jnp.float32)
    fisher_task = jax.tree.map(
        lambda ft, g: (ft + (g * g - ft) / n).astype(ft.dtype),
        fisher_task, updates)
    out = penalty(updates, fisher, params, anchor)
    return out, AddEwcPenaltyState(
        last_task=boundary.task_id, count=count, fisher_task=fisher_task,
        fisher=fisher, anchor=anchor)

  def update_stream(updates, state, params):
    out = penalty(updates, state.fisher, params, state.anchor)
    fisher = jax.tree.map(lambda f, g: (decay * f + g * g).astype(f.dtype),
                          state.fisher, updates)
    anchor = _with_dtype_of(params, state.anchor)
    return out, state._replace(count=optax.safe_increment(state.count),
                               fisher=fisher, anchor=anchor)

  def update_fn(updates, state, params=None, **extra_args):
    if params is None:
      raise ValueError(_common.NO_PARAMS_MSG)
    if mode == 'online':
      return update_online(updates, state, params,
                           extra_args.get('task_id'))
    return update_stream(updates, state, params)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# ----------------------------------------------------------------------------
# Synaptic Intelligence.
# ----------------------------------------------------------------------------


class AddSynapticIntelligenceState(NamedTuple):
  """State of :func:`add_synaptic_intelligence`.

  Attributes:
    last_task: task id seen at the previous step (-1 before any step).
    omega: the running path integral ``omega`` of the current task.
    big_omega: the consolidated importance ``Omega``.
    anchor: ``theta*``, the parameters at the start of the current task.
    prev_params: the parameters at the previous step.
    prev_grad: the gradient emitted at the previous step.
  """
  last_task: jax.Array
  omega: optax.Updates
  big_omega: optax.Updates
  anchor: optax.Params
  prev_params: optax.Params
  prev_grad: optax.Updates


def add_synaptic_intelligence(
    c: Any,
    *,
    xi: Any = 0.1,
    damping: Optional[Any] = None,
    nonnegative: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""Adds the Synaptic-Intelligence penalty gradient ``2c Omega (theta - a)``.

  Zenke et al.'s per-synapse importance. With ``g_t`` the total gradient
  this transform emits at step ``t`` (loss gradient plus penalty, as in the
  reference code) and ``theta_t`` the parameters:

  .. math::

    \omega &\mathrel{+}= -g_{t-1}\,(\theta_t - \theta_{t-1})
      \quad\text{(every step)} \\
    \Omega &\mathrel{+}= \frac{\omega}{(\Delta\theta_{task})^2 + \xi},
      \quad \omega \leftarrow 0, \quad \theta^* \leftarrow \theta
      \quad\text{(at a task boundary)} \\
    u_t &= g^{loss}_t + 2 c\, \Omega\, (\theta_t - \theta^*)

  ``Delta theta_task = theta - theta*`` is how far each synapse moved during
  the task that ends. The transform cannot see the step it is about to emit
  (later chain elements scale it), so it integrates the path one step late:
  at step ``t`` it adds the contribution of the previous step, using the
  observed change ``theta_t - theta_{t-1}``; at a boundary that last
  contribution is added before consolidation, so the integral is exact.
  The penalty is ``c * sum Omega (theta - theta*)^2``.

  ``xi`` and ``damping``: the spec's section 5 names the denominator
  constant ``xi`` (default 0.1); the reference code calls the same constant
  ``damping_factor``, and the spec's protocol "SI (c = 1e-4, damping 1)"
  means ``xi = 1``. ``damping`` is accepted as that alias and, when given,
  replaces ``xi``.

  Args:
    c: penalty strength (``>= 0``); may be injected / traced.
    xi: the damping constant in ``omega / (Delta theta^2 + xi)`` (``> 0``).
    damping: alias of ``xi`` under the reference code's name.
    nonnegative: clip each task's contribution ``omega / (...)`` at 0 (the
      reference code applies a ReLU there; Zenke et al. and the spec do
      not). Static.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` that needs ``params``
    and the keyword extra argument ``task_id``.

  Raises:
    ValueError: at ``update`` if ``params`` or ``task_id`` is missing.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> params, grads = {'w': jnp.ones(3)}, {'w': jnp.full(3, 0.5)}
    >>> tx = optax.chain(add_synaptic_intelligence(1e-4, damping=1.0),
    ...                  optax.sgd(0.005))
    >>> updates, state = tx.update(grads, tx.init(params), params, task_id=0)
    >>> print(updates['w'])  # no importance yet: plain SGD
    [-0.0025 -0.0025 -0.0025]

  References:
    Zenke, Poole, Ganguli, "Continual Learning Through Synaptic
    Intelligence", ICML 2017. https://arxiv.org/abs/1703.04200
  """
  xi_value = xi if damping is None else damping

  def init_fn(params):
    params = jax.tree.map(jnp.asarray, params)
    zeros = _zeros_like(params)
    return AddSynapticIntelligenceState(
        last_task=jnp.full([], -1, jnp.int32), omega=zeros, big_omega=zeros,
        anchor=params, prev_params=params, prev_grad=zeros)

  def update_fn(updates, state, params=None, **extra_args):
    if params is None:
      raise ValueError(_common.NO_PARAMS_MSG)
    boundary = _common.task_boundary(state.last_task,
                                     extra_args.get('task_id'),
                                     rule='add_synaptic_intelligence')
    is_new = boundary.is_new
    # Path integral of the previous step (it belongs to the previous task
    # when this step starts a new one).
    omega = jax.tree.map(
        lambda w, g, p, q: (w - g * (p - q)).astype(w.dtype),
        state.omega, state.prev_grad, params, state.prev_params)

    def consolidate(big, w, p, a):
      contrib = w / ((p - a) ** 2 + xi_value)
      if nonnegative:
        contrib = jnp.maximum(contrib, 0)
      return (big + contrib).astype(big.dtype)

    big_omega = _where_tree(
        is_new,
        jax.tree.map(consolidate, state.big_omega, omega, params,
                     state.anchor),
        state.big_omega)
    omega = _where_tree(is_new, _zeros_like(omega), omega)
    anchor = _with_dtype_of(_where_tree(is_new, params, state.anchor),
                            state.anchor)
    out = jax.tree.map(
        lambda g, om, p, a: (g + 2 * c * om * (p - a)).astype(g.dtype),
        updates, big_omega, params, anchor)
    return out, AddSynapticIntelligenceState(
        last_task=boundary.task_id, omega=omega, big_omega=big_omega,
        anchor=anchor, prev_params=_with_dtype_of(params, state.prev_params),
        prev_grad=_with_dtype_of(out, state.prev_grad))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def ewc_sgd(learning_rate: optax.ScalarOrSchedule, *, importance: Any,
            decay: Any = 1.0, mode: str = 'online'
            ) -> optax.GradientTransformationExtraArgs:
  """EWC: the penalty gradient added to the loss gradient, then SGD.

  ``optax.chain(add_ewc_penalty(importance, decay=decay, mode=mode),
  optax.sgd(learning_rate))``.

  Args:
    learning_rate: SGD's learning rate (a scalar or a schedule).
    importance: see :func:`add_ewc_penalty`.
    decay: see :func:`add_ewc_penalty`.
    mode: see :func:`add_ewc_penalty`.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs`; needs ``params`` and,
    with ``mode='online'``, ``task_id``.

  References:
    Kirkpatrick et al., "Overcoming catastrophic forgetting in neural
    networks", PNAS 114(13), 2017. https://arxiv.org/abs/1612.00796
  """
  return optax.chain(add_ewc_penalty(importance, decay=decay, mode=mode),
                     optax.sgd(learning_rate))


def si_sgd(learning_rate: optax.ScalarOrSchedule, *, c: Any, xi: Any = 0.1,
           damping: Optional[Any] = None, nonnegative: bool = False
           ) -> optax.GradientTransformationExtraArgs:
  """Synaptic Intelligence: the penalty gradient, then SGD.

  ``optax.chain(add_synaptic_intelligence(c, xi=xi, damping=damping,
  nonnegative=nonnegative), optax.sgd(learning_rate))``.

  Args:
    learning_rate: SGD's learning rate (a scalar or a schedule).
    c: see :func:`add_synaptic_intelligence`.
    xi: see :func:`add_synaptic_intelligence`.
    damping: see :func:`add_synaptic_intelligence`.
    nonnegative: see :func:`add_synaptic_intelligence`.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs`; needs ``params`` and
    ``task_id``.

  References:
    Zenke, Poole, Ganguli, "Continual learning through synaptic
    intelligence", ICML 2017. https://arxiv.org/abs/1703.04987
  """
  return optax.chain(
      add_synaptic_intelligence(c, xi=xi, damping=damping,
                                nonnegative=nonnegative),
      optax.sgd(learning_rate))
