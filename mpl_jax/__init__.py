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
from mpl_jax.rules.benna_fusi import beaker_metaplastic_adam
from mpl_jax.rules.benna_fusi import BeakerMetaplasticityState
from mpl_jax.rules.benna_fusi import benna_fusi_adam
from mpl_jax.rules.benna_fusi import benna_fusi_sgd
from mpl_jax.rules.benna_fusi import BennaFusiState
from mpl_jax.rules.benna_fusi import scale_by_beaker_metaplasticity
from mpl_jax.rules.benna_fusi import scale_by_benna_fusi
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
from mpl_jax.rules.multilevel import memory_footprint
from mpl_jax.rules.multilevel import MemoryFootprint
from mpl_jax.rules.multilevel import multilevel_metaplastic_adam
from mpl_jax.rules.multilevel import nearest_level
from mpl_jax.rules.multilevel import scale_by_multilevel_metaplasticity
from mpl_jax.rules.multilevel import uniform_levels

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
    'beaker_metaplastic_adam',
    'BeakerMetaplasticityState',
    'benna_fusi_adam',
    'benna_fusi_sgd',
    'BennaFusiState',
    'memory_footprint',
    'MemoryFootprint',
    'multilevel_metaplastic_adam',
    'nearest_level',
    'scale_by_beaker_metaplasticity',
    'scale_by_benna_fusi',
    'scale_by_multilevel_metaplasticity',
    'uniform_levels',
)
