"""Flax NNX models. Call signature: ``model(x, *, train=False, rng=None)``."""
