"""Plasticity rules as pure optax transforms (no Flax, no trainer)."""
