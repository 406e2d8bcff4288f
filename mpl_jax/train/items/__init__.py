"""Item-by-item learning with per-synapse flexibility (Lee et al., SPEC §3).

The protocol of :mod:`mpl_jax.data.items` (sequential item sessions, Hebb
repetition, data poisoning) runs in the continual-learning trainer like any
other: ``config.data.stream='items'`` makes each session a task
(:func:`mpl_jax.data.items.items_stream`), the runs are ``num_seeds`` seeds
times the flexibility *mixes* (``config.sweep.name='mix'``, one optimizer
variant per mix combined by :func:`mpl_jax.rules.mixture.mixture`), and the
memorisation test is the evaluator ``config.evals.items``
(:class:`ItemsEvaluator`). This module holds what is particular to the
protocol, in one plugin package: the stream and the mixes
(:mod:`.stream`), the evaluator (:mod:`.evaluator`), its measurements
(:mod:`.metrics`), its plot (:mod:`.plot`) and its config checks
(:mod:`.validation`); :data:`STREAM` and :data:`EVALUATOR` are the plugins
:mod:`mpl_jax.train.registry` names.

**Network.** ``model.name='mlp'`` with ``use_bn=False``,
``kernel_init='glorot_normal'``: a plain ReLU MLP on raw pixels without
BatchNorm (``input -> hidden... -> num_items``), Glorot-normal weights and zero
biases as in the reference; every weight matrix is gated, biases (if any) are
not. The reference instead trains a 4096-4096-C read-out on frozen pretrained
AlexNet conv features of 56x56 two-digit MNIST, unavailable offline here (see
:mod:`mpl_jax.data.items`). ``config.model.use_bias`` (the shipped config sets
False) drops the biases: on raw pixels an ungated output bias moves by up to
``lr * steps / 2`` per session and pulls every prediction toward the current
session's label whatever the gated weights hold, whereas in the reference
(lr 1e-4, large features) bias steps are negligible and all learning is in
gated weights (measured numbers in ``configs/items_flexibility.py``).

**Optimizer.** :func:`mpl_jax.rules.flexibility.flexible_sgd` (plain SGD on
``alpha * g``), with the session index as ``task_id``, so ``alpha`` is
refreshed at the start of every session (``refresh='task'``, as the
reference). The mixes run in one program through
:func:`mpl_jax.rules.mixture.mixture`, which computes every mix's update and
keeps each run's own. Mixes (``config.sweep.values``):

* ``'hybrid'``: ``f ~ U(0, 1]`` (``distribution='uniform'``);
* ``'conventional'``: all ``f = 1`` (plain SGD);
* ``'stable'``: all ``f = config.sessions.stable_flexibility`` (0.3);
* ``'increasing'`` / ``'decreasing'``: the biased mixes with CDF
  ``(1 - a) x^2 + a x`` and its mirror, ``a = config.sessions.bias``;
* ``'tiers'``: the discrete tiers ``config.sessions.tiers`` (``(f, proportion)``
  pairs); ``'constant:<f>'`` any constant;
* any name may end in ``@<s>`` to give that mix its own strength (e.g.
  ``'hybrid@300'``), so a calibration sweep of ``s`` is one program.

**Memorisation test.** After every session the whole test set of the run's
items (``M`` images) is classified. Item ``i`` is *memorised* when the
fraction of its test images classified as ``i`` beats a label-shuffle null at
``p < p_threshold`` (0.05): with ``N`` shuffles of the test labels across the
whole test set (drawn from the seed once and reused at every evaluation), the
null value of shuffle ``k`` is the fraction of the images *labelled* ``i``
after shuffling that are classified as ``i``, and
``p = (1 + #{k : null_k >= observed}) / (1 + N)``. The same test, with the
target class ``fake_class[i]`` instead of ``i``, says whether a poisoned item's
fake label was *adopted*.

Outputs: the trainer's (``config.json``, ``stream.npz`` with every draw of
every seed, ``metrics.jsonl`` with one line per run and session holding the
evaluator's per-item values, ``accuracy.npy`` of sessions x sessions,
checkpoints: a killed run resumes), ``summary.json`` (per mix, the metrics
below as mean and std over seeds, under ``items``) and ``items.png``. Metrics in ``summary.json`` (counts of items, per run then mean
and std over seeds):

* ``memorised_init``: before training (false positives of the test);
* ``memorised_sequential``: after the sequential pass;
* ``memorised_after_pass``: after each pass of the repetition phase (pass 0 is
  the sequential one); ``memorised_repetition``: after the last one;
  ``repeated_memorised_repetition``: the same among the repeated items;
* after the poisoning phase: ``repeated_kept`` (repeated items still
  memorised, true label; ``unrepeated_kept`` the others, when only a subset
  is repeated), ``memorised_after_poisoning`` (all items),
  ``poisoned_kept`` (poisoned items still memorised; ``unpoisoned_kept`` the
  others);
* ``poisoned_rejected``: poisoned items whose fake label was *not adopted* by
  the end of the item's own poisoning session, i.e. the fraction of the
  item's test images classified as ``fake_class[i]`` did not beat the
  label-shuffle null (``p >= p_threshold``) when the poison was freshest;
  ``poisoned_rejected_end``: the same at the end of the poisoning phase.
  Rejection alone can also come from forgetting (a network that learns
  nothing adopts nothing): read it with ``poisoned_kept``;
  ``poisoned_kept_and_rejected``: poisoned items still memorised (true label)
  and not adopting the fake label at the end of their own poisoning session;
  ``poisoned_kept_and_rejected_end``: both at the end of the phase.

References:
  Lee, Paik, Baek, Cho, "Neuromimetic metaplasticity for adaptive continual
  learning", arXiv:2407.07133, 2024 (Neural Networks 190, 2025).
"""

from __future__ import annotations

from mpl_jax.train import interfaces
from mpl_jax.train.items.evaluator import ItemsEvaluator
from mpl_jax.train.items.metrics import item_protocol_metrics
from mpl_jax.train.items.metrics import mean_std_values
from mpl_jax.train.items.metrics import shuffle_test
from mpl_jax.train.items.plot import plot_items
from mpl_jax.train.items.stream import build_stream
from mpl_jax.train.items.stream import mix_kwargs
from mpl_jax.train.items.stream import NAMED_MIXES
from mpl_jax.train.items.stream import optimizer_variants
from mpl_jax.train.items.stream import split_mix_name
from mpl_jax.train.items.validation import ITEM_SOURCES
from mpl_jax.train.items.validation import validate_evaluator
from mpl_jax.train.items.validation import validate_items_config

__all__ = ['EVALUATOR', 'ITEM_SOURCES', 'ItemsEvaluator', 'NAMED_MIXES',
           'STREAM', 'build_stream', 'item_protocol_metrics',
           'mean_std_values', 'mix_kwargs', 'optimizer_variants',
           'plot_items', 'shuffle_test', 'split_mix_name',
           'validate_evaluator', 'validate_items_config']

# The plugins (named in mpl_jax.train.registry).
# A session trains one item (a repetition or poisoning session too, the
# latter on a fake label): its training accuracy starts near 0 on an item
# the network has not learnt and says nothing about divergence (issue 22:
# 83 false "below chance" warnings in 100 sessions), so no session counts as
# at chance; a loss that grows past protocol.divergence_factor still does.
STREAM = interfaces.StreamPlugin(build=build_stream,
                                 validate=validate_items_config,
                                 optimizer_variants=optimizer_variants,
                                 chance=lambda stream, t: None)
EVALUATOR = interfaces.EvaluatorPlugin(
    build=ItemsEvaluator, validate=validate_evaluator, needs=('predict',))
