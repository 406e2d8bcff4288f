"""Plasticity rules as pure optax transforms (no Flax, no trainer).

The rules live in their modules (``mpl_jax.rules.metaplasticity``, ...), all
imported here so that ``mpl_jax.rules.<module>`` resolves after
``import mpl_jax``; their factories are exported at the top level
(``mpl_jax.scale_by_*`` and the full optimizers). The helpers other layers
need are re-exported here:

* :func:`reseed` gives every random rule of an optimizer state its own key
  (call it after ``jax.vmap(tx.init)`` with one key per seed);
* :func:`cond_any` is a ``lax.cond`` that stays a branch under ``vmap``.
"""

from mpl_jax.rules import baselines
from mpl_jax.rules import beakers
from mpl_jax.rules import benna_fusi
from mpl_jax.rules import bgd
from mpl_jax.rules import engram
from mpl_jax.rules import flexibility
from mpl_jax.rules import mesu
from mpl_jax.rules import metaplasticity
from mpl_jax.rules import mixture
from mpl_jax.rules import multilevel
from mpl_jax.rules import tacos
from mpl_jax.rules._common import cond_any
from mpl_jax.rules._common import reseed

__all__ = (
    'baselines',
    'beakers',
    'benna_fusi',
    'bgd',
    'cond_any',
    'engram',
    'flexibility',
    'mesu',
    'metaplasticity',
    'mixture',
    'multilevel',
    'reseed',
    'tacos',
)
