"""mpl_jax: metaplasticity-based continual learning in JAX.

Layers, each importing only those above it:
  rules  (pure optax transforms)  ->  models (Flax NNX)  ->  data (task streams)
  ->  train (trainer, metrics, outputs)  ->  launch (absl entry points).

The top level exports, as optax does, the pure transforms (``scale_by_*``),
their states (``ScaleBy*State``), the full optimizers built on them
(``metaplastic_adam``, ``tacos``, ``bgd``, ...), the combinator ``mixture``
and ``reseed``. Maths helpers stay in their modules
(``mpl_jax.rules.metaplasticity.metaplastic_factor``, ...). Renamed names
(after 0.1.0) still work for one release and warn (docs/MIGRATION.md).
"""

import importlib as _importlib
import warnings as _warnings

from mpl_jax.rules import reseed
from mpl_jax.rules.baselines import add_ewc_penalty
from mpl_jax.rules.baselines import add_synaptic_intelligence
from mpl_jax.rules.baselines import AddEwcPenaltyState
from mpl_jax.rules.baselines import AddSynapticIntelligenceState
from mpl_jax.rules.baselines import ewc_sgd
from mpl_jax.rules.baselines import si_sgd
from mpl_jax.rules.beakers import beaker_metaplastic_adam
from mpl_jax.rules.beakers import scale_by_beaker_metaplasticity
from mpl_jax.rules.beakers import ScaleByBeakerMetaplasticityState
from mpl_jax.rules.benna_fusi import benna_fusi_adam
from mpl_jax.rules.benna_fusi import benna_fusi_sgd
from mpl_jax.rules.benna_fusi import scale_by_benna_fusi
from mpl_jax.rules.benna_fusi import ScaleByBennaFusiState
from mpl_jax.rules.bgd import bgd
from mpl_jax.rules.bgd import scale_by_bgd
from mpl_jax.rules.engram import engram_metaplastic_adam
from mpl_jax.rules.engram import scale_by_engram_gate
from mpl_jax.rules.engram import ScaleByEngramGateState
from mpl_jax.rules.flexibility import flexible_sgd
from mpl_jax.rules.flexibility import scale_by_flexibility
from mpl_jax.rules.flexibility import ScaleByFlexibilityState
from mpl_jax.rules.mesu import mesu
from mpl_jax.rules.mesu import scale_by_mesu
from mpl_jax.rules.mesu import ScaleByMesuState
from mpl_jax.rules.metaplasticity import metaplastic_adam
from mpl_jax.rules.metaplasticity import scale_by_adam_pytorch
from mpl_jax.rules.metaplasticity import scale_by_metaplasticity
from mpl_jax.rules.metaplasticity import ScaleByAdamPytorchState
from mpl_jax.rules.mixture import mixture
from mpl_jax.rules.mixture import MixtureState
from mpl_jax.rules.multilevel import multilevel_metaplastic_adam
from mpl_jax.rules.multilevel import scale_by_multilevel_metaplasticity
from mpl_jax.rules.tacos import scale_by_tacos
from mpl_jax.rules.tacos import ScaleByTacosState
from mpl_jax.rules.tacos import tacos

__version__ = '0.1.0'

__all__ = (
    # metaplasticity (Laborieux et al.)
    'metaplastic_adam',
    'scale_by_adam_pytorch',
    'scale_by_metaplasticity',
    'ScaleByAdamPytorchState',
    # stochastic engram gate
    'engram_metaplastic_adam',
    'scale_by_engram_gate',
    'ScaleByEngramGateState',
    # per-synapse flexibility
    'flexible_sgd',
    'scale_by_flexibility',
    'ScaleByFlexibilityState',
    # Bayesian rules
    'bgd',
    'mesu',
    'scale_by_bgd',
    'scale_by_mesu',
    'ScaleByMesuState',
    # baselines
    'add_ewc_penalty',
    'add_synaptic_intelligence',
    'AddEwcPenaltyState',
    'AddSynapticIntelligenceState',
    'ewc_sgd',
    'si_sgd',
    # multi-level, complex synapses, TACOS
    'multilevel_metaplastic_adam',
    'scale_by_multilevel_metaplasticity',
    'benna_fusi_adam',
    'benna_fusi_sgd',
    'scale_by_benna_fusi',
    'ScaleByBennaFusiState',
    'beaker_metaplastic_adam',
    'scale_by_beaker_metaplasticity',
    'ScaleByBeakerMetaplasticityState',
    'scale_by_tacos',
    'ScaleByTacosState',
    'tacos',
    # combinators and helpers
    'mixture',
    'MixtureState',
    'reseed',
)

# Old top-level name -> (module, name there), one release; they warn.
_DEPRECATED = {
    'stochastic_engram_gate': ('engram', 'scale_by_engram_gate'),
    'EngramGateState': ('engram', 'ScaleByEngramGateState'),
    'flexibility_tiers': ('flexibility', 'scale_by_flexibility'),
    'FlexibilityTiersState': ('flexibility', 'ScaleByFlexibilityState'),
    'BennaFusiState': ('benna_fusi', 'ScaleByBennaFusiState'),
    'BeakerMetaplasticityState': ('beakers',
                                  'ScaleByBeakerMetaplasticityState'),
    'metaplastic_factor': ('metaplasticity', 'metaplastic_factor'),
    'flexibility_factor': ('flexibility', 'flexibility_factor'),
    'tier_fractions': ('flexibility', 'tier_fractions'),
    'gaussian_labels': ('mesu', 'gaussian_labels'),
    'is_gaussian_param': ('mesu', 'is_gaussian_param'),
    'memory_footprint': ('multilevel', 'memory_footprint'),
    'MemoryFootprint': ('multilevel', 'MemoryFootprint'),
    'nearest_level': ('multilevel', 'nearest_level'),
    'uniform_levels': ('multilevel', 'uniform_levels'),
}


def __getattr__(name):
  if name in _DEPRECATED:
    module, new = _DEPRECATED[name]
    where = f'mpl_jax.rules.{module}.{new}'
    _warnings.warn(
        f'mpl_jax.{name} is deprecated and will be removed in the next '
        f'release; use {where} (docs/MIGRATION.md).', DeprecationWarning,
        stacklevel=2)
    return getattr(_importlib.import_module(f'mpl_jax.rules.{module}'), new)
  raise AttributeError(f"module 'mpl_jax' has no attribute {name!r}")


def __dir__():
  return sorted(__all__ + ('__version__',))
