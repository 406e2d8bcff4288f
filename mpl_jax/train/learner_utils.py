"""Helpers every learner shares: inputs, the swept value, eval batching.

A learner (:class:`mpl_jax.train.interfaces.Learner`) reads its inputs with
:func:`inputs`, builds its optimizer with :func:`build_tx` and puts its run's
swept value into the optimizer state with :func:`inject_sweep`, and
evaluates in batches with :func:`over_eval_batches`, so that the gradient
learner (:mod:`mpl_jax.train.learner`) and the eRBP learner
(:mod:`mpl_jax.train.spiking`) read a config the same way.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from mpl_jax.rules import mixture as mixture_lib
from mpl_jax.train import optimizers
from mpl_jax.train import registry


class Preprocess(NamedTuple):
  """``x = (pixels * scale - mean) / std`` (part of the config)."""
  scale: float
  mean: float
  std: float

  @classmethod
  def from_config(cls, config) -> 'Preprocess':
    d = config.data
    return cls(float(d.scale), float(d.mean), float(d.std))


def inputs(preprocess: Preprocess, images: jax.Array, idx: jax.Array,
           perm: jax.Array) -> jax.Array:
  """The float inputs ``[B, D]`` of examples ``idx``, pixels permuted."""
  scale, mean, std = preprocess
  x = images[idx].astype(jnp.float32)
  x = (x * scale - mean) / std
  return x[:, perm]


def build_tx(config, sweep_name: Optional[str]):
  """The optimizer of ``config.optimizer``; with a sweep, the swept
  hyperparameter injected (``optax.inject_hyperparams``) or, for a stream
  with optimizer variants (non-numeric sweep values), one optimizer per
  variant combined by :func:`mpl_jax.rules.mixture.mixture`."""
  if not sweep_name:
    return optimizers.build_optimizer(config.optimizer)
  variants = registry.STREAMS.get(config.data.stream).optimizer_variants
  if variants is not None:
    return mixture_lib.mixture([optimizers.build_optimizer(v)
                                for v in variants(config)])
  return optimizers.build_optimizer(config.optimizer, inject=(sweep_name,))


def inject_sweep(opt_state: Any, sweep: Optional[str], value: Any) -> Any:
  """The run's swept value in a fresh optimizer state: the variant index of
  a mixture, or the injected hyperparameter ``sweep`` (no sweep: as is)."""
  if isinstance(opt_state, mixture_lib.MixtureState):
    return opt_state._replace(index=jnp.asarray(value, jnp.int32))
  if sweep is None:
    return opt_state
  hp = dict(opt_state.hyperparams)
  hp[sweep] = jnp.asarray(value, hp[sweep].dtype)
  return opt_state._replace(hyperparams=hp)


def over_eval_batches(fn: Callable[[jax.Array, jax.Array], Any], m: int,
                      key: jax.Array, eval_batch_size: int) -> list[Any]:
  """``fn(indices, key)`` over ``m`` examples in batches of
  ``eval_batch_size`` (``lax.map``), plus one remainder batch; returns the
  list of stacked results (full batches, then the remainder if any)."""
  eb = min(eval_batch_size, m)
  nb = m // eb
  keys = jax.random.split(key, nb + 1)
  full = jnp.arange(nb * eb).reshape(nb, eb)
  out = [jax.lax.map(lambda a: fn(*a), (full, keys[:nb]))]
  if m > nb * eb:
    out.append(fn(jnp.arange(nb * eb, m), keys[nb]))
  return out
