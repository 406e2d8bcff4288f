"""The eRBP spiking learner: online local learning for the continual trainer.

:func:`make_erbp_learner` builds a learner for ``config.learner = 'erbp'``:
a ``D -> H -> C`` network of LIF neurons (:mod:`mpl_jax.snn`) that sees each
training image as a Poisson spike train for ``T`` steps, produces an eRBP
weight proposal (:func:`mpl_jax.snn.erbp.present`) and hands it to the
plasticity transform named by ``config.optimizer`` (``'tacos'`` for TACOS,
mpl_jax's reconstruction; all its switches off is plain eRBP). Its functions
are pure and written for one run; the trainer maps them over runs and jits
them, like :class:`mpl_jax.train.learner.Learner`:

  init(seed_key, sweep_value) -> state
  start_task(state, seed_key, task, sweep_value) -> state      (identity)
  train_epoch(state, images, idx, labels, perm, class_mask, epoch_key,
              task_id) -> (state, mean error-neuron rate, train accuracy)
  end_task(state, task) -> state                               (identity)
  evaluate(state, images, idx, labels, perm, class_mask, key, bn_task)
      -> accuracy

Learning is online (``config.protocol.batch_size = 1``, the reference):
one sample, one proposal, one update. ``batch_size > 1`` presents that many
samples with the same weights and averages (``batch_reduce='mean'``) or sums
their proposals: an explicit deviation [P], for speed. The task id is
passed to the transform as ``task_id`` (TACOS ignores it) and never read
here; nothing is reset at a task boundary. The neuromodulatory signal
``error_rate`` given to the transform is the running average (window
``error_tau`` samples) of this learner's training misclassifications, the
current sample included.

**EWC and SI penalties in the eRBP learner** (``config.optimizer.name =
'ewc_sgd'`` or ``'si_sgd'`` with ``learning_rate`` = the step multiplier,
1 for plain eRBP's steps; ``config.protocol.task_boundaries = True``, which
:func:`validate_erbp` requires). eRBP has no loss whose gradient could be
penalised: it proposes a local update ``delta`` per synapse (plain eRBP does
``w <- w - delta``). A quadratic penalty ``lambda/2 sum_i F_i (w_i -
w*_i)^2`` is added the only way a local rule can: its pull is added to the
proposal, ``delta' = delta + lambda F (w - w*)``
(:func:`mpl_jax.rules.baselines.add_ewc_penalty`, then
``optax.sgd(learning_rate)``). For EWC, ``F`` is the running mean over the
task of ``delta^2``, consolidated at each given task boundary (``F <-
decay F + F_task``, ``w* <- w``): this is the *defined analogue* of the
diagonal empirical Fisher, which is the mean squared per-sample gradient
of the loss, because ``delta`` is the eRBP learner's stand-in for that
gradient (a per-sample, per-synapse error-times-activity term; with batch
1 its square is per sample, as for the Fisher). For SI
(:func:`mpl_jax.rules.baselines.add_synaptic_intelligence`), the path
integral is ``omega += -delta' (w_t - w_{t-1})``, the update emitted times
the change it made (weight clipping included), and ``Omega += omega /
((w - w*)^2 + xi)`` at each boundary, penalty ``c sum Omega (w -
w*)^2``. Both are the task-boundary baselines of the surrogate-gradient
learner, applied to the eRBP proposal instead of a gradient; with
``lambda = 0`` (``c = 0``) the update is plain eRBP's, bit for bit
(``tests/test_erbp_penalties.py``).

Every constant of the spiking network is a field of ``config.snn`` (see
:data:`SNN_DEFAULTS`): the reference values of the Nu-AI eRBP code
(SPEC-more §2), except the per-layer steps ``step_hidden``/``step_output``,
which replace the reference's one-memristor-level programming step and are
this library's choice.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from mpl_jax.rules import reseed
from mpl_jax.rules import tacos as tacos_lib
from mpl_jax.snn import coding
from mpl_jax.snn import erbp
from mpl_jax.snn import lif
from mpl_jax.train import interfaces
from mpl_jax.train import keys as keys_lib
from mpl_jax.train import learner_utils
# Re-exported: the config's fields and checks live in spiking_config.
from mpl_jax.train.spiking_config import SNN_DEFAULTS  # pylint: disable=unused-import
from mpl_jax.train.spiking_config import snn_config  # pylint: disable=unused-import
from mpl_jax.train.spiking_config import validate_erbp

PyTree = Any

def erbp_params(snn: Mapping[str, Any]) -> erbp.ErbpParams:
  """The network constants of ``config.snn``."""
  s = snn
  common = dict(refractory=float(s['refractory']), floor=float(s['v_floor']),
                dt=float(s['dt']))
  hidden = lif.LIFParams(tau_syn=float(s['tau_syn_hidden']),
                         tau_mem=float(s['tau_mem_hidden']),
                         resistance=float(s['r_hidden']),
                         threshold=float(s['v_th_hidden']), **common)
  output = lif.LIFParams(tau_syn=float(s['tau_syn_output']),
                         tau_mem=float(s['tau_mem_output']),
                         resistance=float(s['r_output']),
                         threshold=float(s['v_th_output']), **common)
  return erbp.ErbpParams(
      hidden=hidden, output=output, tau_err=float(s['tau_err']),
      r_err=float(s['r_err']), threshold_err=float(s['v_th_err']),
      floor_err=float(s['v_floor']), tau_dendrite=float(s['tau_dendrite']),
      r_dendrite=float(s['r_dendrite']),
      dendrite_leak=float(s['dendrite_leak']),
      threshold_hidden=float(s['u_th_hidden']),
      threshold_output=float(s['u_th_output']), i_min=float(s['i_min']),
      i_max=float(s['i_max']), dt=float(s['dt']))


class ErbpState(NamedTuple):
  """One run's state (all arrays).

  Attributes:
    params: ``{'hidden': [D, H], 'output': [H, C]}``.
    feedback: ``B``, ``[H, C]``, fixed random feedback weights.
    opt_state: the plasticity transform's state.
    error_rate: running average of training misclassifications (the
      neuromodulatory signal).
  """
  params: PyTree
  feedback: jax.Array
  opt_state: PyTree
  error_rate: jax.Array


@dataclasses.dataclass(frozen=True)
class ErbpLearner:
  """Pure single-run functions of the eRBP network (see the module doc).

  Attributes:
    sizes: ``(D, H, C)``.
    params: network constants.
    tx: the plasticity transform (called with ``error_rate=`` and
      ``task_id=``).
    snn: the ``config.snn`` values (a plain dict).
    preprocess: ``x = (pixels*scale - mean)/std``, expected in ``[0, 1]``.
    batch_size: samples per update (1: online, the reference).
    eval_batch_size: test images per simulated batch.
    sweep: name of an injected hyperparameter of ``tx`` that differs per run.
  """
  sizes: tuple[int, int, int]
  params: erbp.ErbpParams
  tx: optax.GradientTransformationExtraArgs
  snn: Mapping[str, Any]
  preprocess: learner_utils.Preprocess
  batch_size: int = 1
  eval_batch_size: int = 100
  sweep: Optional[str] = None


  # ---------------------------------------------------------------- state
  def init(self, seed: Any, sweep_value: Any = None) -> ErbpState:
    """Weights ``U(-s, s)`` and feedback ``U(-b, b)`` from ``fold_in(key,
    0)``; the transform's keys from ``fold_in(key, 1)``, with ``key`` the
    run's stream ``'init'`` (:mod:`mpl_jax.train.keys`)."""
    seed_key = keys_lib.stream_key(seed, 'init')
    d, h, c = self.sizes
    k_h, k_o, k_b = jax.random.split(jax.random.fold_in(seed_key, 0), 3)
    s = self.snn
    uniform = lambda k, shape, a: jax.random.uniform(k, shape, jnp.float32,
                                                     -a, a)
    params = {'hidden': uniform(k_h, (d, h), s['init_scale_hidden']),
              'output': uniform(k_o, (h, c), s['init_scale_output'])}
    feedback = uniform(k_b, (h, c), s['feedback_scale'])
    opt_state = reseed(self.tx.init(params),
                       jax.random.fold_in(seed_key, 1))
    opt_state = learner_utils.inject_sweep(opt_state, self.sweep, sweep_value)
    return ErbpState(params, feedback, opt_state,
                     jnp.asarray(s['error_init'], jnp.float32))

  def start_task(self, state: ErbpState, seed: Any, task: Any,
                 sweep_value: Any = None) -> ErbpState:
    """Nothing happens at a task boundary (the learner is task-agnostic)."""
    del seed, task, sweep_value
    return state

  def end_task(self, state: ErbpState, task: Any) -> ErbpState:
    """Nothing happens at a task boundary (the learner is task-agnostic)."""
    del task
    return state

  # ------------------------------------------------------------- compute
  def _inputs(self, images, idx, perm):
    return learner_utils.inputs(self.preprocess, images, idx, perm)

  def _encode(self, key, x):
    s = self.snn
    return coding.poisson_encode(
        key, x, max_rate=s['max_rate'], dt=s['dt'], num_steps=s['num_steps'],
        sampler=s['sampler'])

  def _targets(self, key, labels, num_classes):
    s = self.snn
    p = coding.spike_probability(
        jax.nn.one_hot(labels, num_classes), s['target_rate'], s['dt'])
    return coding.bernoulli_spikes(key, p, s['num_steps'], sampler='threefry')

  def _scaled(self, proposal):
    return {'hidden': self.snn['step_hidden'] * proposal['hidden'],
            'output': self.snn['step_output'] * proposal['output']}

  def _clip(self, params):
    out = {}
    for name, bound in (('hidden', self.snn['w_max_hidden']),
                        ('output', self.snn['w_max_output'])):
      w = params[name]
      out[name] = jnp.clip(w, -bound, bound) if bound > 0 else w
    return out

  def propose(self, state: ErbpState, x, y, key, class_mask):
    """Presents ``x`` (``[B, D]``): the eRBP proposal, no update.

    Returns:
      ``(proposal, wrong, error-neuron rate)``: the per-layer proposal
      ``{'hidden', 'output'}`` in the gradient convention (plain eRBP does
      ``w <- w - proposal``; the step sizes ``step_hidden``/``step_output``
      included), the ``[B]`` misclassifications and the mean error-neuron
      firing rate per step.
    """
    s = self.snn
    c = self.sizes[2]
    in_spikes = self._encode(jax.random.fold_in(key, 0), x)      # [T, B, D]
    targets = self._targets(jax.random.fold_in(key, 1), y, c)   # [T, B, C]
    simulate = lambda i, t: erbp.simulate(
        state.params, state.feedback, i, t, params=self.params,
        error_mode=s['error_mode'])
    bs = x.shape[0]
    if bs == 1:  # a batch of one is never vmapped (slower on CPU)
      out = jax.tree.map(lambda a: a[None],
                         simulate(in_spikes[:, 0], targets[:, 0]))
    else:
      out = jax.vmap(simulate, in_axes=(1, 1))(in_spikes, targets)
    # Sum over the batch's steps of the events: one product per layer.
    flat = lambda a: a.reshape((-1,) + a.shape[2:])
    pre = flat(jnp.swapaxes(in_spikes, 0, 1))
    rows = tuple(r * bs for r in (
        s['proposal_rows'] if isinstance(s['proposal_rows'], (tuple, list))
        else (s['proposal_rows'],)))
    proposal = {
        'hidden': erbp.outer_sum(pre, flat(out.hidden_events), rows=rows),
        'output': erbp.outer_sum(flat(out.hidden_spikes),
                                 flat(out.output_events))}
    if s['batch_reduce'] == 'mean':
      proposal = jax.tree.map(lambda a: a / bs, proposal)
    proposal = self._scaled(proposal)
    wrong = erbp.predict(out.counts, class_mask) != y
    rate = jnp.mean(out.error_spikes) / (s['num_steps'] * 2 * c)
    return proposal, wrong, rate

  def train_step(self, state: ErbpState, x, y, key, task_id, class_mask):
    """Presents ``x`` (``[B, D]``), then one transform update.

    Returns:
      ``(state, error-neuron rate, accuracy)`` of the batch.
    """
    proposal, wrong, rate = self.propose(state, x, y, key, class_mask)
    error_rate = tacos_lib.error_rate_average(
        state.error_rate, wrong.astype(jnp.float32), self.snn['error_tau'])
    updates, opt_state = self.tx.update(
        proposal, state.opt_state, state.params, error_rate=error_rate,
        task_id=task_id)
    params = self._clip(optax.apply_updates(state.params, updates))
    state = ErbpState(params, state.feedback, opt_state, error_rate)
    return state, rate, 1.0 - jnp.mean(wrong)

  def train_epoch(self, state: ErbpState, images, idx, labels, perm,
                  class_mask, epoch_key, task_id):
    """One pass over the task's examples in a random order (``lax.scan``).

    Returns:
      ``(state, mean error-neuron firing rate per step, mean training
      accuracy)``; the rate stands in for a loss. The last incomplete batch
      is dropped.
    """
    bs = self.batch_size
    n = idx.shape[0]
    nb = n // bs
    order = jax.random.permutation(jax.random.fold_in(epoch_key, 0), n)
    order = order[:nb * bs].reshape(nb, bs)
    step_key = jax.random.fold_in(epoch_key, 1)

    def body(st, inp):
      b, i = inp
      x = self._inputs(images, idx[b], perm)
      st, rate, acc = self.train_step(st, x, labels[b],
                                      jax.random.fold_in(step_key, i),
                                      task_id, class_mask)
      return st, (rate, acc)

    state, (rates, accs) = jax.lax.scan(
        body, state, (order, jnp.arange(nb, dtype=jnp.int32)))
    return state, rates.mean(), accs.mean()

  def evaluate(self, state: ErbpState, images, idx, labels, perm,
               class_mask, key, bn_task):
    """Accuracy on the given test examples (read-out by spike counts; a
    sample with no output spike counts as wrong)."""
    del bn_task
    m = idx.shape[0]

    def correct(b_idx, k):
      x = self._inputs(images, idx[b_idx], perm)
      counts = erbp.forward_counts(state.params, self._encode(k, x),
                                   params=self.params)
      return jnp.sum(erbp.predict(counts, class_mask) == labels[b_idx])

    counts = learner_utils.over_eval_batches(correct, m, key,
                                             self.eval_batch_size)
    return sum(c.sum() for c in counts) / m


def make_erbp_learner(config: ml_collections.ConfigDict, stream: Any,
                      sweep_name: Optional[str]) -> ErbpLearner:
  """The eRBP learner of ``config`` for ``stream`` (a ``TaskStream``).

  Uses ``config.model.hidden`` (one hidden layer), ``config.snn`` (every
  field of :data:`SNN_DEFAULTS`, as :func:`snn_config` writes it; a missing
  or unknown field is an error, not a silent default), ``config.optimizer``
  (the plasticity transform, e.g. ``name='tacos'``; a swept hyperparameter
  is injected), ``config.data`` scaling and ``config.protocol.batch_size``
  and ``eval_batch_size``; checked by :func:`validate_erbp`.
  """
  validate_erbp(config)
  p = config.protocol
  return ErbpLearner(
      sizes=(stream.input_dim, config.model.hidden[0], stream.num_classes),
      params=erbp_params(config.snn), tx=learner_utils.build_tx(
          config, sweep_name), snn=dict(config.snn),
      preprocess=learner_utils.Preprocess.from_config(config),
      batch_size=int(p.batch_size), eval_batch_size=int(p.eval_batch_size),
      sweep=sweep_name)


# config.learner='erbp': no `predict` or `uncertainty_scores` (an evaluator
# that needs them is refused by validation).
PLUGIN = interfaces.LearnerPlugin(build=make_erbp_learner,
                                  validate=validate_erbp)
