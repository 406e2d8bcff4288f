"""Named optimizers for configs: ``config.optimizer.name`` -> an optax factory.

Every other field of ``config.optimizer`` is passed to the factory as a
keyword argument; unknown fields are an error before anything is compiled.
A hyperparameter listed in ``config.sweep.name`` is injected with
``optax.inject_hyperparams`` so that each vmapped run can carry its own value.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import jax.numpy as jnp
import optax

from mpl_jax.rules import baselines
from mpl_jax.rules import benna_fusi
from mpl_jax.rules import bgd
from mpl_jax.rules import engram
from mpl_jax.rules import flexibility
from mpl_jax.rules import mesu as mesu_lib
from mpl_jax.rules import metaplasticity
from mpl_jax.rules import multilevel
from mpl_jax.rules import tacos as tacos_lib


def _adam(learning_rate, *, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
  """Plain Adam with coupled L2 decay (metaplastic_adam without the gate)."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
                     optax.scale_by_learning_rate(learning_rate))


def _sgd(learning_rate, *, momentum=0.0, weight_decay=0.0):
  """SGD (optionally with momentum) and coupled L2 decay."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.sgd(learning_rate, momentum=momentum or None))


def _engram_metaplastic_adam(learning_rate, meta=1.35, *, p=0.5, key=0,
                             granularity='synapse', resample='task',
                             sampler='threefry', weight_decay=0.0, b1=0.9,
                             b2=0.999, eps=1e-8):
  """engram_metaplastic_adam with config defaults (key reseeded per run)."""
  return engram.engram_metaplastic_adam(
      learning_rate, meta, key=key, p=p, granularity=granularity,
      resample=resample, sampler=sampler, weight_decay=weight_decay, b1=b1,
      b2=b2, eps=eps)


def _flexible_sgd(learning_rate, *, strength, key=0, distribution='uniform',
                  tiers=None, refresh='task'):
  """flexible_sgd with config defaults (key reseeded per run).

  ``tiers`` in a config is a flat tuple ``(f1, p1, f2, p2, ...)``; when given
  it replaces ``distribution``.
  """
  if tiers:
    tiers = tuple(zip(tiers[0::2], tiers[1::2]))
    distribution = None
  if isinstance(distribution, (list, tuple)):
    distribution = tuple(distribution)
  return flexibility.flexible_sgd(
      learning_rate, key=key, tiers=tiers or None, distribution=distribution,
      strength=strength, refresh=refresh)


def _ewc_sgd(learning_rate, *, importance, decay=1.0, mode='online'):
  """EWC penalty gradient added to the loss gradient, then SGD."""
  return optax.chain(
      baselines.add_ewc_penalty(importance, decay=decay, mode=mode),
      optax.sgd(learning_rate))


def _si_sgd(learning_rate, *, c, xi=0.1, damping=None, nonnegative=False):
  """Synaptic Intelligence penalty gradient, then SGD."""
  return optax.chain(
      baselines.add_synaptic_intelligence(c, xi=xi, damping=damping,
                                          nonnegative=nonnegative),
      optax.sgd(learning_rate))


def _bgd(*, eta=1.0, clamp_grad=None):
  """Bayesian gradient descent (FOO-VB diagonal) over {'mu','sigma'} leaves."""
  return bgd.scale_by_bgd(eta=eta, clamp_grad=clamp_grad)


def _tacos(learning_rate=1.0, *, mechanisms=-1.0, metaplasticity=1.0,
           consolidation=1.0, heterosynaptic=1.0, neuromodulation=1.0,
           meta_rate=2.0, tau_c=2000.0, tau_r=10000.0, hetero_rate=1e-4,
           neuromod_gain=2.0, meta_form='exp'):
  """The TACOS synapse; ``mechanisms >= 0`` packs the four switches in one
  number (bit 0 metaplasticity, 1 consolidation, 2 heterosynaptic, 3
  neuromodulation: 15 all on, 0 plain eRBP) so that one sweep over it runs
  the whole ablation in one program; ``-1`` uses the named switches."""
  packed = lambda bit, switch: jnp.where(
      jnp.asarray(mechanisms) >= 0,
      jnp.floor(jnp.asarray(mechanisms) / 2 ** bit) % 2, switch)
  return tacos_lib.tacos(
      learning_rate, metaplasticity=packed(0, metaplasticity),
      consolidation=packed(1, consolidation),
      heterosynaptic=packed(2, heterosynaptic),
      neuromodulation=packed(3, neuromodulation), meta_rate=meta_rate,
      tau_c=tau_c, tau_r=tau_r, hetero_rate=hetero_rate,
      neuromod_gain=neuromod_gain, meta_form=meta_form)


OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    'metaplastic_adam': metaplasticity.metaplastic_adam,
    'adam': _adam,
    'sgd': _sgd,
    'engram_metaplastic_adam': _engram_metaplastic_adam,
    'flexible_sgd': _flexible_sgd,
    'mesu': mesu_lib.mesu,
    'bgd': _bgd,
    'ewc_sgd': _ewc_sgd,
    'si_sgd': _si_sgd,
    'multilevel_metaplastic_adam': multilevel.multilevel_metaplastic_adam,
    'benna_fusi_sgd': benna_fusi.benna_fusi_sgd,
    'benna_fusi_adam': benna_fusi.benna_fusi_adam,
    'beaker_metaplastic_adam': benna_fusi.beaker_metaplastic_adam,
    'tacos': _tacos,
}


def register_optimizer(name: str, factory: Callable[..., Any]) -> None:
  """Makes ``factory`` available as ``config.optimizer.name = name``."""
  OPTIMIZERS[name] = factory


def _factory(name: str):
  try:
    return OPTIMIZERS[name]
  except KeyError:
    raise ValueError(
        f'unknown optimizer {name!r}; known: {sorted(OPTIMIZERS)}.') from None


def optimizer_kwargs(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
  """Splits an optimizer config into its name and checked keyword args."""
  cfg = dict(cfg)
  if 'name' not in cfg:
    raise ValueError('config.optimizer needs a `name`.')
  name = cfg.pop('name')
  factory = _factory(name)
  params = inspect.signature(factory).parameters
  unknown = sorted(set(cfg) - set(params))
  if unknown:
    raise ValueError(
        f'optimizer {name!r} does not take {unknown}; it takes '
        f'{sorted(params)}.')
  missing = sorted(k for k, p in params.items()
                   if p.default is inspect.Parameter.empty and k not in cfg)
  if missing:
    raise ValueError(f'optimizer {name!r} needs {missing} in config.')
  return name, {k: (tuple(v) if isinstance(v, list) else v)
                for k, v in cfg.items()}


def build_optimizer(cfg: Mapping[str, Any], *, inject: tuple[str, ...] = ()
                    ) -> optax.GradientTransformationExtraArgs:
  """Builds the optimizer named by ``cfg['name']``.

  Args:
    cfg: ``config.optimizer`` (a mapping with ``name`` and keyword args).
    inject: hyperparameter names to wrap with ``optax.inject_hyperparams``
      (so that their values live in the optimizer state and can differ per
      vmapped run).

  Returns:
    An optax transformation accepting extra args (``task_id``).
  """
  name, kwargs = optimizer_kwargs(cfg)
  factory = _factory(name)
  for h in inject:
    if h not in kwargs:
      raise ValueError(f'cannot sweep {h!r}: optimizer {name!r} has no such '
                       f'configured argument ({sorted(kwargs)}).')
    if not isinstance(kwargs[h], (int, float)):
      raise ValueError(f'cannot sweep {h!r}: only scalar hyperparameters can '
                       f'be injected, got {kwargs[h]!r}.')
  if inject:
    static = tuple(k for k in kwargs if k not in inject)
    return optax.inject_hyperparams(factory, static_args=static)(**kwargs)
  return optax.with_extra_args_support(factory(**kwargs))
