"""mpl_jax: metaplasticity-based continual learning in JAX.

Layers, each importing only those above it:
  rules  (pure optax transforms)  ->  models (Flax NNX)  ->  data (task streams)
  ->  train (trainer, metrics, outputs)  ->  launch (absl entry points).
"""

from mpl_jax.rules._common import reseed
from mpl_jax.rules.metaplasticity import metaplastic_adam
from mpl_jax.rules.metaplasticity import metaplastic_factor
from mpl_jax.rules.metaplasticity import scale_by_adam_pytorch
from mpl_jax.rules.metaplasticity import scale_by_metaplasticity
from mpl_jax.rules.metaplasticity import ScaleByAdamPytorchState

__version__ = '0.1.0'

__all__ = (
    'metaplastic_adam',
    'metaplastic_factor',
    'reseed',
    'scale_by_adam_pytorch',
    'scale_by_metaplasticity',
    'ScaleByAdamPytorchState',
)
