r"""Associative recall with correlated synapses (Savin, Dayan & Lengyel 2013).

  python -m launch.main --config=configs/assoc_recall.py --workdir=runs/assoc

Binary patterns (N = 200 neurons, coding level f = 0.1) are stored with an
additive rule (``hebb``, ``covariance``, ``hetero``, ``homo``: the 2x2
tables of ``mpl_jax.neuro.assoc``) or in cascade synapses (binary, 5 depth
levels per efficacy, x = 1/2, events from the ``hetero`` table's signs;
``mpl_jax.neuro.cascade``). The oldest pattern is recalled from a cue with
each bit flipped (1->0 with r = 0.1, 0->1 with r f / (1 - f), keeping the
coding level) by asynchronous Gibbs sampling (20 sweeps, posterior mean of
the last 15, thresholded at 0.5) under three decoders: independent-synapse
(``naive``), correlation-aware (``corr``: the per-neuron background term
integrated out; for the cascade, the postsynaptic neuron's later activity
count), and an ``oracle`` that knows those per-neuron terms. Trials and
numbers of stored patterns M are vmapped (one program for the four additive
rules, one for the cascade). ``exact``: a tiny network (N = 10, f = 0.2)
where each decoder's posterior is also computed exactly by enumerating the
2^10 states, to check the dynamics against it.

The decoders' equations are this library's reconstruction [U] (SPEC-more
§5: no public code). Outputs: ``recall.png``, ``recall_exact.png``,
``results.npz``, ``summary.json``.

Expected (the paper's qualitative claim): the decoders agree for the
covariance rule (no shared terms); for the non-centred rules the
independent decoder degrades catastrophically (worse than the cue) as M
grows while the correlation-aware one stays close to the oracle.

Measured (2-core shared CPU, jax 0.10.2): see MEASURED below.
"""

import ml_collections

MEASURED = """(filled in after the run)"""


def get_config() -> ml_collections.ConfigDict:
  """Recall error vs stored patterns for each rule x decoder."""
  c = ml_collections.ConfigDict()
  c.program = 'assoc'
  c.name = 'assoc_recall'
  c.seed = 0
  c.n = 200
  c.f = 0.1
  c.ms = (2, 5, 10, 20, 40, 60, 80, 100, 130, 160)
  c.trials = 16
  # kind: 'balanced' (p10 = r, p01 = r f / (1 - f)) or 'symmetric'.
  c.cue = ml_collections.ConfigDict(dict(r=0.1, kind='balanced'))
  c.rules = ('hebb', 'covariance', 'hetero', 'homo', 'cascade')
  c.decoders = ('naive', 'corr', 'oracle')
  c.dynamics = ml_collections.ConfigDict(dict(mode='gibbs', sweeps=20,
                                              burn=5))
  c.cascade = ml_collections.ConfigDict(dict(depth=5, x=0.5, num_bins=32,
                                             rule='hetero'))
  c.exact = ml_collections.ConfigDict(dict(
      enabled=True, n=10, f=0.2, ms=(2, 3, 4, 6, 8, 12, 16), trials=64))
  c.plot = True
  return c
