"""Named models for configs: ``config.model.name`` -> an NNX constructor
(a new model is one line in :data:`MODELS`)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

from flax import nnx

from mpl_jax.models import bayesian
from mpl_jax.models import binary
from mpl_jax.models import quantized
from mpl_jax.snn import spiking_mlp

MODELS: dict[str, Callable[..., nnx.Module]] = {
    'binary_mlp': binary.BinaryMLP,
    'mlp': binary.MLP,
    'bayesian_mlp': bayesian.BayesianMLP,
    'quantized_mlp': quantized.QuantizedMLP,
    'spiking_mlp': spiking_mlp.SpikingMLP,
}


def model_kwargs(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
  """Name and checked constructor kwargs of ``config.model``."""
  cfg = dict(cfg)
  name = cfg.pop('name', None)
  if name not in MODELS:
    raise ValueError(f'unknown model {name!r}; known: {sorted(MODELS)}.')
  cfg.pop('hidden', None)
  params = inspect.signature(MODELS[name].__init__).parameters
  unknown = sorted(set(cfg) - set(params) - {'self', 'sizes', 'rngs'})
  if unknown:
    raise ValueError(f'model {name!r} does not take {unknown}; it takes '
                     f'{sorted(set(params) - {"self", "sizes", "rngs"})}.')
  return name, {k: (tuple(v) if isinstance(v, list) else v)
                for k, v in cfg.items()}


def build_model(cfg: Mapping[str, Any], sizes: Sequence[int],
                rngs: nnx.Rngs) -> nnx.Module:
  """Builds ``config.model`` with layer sizes ``(in, *hidden, out)``."""
  name, kwargs = model_kwargs(cfg)
  return MODELS[name](tuple(sizes), rngs=rngs, **kwargs)
