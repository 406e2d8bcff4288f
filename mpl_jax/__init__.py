"""mpl_jax: metaplasticity-based continual learning in JAX.

Layers, each importing only those above it:
  rules  (pure optax transforms)  ->  models (Flax NNX)  ->  data (task streams)
  ->  train (trainer, metrics, outputs)  ->  launch (absl entry points).
"""

from mpl_jax.rules import reseed
from mpl_jax.rules.baselines import add_ewc_penalty
from mpl_jax.rules.baselines import add_synaptic_intelligence
from mpl_jax.rules.baselines import AddEwcPenaltyState
from mpl_jax.rules.baselines import AddSynapticIntelligenceState
from mpl_jax.rules.bgd import scale_by_bgd
from mpl_jax.rules.engram import engram_metaplastic_adam
from mpl_jax.rules.engram import EngramGateState
from mpl_jax.rules.engram import stochastic_engram_gate
from mpl_jax.rules.flexibility import flexibility_factor
from mpl_jax.rules.flexibility import flexibility_tiers
from mpl_jax.rules.flexibility import FlexibilityTiersState
from mpl_jax.rules.flexibility import flexible_sgd
from mpl_jax.rules.flexibility import tier_fractions
from mpl_jax.rules.mesu import gaussian_labels
from mpl_jax.rules.mesu import is_gaussian_param
from mpl_jax.rules.mesu import mesu
from mpl_jax.rules.mesu import scale_by_mesu
from mpl_jax.rules.mesu import ScaleByMesuState
from mpl_jax.rules.metaplasticity import metaplastic_adam
from mpl_jax.rules.metaplasticity import metaplastic_factor
from mpl_jax.rules.metaplasticity import scale_by_adam_pytorch
from mpl_jax.rules.metaplasticity import scale_by_metaplasticity
from mpl_jax.rules.metaplasticity import ScaleByAdamPytorchState

__version__ = '0.1.0'

__all__ = (
    'add_ewc_penalty',
    'add_synaptic_intelligence',
    'AddEwcPenaltyState',
    'AddSynapticIntelligenceState',
    'gaussian_labels',
    'is_gaussian_param',
    'mesu',
    'scale_by_bgd',
    'scale_by_mesu',
    'ScaleByMesuState',
    'engram_metaplastic_adam',
    'EngramGateState',
    'flexibility_factor',
    'flexibility_tiers',
    'FlexibilityTiersState',
    'flexible_sgd',
    'tier_fractions',
    'stochastic_engram_gate',
    'metaplastic_adam',
    'metaplastic_factor',
    'reseed',
    'scale_by_adam_pytorch',
    'scale_by_metaplasticity',
    'ScaleByAdamPytorchState',
)
