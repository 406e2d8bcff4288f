"""Biophysical simulations of synapses and memories (not optax rules).

* :mod:`calcium`: the calcium-dependent plasticity model of one synapse
  (Shouval, Bear & Cooper 2002) with a metaplastic NMDA conductance (Yeung
  et al. 2003-2004); :mod:`protocols`: its induction protocols, each a
  vmapped sweep in one compiled program; :mod:`neuron`: an
  integrate-and-fire neuron with ~100 such synapses.
* :mod:`assoc`, :mod:`cascade`, :mod:`recall`, :mod:`recall_sweep`:
  associative recall with correlated synapses (Savin, Dayan & Lengyel 2013);
  :mod:`exact_bayes`: the brute-force Bayes posterior of cascade recall for
  small N, the reference the decoders are compared with.
* :mod:`experiments`: ``run_calcium`` / ``run_assoc`` (configs checked by
  :mod:`validation`, figures by :mod:`plots`), the entry points of
  ``launch.main`` (``config.program = 'calcium'`` / ``'assoc'``).

Layering: imports jax, numpy, matplotlib and absl logging only (no flax, no
optax, no mpl_jax.train).
"""
