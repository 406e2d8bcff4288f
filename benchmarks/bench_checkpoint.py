"""Checkpoint save time per task: this checkout's orbax checkpoints against
the former npz + manifest format, on one state, in one process.

  PYTHONPATH=. JAX_PLATFORMS=cpu python3 benchmarks/bench_checkpoint.py \
      --old=/path/to/old/mpl_jax/train/checkpoint.py [--config=quickstart]

The state is the quickstart's (6 runs of a 64-512-512-10 BNN with its
optimizer state) after init; each save is timed to the point where the
checkpoint is complete and verified by its checksum (old: gather to the
host + npz + SHA-256; new: orbax save + wait + manifest). Saves alternate
between the two, ``--repeats`` each; the median is reported.
"""

import argparse
import importlib.util
import os
import statistics
import tempfile
import time

import jax
import numpy as np

from configs import quickstart
from mpl_jax.train import checkpoint as ckpt_lib
from mpl_jax.train import program as program_lib
from mpl_jax.train import record as record_lib
from mpl_jax.train import train


def _state(config):
  layout = program_lib.make_layout(config)
  stream = train.build_stream(config, sorted(set(layout.seeds)))
  learner = train.make_learner(config, stream, layout.sweep_name)
  progs = program_lib.Programs(
      learner, layout, num_tasks=stream.num_tasks, epochs=1, per_epoch=False,
      seen_only=False, task_boundaries=True, vectorize='auto')
  put = lambda x: program_lib.put(layout, x, per_run=True)
  state = progs.init(put(np.asarray(layout.seeds, np.int32)),
                     put(np.asarray(layout.device_values(), np.float32)))
  record = record_lib.RunRecord.empty(layout.num_runs, stream.num_tasks,
                                      config.protocol.epochs_per_task, 1)
  return layout, jax.block_until_ready(state), record


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--old', required=True)
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  spec = importlib.util.spec_from_file_location('old_checkpoint', args.old)
  old_lib = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(old_lib)
  layout, state, record = _state(quickstart.get_config())
  nbytes = sum(x.nbytes for x in jax.tree.leaves(state))
  with tempfile.TemporaryDirectory() as d:
    old = old_lib.Checkpointer(os.path.join(d, 'old'))
    new = ckpt_lib.Checkpointer(os.path.join(d, 'new'), config={'c': 1})
    times = {'old': [], 'new': []}
    for step in range(1, args.repeats + 1):
      t0 = time.perf_counter()
      host = program_lib.trim(layout, program_lib.fetch(layout, state))
      old.save(step, dict(state=host, record=record.tree()))
      times['old'].append(time.perf_counter() - t0)
      t0 = time.perf_counter()
      new.save(step, dict(state=state, record=record.tree()))
      new.wait()
      times['new'].append(time.perf_counter() - t0)
    new.close()
  med = {k: statistics.median(v) for k, v in times.items()}
  print(f'state {nbytes / 2**20:.1f} MiB, {args.repeats} saves each, '
        f'backend {jax.default_backend()}')
  for k in ('old', 'new'):
    print(f'  {k}: median {med[k] * 1e3:.0f} ms  '
          f'(all: {", ".join(f"{t * 1e3:.0f}" for t in times[k])})')
  print(f'  new / old: {med["new"] / med["old"]:.2f}')


if __name__ == '__main__':
  main()
