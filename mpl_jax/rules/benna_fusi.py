"""Complex synapses: Benna-Fusi chains of beakers behind each weight.

Benna and Fusi (2016) model a synapse as a chain of communicating vessels
("beakers") ``u_1, ..., u_n``: the weight is the level of the first beaker,
which receives the plasticity input; each beaker exchanges with its
neighbours through tubes, capacities grow and conductances shrink along the
chain, and the last beaker leaks to zero. A change of the weight is thus
transferred to ever slower variables and decays roughly as a power law
instead of exponentially.

:func:`scale_by_benna_fusi` (full optimizers :func:`benna_fusi_sgd`,
:func:`benna_fusi_adam`) implements the complex-synapse optimizers of van de
Ven's ``complex-synapses`` code (geometric capacities and couplings between
the shortest timescale ``alpha`` and the longest ``beta``; the coupling
scaled by the learning rate), as an optax transform that chains after any
optimizer. Laborieux's beaker optimizer ``Adam_bk`` lives in
:mod:`mpl_jax.rules.beakers`.

No Flax import.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mpl_jax.rules import _common
from mpl_jax.rules import metaplasticity

PyTree = Any

INITS = ('same', 'zero')
TIME_UNITS = ('lr', 'step')
ORDERS = ('gauss_seidel', 'jacobi')


def _all_leaves(params: PyTree) -> PyTree:
  return jax.tree.map(lambda _: True, params)


def benna_fusi_constants(beakers: int, alpha: Any, beta: Any
                         ) -> tuple[list[Any], list[Any]]:
  r"""Capacities ``C_k`` and couplings ``g_{k,k+1}``, ``k = 1..n``.

  With :math:`x = (\beta/\alpha)^{1/(2n-2)}` (``n > 1``):
  :math:`C_k = x^{k-1}`, :math:`g_{k,k+1} = x^{1-k}/\alpha`, so the
  timescale of beaker ``k`` is :math:`C_k/g_{k,k+1} = \alpha x^{2(k-1)}`,
  from ``alpha`` (``k = 1``) to ``beta`` (``k = n``). With ``n = 1``:
  ``C_1 = 1``, ``g_{1,2} = 1/beta`` (a pure decay). ``alpha`` and ``beta``
  may be traced (no Python branch on their values).

  Returns:
    ``(C, g)``: two lists of ``n`` scalars (``C[0]`` is always 1).
  """
  if beakers == 1:
    return [1.0], [1.0 / jnp.asarray(beta, jnp.float32)]
  alpha = jnp.asarray(alpha, jnp.float32)
  x = (jnp.asarray(beta, jnp.float32) / alpha) ** (1.0 / (2 * beakers - 2))
  caps = [x ** k if k else 1.0 for k in range(beakers)]
  couplings = [(x ** -k if k else 1.0) / alpha for k in range(beakers)]
  return caps, couplings


class ScaleByBennaFusiState(NamedTuple):
  """State of :func:`scale_by_benna_fusi`.

  Attributes:
    count: number of updates so far (int32), for learning-rate schedules.
    beakers: ``beakers - 1`` pytrees like params, the hidden beakers
      ``u_2, ..., u_n`` (``optax.MaskedNode`` on leaves that are not
      selected). The leak ``u_{n+1} = 0`` is not stored.
  """
  count: jax.Array
  beakers: tuple[PyTree, ...]


def scale_by_benna_fusi(
    *,
    beakers: int = 6,
    alpha: Any = 1.0,
    beta: Any = 1024.0,
    learning_rate: optax.ScalarOrSchedule = 1.0,
    init: str = 'same',
    time_unit: str = 'lr',
    order: str = 'gauss_seidel',
    mask: _common.MaskOrFn = None,
    coupling: Any = 1.0,
) -> optax.GradientTransformationExtraArgs:
  r"""A Benna-Fusi chain of ``beakers`` beakers behind every weight.

  The weight :math:`w = u_1` is the first beaker; the incoming update
  ``delta`` (the inner optimizer's step, already scaled by its learning
  rate, e.g. :math:`-\eta g` for SGD) is its plasticity input. With
  :math:`c` the coupling scale (``coupling`` times the learning rate
  :math:`\eta_t` when ``time_unit='lr'``, times 1 when ``'step'``),
  :math:`C_k, g_{k,k+1}` from :func:`benna_fusi_constants` and
  :math:`u_{n+1} \equiv 0` (a leak):

  .. math::

    w &\leftarrow w + \frac{1}{C_1}\left(\delta
        + c\, g_{1,2} (u_2 - w)\right), \\
    u_k &\leftarrow u_k + \frac{c}{C_k}\left[g_{k-1,k}(u_{k-1} - u_k)
        + g_{k,k+1}(u_{k+1} - u_k)\right], \quad k = 2..n,

  swept ``k = 2, 3, ..., n`` with :math:`u_{k-1}` already updated
  (``order='gauss_seidel'``, as the reference code), or all from the values
  before the step (``order='jacobi'``: explicit Euler on the whole chain,
  :math:`u_1` the weight before this step). ``beakers = 1`` is a pure decay
  :math:`w \leftarrow w + \delta - c\,w/\beta`; ``beakers = 0`` returns the
  updates unchanged.

  Faithful to ``ComplexSynapse`` / ``AdamComplexSynapse`` of the reference
  (``time_unit='lr'``, ``order='gauss_seidel'``, ``init='same'``, every leaf
  selected). There the coupling is multiplied by the learning rate, so
  ``alpha`` and ``beta`` are timescales in steps only for ``lr = 1``; with
  Adam at ``lr = 1e-3`` the chain's timescales are ``alpha/lr`` to
  ``beta/lr`` steps. ``time_unit='step'`` makes them steps.

  Memory: the state holds ``beakers - 1`` copies of every selected parameter
  (``u_2..u_n``; the weight is ``u_1``, the leak is not stored) and a
  counter. A Gauss-Seidel step costs about one elementwise pass per beaker
  (measured 0.8-1.6 SGD steps per beaker) and updates the beakers in place.
  A Jacobi step reads old levels after their buffers are rewritten, so with
  donated buffers XLA copies the weight and every level into fresh buffers
  each step: about 6x the Gauss-Seidel step on CPU for 5 beakers
  (``benchmarks/bench_new_rules.py``); an optimization barrier did not
  avoid the copies.

  Args:
    beakers: the number of beakers ``n >= 0`` (static: it sets the state's
      size).
    alpha: the shortest timescale (of the first beaker), ``> 0``; injectable.
    beta: the longest timescale (of the last beaker), ``> 0``; injectable.
    learning_rate: the coupling scale for ``time_unit='lr'``: a scalar or a
      schedule of the step count (the reference passes the optimizer's
      learning rate; :func:`benna_fusi_adam` passes Adam's bias-corrected
      one). Ignored for ``time_unit='step'``.
    init: ``'same'`` (default: hidden beakers start at the weight) or
      ``'zero'``.
    time_unit: ``'lr'`` (default, reference) or ``'step'``.
    order: ``'gauss_seidel'`` (default, reference) or ``'jacobi'``.
    mask: which leaves get a chain (pytree of bools or callable). Default:
      every leaf, biases and BatchNorm included, as the reference; the
      others pass through unchanged.
    coupling: a multiplier of the coupling scale (injectable; not in the
      reference, where it is 1). ``coupling = 0`` freezes the chain and
      returns the incoming updates exactly, so a sweep over ``(0, 1)``
      compares the inner optimizer with and without the chain in one
      program.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` with state
    :class:`ScaleByBennaFusiState`; needs ``params`` in ``update``. Extra
    keyword arguments are accepted and ignored.

  Example:
    >>> import optax, mpl_jax
    >>> tx = optax.chain(optax.sgd(0.1), mpl_jax.scale_by_benna_fusi(
    ...     beakers=5, alpha=500.0, beta=2500.0, learning_rate=0.1))
    >>> # same as mpl_jax.benna_fusi_sgd(0.1, beakers=5, alpha=500.0,
    >>> #                                beta=2500.0)

  References:
    Benna, Fusi, "Computational principles of synaptic memory
    consolidation", Nature Neuroscience 19:1697-1706, 2016.
    https://arxiv.org/abs/1507.07580

    van de Ven, ``complex-synapses`` (PyTorch), ``complex_synapses.py``,
    2021. https://github.com/GMvandeVen/complex-synapses

    Kaplanis, Shanahan, Clopath, "Continual reinforcement learning with
    complex synapses", ICML 2018. https://arxiv.org/abs/1802.07239
  """
  beakers = _common.static_count(beakers, 'beakers', 0)
  if init not in INITS:
    raise ValueError(f'init must be one of {INITS}, got {init!r}.')
  if time_unit not in TIME_UNITS:
    raise ValueError(f'time_unit must be one of {TIME_UNITS}, got '
                     f'{time_unit!r}.')
  if order not in ORDERS:
    raise ValueError(f'order must be one of {ORDERS}, got {order!r}.')
  for name, value in (('alpha', alpha), ('beta', beta)):
    if isinstance(value, (int, float)) and value <= 0:
      raise ValueError(f'{name} must be > 0, got {value}.')

  def init_fn(params):
    selected = _common.resolve_mask(mask, params, default=_all_leaves)
    make = jnp.array if init == 'same' else jnp.zeros_like
    chain = tuple(
        jax.tree.map(lambda p, s: make(p) if s else optax.MaskedNode(),
                     params, selected)
        for _ in range(max(beakers - 1, 0)))
    return ScaleByBennaFusiState(count=jnp.zeros([], jnp.int32), beakers=chain)

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_common.NO_PARAMS_MSG)
    count = optax.safe_increment(state.count)
    if beakers == 0:
      return updates, state._replace(count=count)
    selected = _common.resolve_mask(mask, params, default=_all_leaves)
    if time_unit == 'step':
      scale = coupling
    elif callable(learning_rate):
      scale = coupling * learning_rate(state.count)
    else:
      scale = coupling * learning_rate
    caps, couplings = benna_fusi_constants(beakers, alpha, beta)

    def chain_leaf(w, u, sel, *chain):           # chain: u_2 .. u_n (old)
      if not sel or u is None:
        return (u,) + chain
      dtype = u.dtype
      c = jnp.asarray(scale, dtype)
      u2 = chain[0] if chain else jnp.zeros_like(w)
      g = [jnp.asarray(x, dtype) for x in couplings]
      cap = [jnp.asarray(x, dtype) for x in caps]
      delta = u + c * g[0] * (u2 - w)
      out = [delta.astype(dtype)]
      prev = w + delta if order == 'gauss_seidel' else w
      for k in range(1, beakers):               # beaker k+1 (0-based k)
        uk = chain[k - 1]
        nxt = chain[k] if k < beakers - 1 else jnp.zeros_like(uk)
        flow = g[k - 1] * (prev - uk) + g[k] * (nxt - uk)
        new = uk + (c / cap[k]) * flow
        out.append(new.astype(uk.dtype))
        prev = new if order == 'gauss_seidel' else uk
      return tuple(out)

    new_updates, *new_chain = _common.unzip_leaves(
        jax.tree.map(chain_leaf, params, updates, selected, *state.beakers),
        params, beakers)
    return new_updates, ScaleByBennaFusiState(count=count,
                                              beakers=tuple(new_chain))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def benna_fusi_sgd(
    learning_rate: optax.ScalarOrSchedule,
    *,
    beakers: int = 6,
    alpha: Any = 1.0,
    beta: Any = 1024.0,
    init: str = 'same',
    time_unit: str = 'lr',
    order: str = 'gauss_seidel',
    mask: _common.MaskOrFn = None,
    coupling: Any = 1.0,
) -> optax.GradientTransformationExtraArgs:
  r"""SGD with a Benna-Fusi chain: the reference ``ComplexSynapse``.

  ``optax.chain(optax.sgd(lr), scale_by_benna_fusi(..., learning_rate=lr))``:
  :math:`w \leftarrow w + \eta(-g + g_{1,2}(u_2 - w))`, then the chain (see
  :func:`scale_by_benna_fusi`). Defaults as the reference (6 beakers,
  ``alpha = 1``, ``beta = 1024``). ``beakers=0`` is plain SGD.

  Args:
    learning_rate: a scalar or a schedule (also scales the coupling).
    beakers: number of beakers.
    alpha: shortest timescale.
    beta: longest timescale.
    init: ``'same'`` or ``'zero'``.
    time_unit: ``'lr'`` or ``'step'``.
    order: ``'gauss_seidel'`` or ``'jacobi'``.
    mask: which leaves get a chain (default: all).
    coupling: multiplier of the coupling (0: plain SGD exactly).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs`.

  References:
    van de Ven, ``complex-synapses``, ``ComplexSynapse``, 2021.
    https://github.com/GMvandeVen/complex-synapses
  """
  return optax.chain(
      optax.scale_by_learning_rate(learning_rate),
      scale_by_benna_fusi(beakers=beakers, alpha=alpha, beta=beta,
                          learning_rate=learning_rate, init=init,
                          time_unit=time_unit, order=order, mask=mask,
                          coupling=coupling))


def benna_fusi_adam(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    beakers: int = 6,
    alpha: Any = 1.0,
    beta: Any = 1024.0,
    init: str = 'same',
    time_unit: str = 'lr',
    order: str = 'gauss_seidel',
    mask: _common.MaskOrFn = None,
    coupling: Any = 1.0,
) -> optax.GradientTransformationExtraArgs:
  r"""Adam with a Benna-Fusi chain: the reference ``AdamComplexSynapse``.

  As the reference, the Adam step is :math:`p = m_t/(\sqrt{v_t} + \epsilon)`
  (epsilon outside the bias correction, PyTorch's placement) and every
  beaker update uses the bias-corrected learning rate
  :math:`\eta_t = \eta \sqrt{1 - b_2^t}/(1 - b_1^t)`:

  .. math::

    w \leftarrow w + \eta_t\left(-p + g_{1,2}(u_2 - w)\right),

  then the chain of :func:`scale_by_benna_fusi` with coupling scale
  :math:`\eta_t`. ``beakers=0`` is Adam with PyTorch's epsilon
  (:func:`mpl_jax.scale_by_adam_pytorch` then ``-lr``). The coupling's bias
  correction follows the chain's own step count, which a trainer's reset of
  the Adam moments at a task boundary does not restart.

  Args:
    learning_rate: a scalar or a schedule.
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay.
    eps: Adam's epsilon (added to ``sqrt(v_t)``).
    beakers: number of beakers.
    alpha: shortest timescale.
    beta: longest timescale.
    init: ``'same'`` or ``'zero'``.
    time_unit: ``'lr'`` (coupling scaled by :math:`\eta_t`) or ``'step'``.
    order: ``'gauss_seidel'`` or ``'jacobi'``.
    mask: which leaves get a chain (default: all, as the reference; Adam
      applies to all leaves in any case).
    coupling: multiplier of the coupling (0: the Adam above exactly).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs`.

  References:
    van de Ven, ``complex-synapses``, ``AdamComplexSynapse``, 2021.
    https://github.com/GMvandeVen/complex-synapses
  """

  def coupling_lr(count):
    lr = learning_rate(count) if callable(learning_rate) else learning_rate
    t = (count + 1).astype(jnp.float32)
    return lr * jnp.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)

  return optax.chain(
      metaplasticity.scale_by_adam_pytorch(b1=b1, b2=b2, eps=eps),
      optax.scale_by_learning_rate(learning_rate),
      scale_by_benna_fusi(beakers=beakers, alpha=alpha, beta=beta,
                          learning_rate=coupling_lr, init=init,
                          time_unit=time_unit, order=order, mask=mask,
                          coupling=coupling))


def __getattr__(name: str) -> Any:
  """Old names, kept one release (they warn): see docs/MIGRATION.md."""
  # The beaker optimizer moved to mpl_jax.rules.beakers; imported lazily so
  # that neither module imports the other at import time.
  from mpl_jax.rules import beakers  # pylint: disable=g-import-not-at-top
  namespace = {'ScaleByBennaFusiState': ScaleByBennaFusiState,
               **{f'{beakers.__name__}.{n}': getattr(beakers, n) for n in (
                   'scale_by_beaker_metaplasticity', 'beaker_metaplastic_adam',
                   'ScaleByBeakerMetaplasticityState')}}
  return _common.deprecated_aliases(__name__, {
      'BennaFusiState': 'ScaleByBennaFusiState',
      'scale_by_beaker_metaplasticity':
          'mpl_jax.rules.beakers.scale_by_beaker_metaplasticity',
      'beaker_metaplastic_adam':
          'mpl_jax.rules.beakers.beaker_metaplastic_adam',
      'BeakerMetaplasticityState':
          'mpl_jax.rules.beakers.ScaleByBeakerMetaplasticityState',
  }, namespace)(name)
