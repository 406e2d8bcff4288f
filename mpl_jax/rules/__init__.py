"""Plasticity rules as pure optax transforms (no Flax, no trainer).

The rules live in their modules (``mpl_jax.rules.metaplasticity``, ...); the
helpers other layers need are re-exported here:

* :func:`reseed` gives every random rule of an optimizer state its own key
  (call it after ``jax.vmap(tx.init)`` with one key per seed);
* :func:`cond_any` is a ``lax.cond`` that stays a branch under ``vmap``.
"""

from mpl_jax.rules._common import cond_any
from mpl_jax.rules._common import reseed

__all__ = (
    'cond_any',
    'reseed',
)
