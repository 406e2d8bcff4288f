"""Bayesian Gradient Descent (FOO-VB diagonal) as an optax transform.

:func:`scale_by_bgd` updates every ``{'mu', 'sigma'}`` node of the parameters
(the Bayesian parameters of :mod:`mpl_jax.models.bayesian`, recognised as in
:mod:`mpl_jax.rules.mesu`) with Zeno et al.'s closed-form online variational
step; :func:`bgd_updates` is that step for one Gaussian tensor and
:func:`bgd` the full optimizer (the config name ``'bgd'``).

This module has no Flax import and knows nothing of models or trainers.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax

from mpl_jax.rules import _common
from mpl_jax.rules import mesu as mesu_lib



def bgd_updates(
    g_mu: jax.Array,
    g_sigma: jax.Array,
    mu: jax.Array,
    sigma: jax.Array,
    *,
    eta: Any = 1.0,
    clamp_grad: Any = None,
) -> tuple[jax.Array, jax.Array]:
  """The unguarded BGD steps ``(d_mu, d_sigma)`` for one Gaussian tensor.

  ``sigma' = sigma (sqrt(1 + a^2) - a)`` with ``a = sigma g_sigma / 2`` is
  computed as ``sigma / (sqrt(1 + a^2) + a)`` where ``a > 0`` (no
  cancellation) and with ``hypot`` (no overflow); see :func:`scale_by_bgd`.
  """
  del mu
  dtype = sigma.dtype
  g_mu, g_sigma = g_mu.astype(dtype), g_sigma.astype(dtype)
  if clamp_grad is not None:
    bound = jnp.asarray(clamp_grad, dtype) / sigma
    g_mu = jnp.clip(g_mu, -bound, bound)
    g_sigma = jnp.clip(g_sigma, -bound, bound)
  d_mu = -jnp.asarray(eta, dtype) * sigma * sigma * g_mu
  a = 0.5 * sigma * g_sigma
  root = jnp.hypot(jnp.ones_like(a), a)
  new_sigma = jnp.where(a > 0, sigma / (root + a), sigma * (root - a))
  return d_mu, new_sigma - sigma


def scale_by_bgd(
    *,
    eta: Any = 1.0,
    clamp_grad: Optional[Any] = None,
    sigma_min: Any = 1e-12,
    sigma_max: Any = 1e6,
) -> optax.GradientTransformationExtraArgs:
  r"""Bayesian Gradient Descent (FOO-VB diagonal) on ``{'mu', 'sigma'}``.

  Zeno et al.'s closed-form online variational update for a diagonal
  Gaussian posterior, for every Bayesian node (the update is added to the
  parameters):

  .. math::

    \mu &\leftarrow \mu - \eta\, \sigma^2\,
        \mathbb{E}_\epsilon\!\left[\tfrac{\partial L}{\partial \theta}\right] \\
    \sigma &\leftarrow \sigma \sqrt{1 + \big(\tfrac12 \sigma
        \mathbb{E}_\epsilon[\tfrac{\partial L}{\partial\theta}\epsilon]\big)^2}
        - \tfrac12 \sigma^2
        \mathbb{E}_\epsilon\!\left[\tfrac{\partial L}{\partial \theta}
        \epsilon\right]

  The Monte-Carlo expectations are the incoming gradients: with
  ``theta = mu + sigma * eps`` and ``C`` the MC loss averaged over samples,
  ``dC/dmu = E[dL/dtheta]`` and ``dC/dsigma = E[dL/dtheta * eps]``. (The
  paper averages the loss over the minibatch; ``mc_nll_loss`` sums over it,
  which scales both expectations by the batch size -- identical at batch 1,
  the online protocol.) The ``sigma`` update is positive in exact
  arithmetic; it is evaluated without cancellation (``sigma / (sqrt(1+a^2)
  + a)`` for ``a > 0``) and clipped to ``[sigma_min, sigma_max]`` so that
  it stays positive and finite under any finite gradient (with the defaults
  the clip is inactive in practice; where inactive the step is unchanged
  bit for bit). ``clamp_grad = c`` optionally clips both gradients to
  ``+-c / sigma`` first, as the reference code allows. FOO-VB's diagonal
  version is this same update.

  Args:
    eta: learning rate of the mean (the paper's ``eta``; spec baseline 1).
    clamp_grad: optional gradient clamp ``c`` (static ``None`` = off).
    sigma_min: floor on ``sigma`` (``> 0``).
    sigma_max: ceiling on ``sigma`` (finite).

  Returns:
    A stateless :class:`optax.GradientTransformationExtraArgs` that needs
    ``params``; non-Bayesian leaves pass through unchanged (combine with
    ``optax.partition`` as shown in :func:`mpl_jax.rules.mesu.scale_by_mesu`).
    Extra keyword arguments are ignored.

  References:
    Zeno, Golan, Hoffer, Soudry, "Task Agnostic Continual Learning Using
    Online Variational Bayes", arXiv:1803.10123 (2018).
    https://arxiv.org/abs/1803.10123

    Zeno, Golan, Hoffer, Soudry, "Task-Agnostic Continual Learning Using
    Online Variational Bayes With Fixed-Point Updates", Neural Computation
    33(11), 2021. https://arxiv.org/abs/2010.00373
  """

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_common.NO_PARAMS_MSG)

    def rule(g_mu, g_sigma, mu, sigma):
      d_mu, d_sigma = bgd_updates(g_mu, g_sigma, mu, sigma, eta=eta,
                                  clamp_grad=clamp_grad)
      d_sigma = mesu_lib.guard_sigma_step(
          sigma, d_sigma, min_sigma_ratio=0.0, sigma_min=sigma_min,
          sigma_max=sigma_max, reflect=False)
      return d_mu, d_sigma

    return mesu_lib.map_gaussian(rule, updates, params), state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def bgd(*, eta: Any = 1.0, clamp_grad: Optional[Any] = None
        ) -> optax.GradientTransformationExtraArgs:
  r"""Bayesian Gradient Descent, the full optimizer (``config 'bgd'``).

  :func:`scale_by_bgd` with its default sigma bounds: the step is the
  closed-form update itself (no learning rate; ``eta`` plays its part).

  Args:
    eta: the step size on the means (see :func:`scale_by_bgd`).
    clamp_grad: optional bound on the sampled gradients (see
      :func:`scale_by_bgd`).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` over ``{'mu', 'sigma'}``
    nodes (other leaves pass through unchanged); needs ``params``.

  References:
    Zeno, Golan, Hoffer, Soudry, "Task Agnostic Continual Learning Using
    Online Variational Bayes", arXiv:1803.10123 (2018).
    https://arxiv.org/abs/1803.10123
  """
  return scale_by_bgd(eta=eta, clamp_grad=clamp_grad)
