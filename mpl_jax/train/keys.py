"""Named random streams: every key of a run, from one documented table.

Every random draw of the trainer comes from a key

    stream_key(seed, name, *indices)
      = fold_in(... fold_in(fold_in(PRNGKey(seed), ID[name]), i_1) ..., i_k)

where ``ID[name]`` is a fixed 31-bit hash of the stream's name and each
stream has a fixed number of indices (its arity), listed in :data:`STREAMS`.
Because ``jax.random.split(k)[i] == jax.random.fold_in(k, i)``, two streams
that derived keys from the same parent, one by ``split`` and one by
``fold_in``, would draw the same numbers; here no two streams share a parent
below the seed, the first level is a hash of the name (never a small
integer), and keys derived further inside a program (a rule splitting its
key each step, the step keys ``fold_in(step_root, i)``) stay inside their
stream's subtree. ``tests/test_keys.py`` checks that all streams x seeds x
indices are distinct, and that a per-step engram drawn from the rule stream
is uncorrelated with the epoch's shuffle order.

Host-side stream building (pixel permutations, class orders, subsets in
:mod:`mpl_jax.data.streams`) uses numpy's PCG64 seeded with
``SeedSequence([seed, tag, ...])``: another generator family, so it cannot
meet a JAX key.

A resumed run derives the same keys (they depend on the seed and indices
only), so it replays the same randomness (big_vision's habit).
"""

from __future__ import annotations

import zlib
from typing import Union

import jax

# name -> the meaning of its indices (the arity is their number).
STREAMS: dict[str, tuple[str, ...]] = {
    # The model's initial parameters (and BatchNorm statistics).
    'init': (),
    # The optimizer state's keys (random rules: engram gates, flexibility
    # draws) at init and after a reset at the start of `task`.
    'rule': ('task',),
    # One epoch: its shuffle is fold_in(key, 0) (pass p of a multi-pass
    # epoch: fold_in(fold_in(key, 0), p)), step i's key (model noise, e.g.
    # MC samples) is fold_in(fold_in(key, 1), i).
    'epoch': ('task', 'epoch'),
    # Root of the evaluation keys at one evaluation point (0 = before
    # training, then one per evaluated epoch); task j uses fold_in(root, j).
    'eval': ('point',),
    # Evaluator randomness after `task` (e.g. OOD scoring with MC samples).
    'evaluator': ('task',),
}

KeyLike = Union[int, jax.Array]


def stream_id(name: str) -> int:
  """The fixed 31-bit id of a stream (crc32 of its name)."""
  if name not in STREAMS:
    raise ValueError(f'unknown random stream {name!r}; known: '
                     f'{sorted(STREAMS)}.')
  return zlib.crc32(name.encode()) & 0x7FFFFFFF


def stream_key(seed: KeyLike, name: str, *indices) -> jax.Array:
  """The key of stream ``name`` at ``indices`` for ``seed``.

  Args:
    seed: the run's seed (an int or a traced int32 scalar).
    name: a stream of :data:`STREAMS`.
    *indices: exactly as many ints (or traced int32 scalars) as the stream's
      arity.

  Returns:
    A raw ``uint32[2]`` PRNG key. Works under ``jit`` and ``vmap``.
  """
  if len(indices) != len(STREAMS.get(name, ())):
    if name in STREAMS:
      raise ValueError(f'stream {name!r} takes indices {STREAMS[name]}, got '
                       f'{len(indices)}.')
  key = jax.random.PRNGKey(seed)
  key = jax.random.fold_in(key, stream_id(name))
  for i in indices:
    key = jax.random.fold_in(key, i)
  return key
