"""Laborieux's beaker optimizer: metaplastic beakers behind each weight.

The ``Adam_bk`` optimizer of Laborieux's metaplastic-BNN reference code: the
weight is the first of a chain of communicating beakers (fixed tube ratios
and areas, a leak after the last one), a feedback pulls the weight toward
the last beaker, and the metaplastic gate acts on that beaker's inflow. See
:mod:`mpl_jax.rules.benna_fusi` for the Benna-Fusi chains of van de Ven's
code. No Flax import.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax

from mpl_jax.rules import _common
from mpl_jax.rules import metaplasticity

PyTree = Any


class ScaleByBeakerMetaplasticityState(NamedTuple):
  """State of :func:`scale_by_beaker_metaplasticity`.

  Attributes:
    beakers: ``beakers - 1`` pytrees like params, the beakers ``b_1 ..
      b_{n-1}`` (``optax.MaskedNode`` on leaves that are not selected). The
      weight is ``b_0``; the leak ``b_n = 0`` is not stored.
  """
  beakers: tuple[PyTree, ...]


def scale_by_beaker_metaplasticity(
    meta: Any = 0.0,
    *,
    beakers: int = 4,
    ratios: Sequence[float] = (1e-2, 1e-3, 1e-4, 1e-5),
    areas: Sequence[float] = (1.0, 2.0, 4.0, 8.0),
    feedback: Any = 5e-3,
    mask: _common.MaskOrFn = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The beakers of Laborieux's ``Adam_bk``, after any optimizer step.

  The weight is beaker :math:`b_0`, the hidden beakers :math:`b_1..b_{n-1}`
  start at the weight, :math:`b_n \equiv 0` is a leak; :math:`r_k` is the
  tube between :math:`b_k` and :math:`b_{k+1}`, :math:`A_k` the area of
  :math:`b_k`. With ``delta`` the incoming step, in this order:

  .. math::

    w_1 &= w + \delta, \qquad
    w_2 = w_1 + \frac{r_0}{A_0}(b_1 - w_1), \\
    w_3 &= w_2 + \phi\,(b_{n-1} - w_2)\,
        [(b_{n-1} - w_2)\,\mathrm{sign}(b_{n-1}) > 0], \\
    b_k &\leftarrow b_k + \frac{r_{k-1}}{A_k} M_k (b_{k-1} - b_k)
        + \frac{r_k}{A_k}(b_{k+1} - b_k), \quad k = 1..n-1,

  where the beaker updates read the old beakers and the new weight
  :math:`b_0 = w_3` (Jacobi), the feedback :math:`\phi` pulls the weight
  toward the last beaker only when that beaker lies further out, and
  :math:`M_k = 1` except for the last beaker, whose inflow is gated
  metaplastically: :math:`M_{n-1} = 1 - \tanh^2(m\, b_{n-1})` when
  :math:`(b_{n-2} - b_{n-1})\, b_{n-1} < 0` (the inflow pushes it toward
  zero). The couplings are not scaled by the learning rate (timescales in
  steps). The emitted update is :math:`w_3 - w`.

  One difference from the reference, on purpose: there, at the very first
  step only, the chain reads the weight from before the Adam step (a copy
  made at initialisation; afterwards the stored weight aliases the live
  parameter). Here every step reads the updated weight.

  Memory: ``beakers - 1`` copies of every selected parameter. Cost: the
  Jacobi update makes XLA copy the levels each step (see
  :func:`mpl_jax.rules.benna_fusi.scale_by_benna_fusi`);
  ``beaker_metaplastic_adam`` with 4 beakers measured 4.1x Adam per step
  on CPU.

  Args:
    meta: the metaplastic strength on the last beaker's inflow (scalar,
      injectable, or per-leaf pytree / callable).
    beakers: ``n >= 1``, counting the weight (reference default 4).
    ratios: ``n`` tube ratios ``r_0 .. r_{n-1}`` (static numbers).
    areas: ``n`` beaker areas ``A_0 .. A_{n-1}`` (static numbers).
    feedback: the feedback coefficient :math:`\phi` (injectable).
    mask: which leaves get beakers. Default: ``ndim > 1`` (weight matrices,
      as the reference; biases and BatchNorm pass through).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` with state
    :class:`ScaleByBeakerMetaplasticityState`; needs ``params``.

  References:
    Laborieux, ``SynapticMetaplasticityBNN``, ``models_utils.py``, class
    ``Adam_bk`` (2020).
    https://github.com/Laborieux-Axel/SynapticMetaplasticityBNN
  """
  beakers = _common.static_count(beakers, 'beakers', 1)
  _common.check_meta(meta)
  ratios, areas = tuple(ratios), tuple(areas)
  if len(ratios) != beakers or len(areas) != beakers:
    raise ValueError(
        f'ratios and areas need one value per beaker ({beakers}); got '
        f'{len(ratios)} ratios and {len(areas)} areas.')
  n = beakers

  def init_fn(params):
    selected = _common.resolve_mask(mask, params)
    _common.check_meta(meta, params)
    chain = tuple(
        jax.tree.map(lambda p, s: jnp.array(p) if s else optax.MaskedNode(),
                     params, selected)
        for _ in range(n - 1))
    return ScaleByBeakerMetaplasticityState(beakers=chain)

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_common.NO_PARAMS_MSG)
    selected = _common.resolve_mask(mask, params)
    metas = _common.broadcast_hparam(meta, params, name='meta')

    def beaker_leaf(w, u, sel, m, *hidden):    # hidden: b_1 .. b_{n-1} (old)
      if not sel or u is None:
        return (u,) + hidden
      chain = [w, *hidden]                      # b_0 (old w) .. b_{n-1}
      w1 = w + u
      b1 = chain[1] if n > 1 else jnp.zeros_like(w)
      w2 = w1 + (ratios[0] / areas[0]) * (b1 - w1)
      if n > 1:
        last = chain[-1]
        d = last - w2
        w3 = w2 + jnp.where(d * jnp.sign(last) > 0, feedback * d, 0.0)
      else:
        w3 = w2
      delta = (w3 - w).astype(u.dtype)
      out = [delta]
      chain[0] = w + delta                      # the new weight, as applied
      for k in range(1, n):
        bk, below = chain[k], chain[k - 1]
        above = chain[k + 1] if k + 1 < n else jnp.zeros_like(bk)
        inflow = (ratios[k - 1] / areas[k]) * (below - bk)
        if k == n - 1:
          gate = metaplasticity.metaplastic_factor(m, bk).astype(bk.dtype)
          inflow = jnp.where((below - bk) * bk < 0, inflow * gate, inflow)
        new = bk + inflow + (ratios[k] / areas[k]) * (above - bk)
        out.append(new.astype(bk.dtype))
      return tuple(out)

    new_updates, *new_chain = _common.unzip_leaves(
        jax.tree.map(beaker_leaf, params, updates, selected, metas,
                     *state.beakers), params, n)
    return new_updates, ScaleByBeakerMetaplasticityState(
        beakers=tuple(new_chain))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def beaker_metaplastic_adam(
    learning_rate: optax.ScalarOrSchedule = 5e-3,
    meta: Any = 0.0,
    *,
    beakers: int = 4,
    ratios: Sequence[float] = (1e-2, 1e-3, 1e-4, 1e-5),
    areas: Sequence[float] = (1.0, 2.0, 4.0, 8.0),
    feedback: Any = 5e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    mask: _common.MaskOrFn = None,
    eps_placement: str = 'optax',
) -> optax.GradientTransformationExtraArgs:
  r"""Laborieux's beaker optimizer ``Adam_bk`` for binarized networks.

  Equivalent to::

    optax.chain(
        optax.add_decayed_weights(weight_decay),   # coupled L2, every leaf
        optax.scale_by_adam(b1, b2, eps),          # or PyTorch's placement
        optax.scale_by_learning_rate(learning_rate),
        scale_by_beaker_metaplasticity(meta, beakers=..., ratios=...,
                                       areas=..., feedback=..., mask=mask),
    )

  Weight matrices (``ndim > 1``) get the beakers; biases and BatchNorm get
  plain Adam, as the reference. There is no metaplastic gate on the weight
  itself: ``meta`` gates the inflow of the deepest beaker. Defaults are the
  reference's command-line defaults (4 beakers, ratios ``1e-2..1e-5``, areas
  ``1, 2, 4, 8``, feedback ``5e-3``, lr ``5e-3``; its ``meta`` is given per
  layer, default 0).

  Args:
    learning_rate: a scalar or a schedule.
    meta: gate strength on the last beaker's inflow.
    beakers: number of beakers ``n`` counting the weight.
    ratios: ``n`` tube ratios.
    areas: ``n`` beaker areas.
    feedback: pull of the weight toward the last beaker.
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay.
    eps: Adam's epsilon.
    weight_decay: coupled L2 coefficient.
    mask: which leaves get beakers (default ``ndim > 1``).
    eps_placement: ``'optax'`` (default, as :func:`mpl_jax.metaplastic_adam`,
      so the two differ only by the beakers) or ``'pytorch'`` (the
      reference's Adam).

  Returns:
    A :class:`optax.GradientTransformationExtraArgs`.

  References:
    Laborieux, ``SynapticMetaplasticityBNN``, ``Adam_bk`` (2020).
    https://github.com/Laborieux-Axel/SynapticMetaplasticityBNN
  """
  return optax.chain(
      *metaplasticity.coupled_adam(
          learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
          eps_placement=eps_placement),
      scale_by_beaker_metaplasticity(meta, beakers=beakers, ratios=ratios,
                                     areas=areas, feedback=feedback,
                                     mask=mask))


__getattr__ = _common.deprecated_aliases(__name__, {
    'BeakerMetaplasticityState': 'ScaleByBeakerMetaplasticityState',
}, globals())
