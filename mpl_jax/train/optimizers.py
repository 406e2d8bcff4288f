"""Named optimizers for configs: ``config.optimizer.name`` -> an optax factory.

Every other field of ``config.optimizer`` is passed to the factory as a
keyword argument; unknown fields are an error before anything is compiled.
A hyperparameter listed in ``config.sweep.name`` is injected with
``optax.inject_hyperparams`` so that each vmapped run can carry its own value.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

import optax

from mpl_jax.rules import baselines
from mpl_jax.rules import beakers
from mpl_jax.rules import benna_fusi
from mpl_jax.rules import bgd
from mpl_jax.rules import engram
from mpl_jax.rules import flexibility
from mpl_jax.rules import mesu
from mpl_jax.rules import metaplasticity
from mpl_jax.rules import multilevel
from mpl_jax.rules import tacos


def _adam(learning_rate, *, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
  """Plain Adam with coupled L2 decay (metaplastic_adam without the gate)."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
                     optax.scale_by_learning_rate(learning_rate))


def _sgd(learning_rate, *, momentum=0.0, weight_decay=0.0):
  """SGD (optionally with momentum) and coupled L2 decay."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.sgd(learning_rate, momentum=momentum or None))


# Config name -> public factory. The two plain baselines are optax one-liners
# (above); engram's config defaults (a seed, p = 0.5, meta = 1.35, one engram
# per task) are bound here, the library's own defaults staying those of the
# paper's per-step gate.
OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    'metaplastic_adam': metaplasticity.metaplastic_adam,
    'adam': _adam,
    'sgd': _sgd,
    'engram_metaplastic_adam': functools.partial(
        engram.engram_metaplastic_adam, meta=1.35, key=0, p=0.5,
        resample='task'),
    'flexible_sgd': flexibility.flexible_sgd,
    'mesu': mesu.mesu,
    'bgd': bgd.bgd,
    'ewc_sgd': baselines.ewc_sgd,
    'si_sgd': baselines.si_sgd,
    'multilevel_metaplastic_adam': multilevel.multilevel_metaplastic_adam,
    'benna_fusi_sgd': benna_fusi.benna_fusi_sgd,
    'benna_fusi_adam': benna_fusi.benna_fusi_adam,
    'beaker_metaplastic_adam': beakers.beaker_metaplastic_adam,
    'tacos': tacos.tacos,
}


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
