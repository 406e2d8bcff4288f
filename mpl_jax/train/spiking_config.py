"""The eRBP learner's config: every field of ``config.snn`` and its checks.

``config.snn`` is built with :func:`snn_config` (the defaults of
:data:`SNN_DEFAULTS`, the reference values of the Nu-AI eRBP code, SPEC-more
§2, except the per-layer steps, this library's choice) and checked by
:func:`validate_erbp` before any data is loaded. Both are re-exported by
:mod:`mpl_jax.train.spiking`, the learner itself.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from mpl_jax.snn import coding
from mpl_jax.snn import erbp
from mpl_jax.train import checks

# Every field of `config.snn`, with its default.
SNN_DEFAULTS: dict[str, Any] = dict(
    # Poisson coding and targets (reference: 250 Hz, 1 ms, 150 ms, 100 Hz).
    num_steps=150, max_rate=250.0, dt=1.0, target_rate=100.0,
    sampler='counter',
    # LIF neurons (reference values; thresholds V_th = R * V_s / tau_m).
    tau_syn_hidden=10.0, tau_mem_hidden=15.0, r_hidden=1.0,
    v_th_hidden=1.0, tau_syn_output=25.0, tau_mem_output=25.0,
    r_output=5.0, v_th_output=2.0, refractory=4.0, v_floor=0.1,
    # Error neurons and dendritic compartments.
    tau_err=10.0, r_err=25.0, v_th_err=2.5, tau_dendrite=15.0,
    r_dendrite=5.0, dendrite_leak=0.0,
    # Thresholded three-factor update.
    u_th_hidden=0.45, u_th_output=2.25, i_min=-3.0, i_max=3.0,
    error_mode='sign',
    # Steps per event (library choice), weight bounds (reference memristor
    # ranges; 0 = unbounded), initial weights and feedback.
    step_hidden=0.02, step_output=0.02, w_max_hidden=3.0, w_max_output=1.5,
    init_scale_hidden=1.0, init_scale_output=1.0, feedback_scale=0.15,
    # Neuromodulatory error signal: running average of misclassifications.
    error_tau=100.0, error_init=1.0,
    # How the proposals of a minibatch (config.protocol.batch_size > 1, a
    # documented deviation from online learning) are combined.
    batch_reduce='mean',
    # Steps with events gathered before the proposal's product, in tiers
    # (0: always dense; exact either way, see mpl_jax.snn.erbp.outer_sum).
    proposal_rows=(16, 48),
)


def snn_config(**overrides: Any) -> ml_collections.ConfigDict:
  """``config.snn`` with the defaults of :data:`SNN_DEFAULTS` overridden."""
  unknown = sorted(set(overrides) - set(SNN_DEFAULTS))
  if unknown:
    raise ValueError(f'unknown config.snn fields {unknown}.')
  return ml_collections.ConfigDict({**SNN_DEFAULTS, **overrides})


def validate_erbp(config) -> None:
  """The eRBP learner's config checks (before any data is loaded):
  one hidden layer, every field of ``config.snn`` (:data:`SNN_DEFAULTS`),
  nothing reset at task boundaries, and the boundaries given to a
  boundary-consolidated penalty (``ewc_sgd`` online, ``si_sgd``)."""
  hidden = tuple(checks.require(config, 'model.hidden'))
  if len(hidden) != 1:
    raise checks.ConfigError(f'the eRBP learner has one hidden layer; got '
                             f'config.model.hidden={hidden}.')
  if 'snn' not in config:
    raise checks.ConfigError(
        "config.learner='erbp' needs config.snn; set it with "
        'mpl_jax.train.spiking.snn_config(**overrides).')
  snn = dict(config.snn)
  missing = sorted(set(SNN_DEFAULTS) - set(snn))
  unknown = sorted(set(snn) - set(SNN_DEFAULTS))
  if missing or unknown:
    raise checks.ConfigError(
        f'config.snn: missing fields {missing}, unknown fields {unknown}; '
        'build it with spiking.snn_config().')
  for field, known in (('error_mode', erbp.ERROR_MODES),
                       ('batch_reduce', ('mean', 'sum')),
                       ('sampler', coding.SAMPLERS)):
    if snn[field] not in known:
      raise checks.ConfigError(f'config.snn.{field} must be one of {known}, '
                               f'got {snn[field]!r}.')
  p = config.protocol
  opt = config.get('optimizer') or {}
  name = opt.get('name')
  if (name == 'si_sgd' or (name == 'ewc_sgd'
                           and opt.get('mode', 'online') == 'online')) and (
                               not p.task_boundaries):
    raise checks.ConfigError(
        f'config.optimizer.name={name!r} consolidates at task boundaries: '
        'with the eRBP learner set config.protocol.task_boundaries=True '
        '(else its penalty is never switched on).')
  if p.steps_per_task:
    raise checks.ConfigError('the eRBP learner trains whole epochs; set '
                             'config.protocol.steps_per_task=0.')
  if p.reset_optimizer != 'none' or p.per_task_bn:
    raise checks.ConfigError(
        'the eRBP learner never acts at task boundaries: set '
        "config.protocol.reset_optimizer='none' and per_task_bn=False.")
