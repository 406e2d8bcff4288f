"""TensorBoard event files: the tags and values the trainer logs per task."""

import glob
import os
import struct

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from _configs import tiny_config
from mpl_jax.train import metric_writer
from mpl_jax.train import record as record_lib
from mpl_jax.train import train


def _events(folder):
  """(tag, step, value or histogram) of every summary in ``folder``."""
  out = []
  for path in glob.glob(os.path.join(folder, 'events.out.tfevents.*')):
    with open(path, 'rb') as f:
      data = f.read()
    i = 0
    while i < len(data):  # TFRecord: length, crc, payload, crc
      (n,) = struct.unpack('<Q', data[i:i + 8])
      ev = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
      i += 12 + n + 4
      for v in ev.summary.value:
        kind = v.WhichOneof('value')
        out.append((v.tag, ev.step,
                    v.simple_value if kind == 'simple_value' else v.histo))
  return out


def _record(tasks, runs=2, epochs=2):
  rec = record_lib.RunRecord.empty(runs, tasks, epochs, 1)
  rng = np.random.default_rng(0)
  rec.losses[:] = rng.uniform(0, 1, rec.losses.shape)
  rec.train_accuracy[:] = rng.uniform(0, 1, rec.train_accuracy.shape)
  rec.accuracy[:] = rng.uniform(0, 1, rec.accuracy.shape)
  return rec


def _metrics(rec, t, groups):
  """The metric writer's dict of task ``t``."""
  runs = rec.accuracy.shape[0]
  names = [f'task{j}' for j in range(rec.accuracy.shape[1])]
  return metric_writer.task_metrics(rec, t, groups, names, list(range(runs)),
                                    [None] * runs, None)


def test_short_stream_logs_one_scalar_per_task(tmp_path):
  rec = _record(tasks=3)
  groups = {'': np.arange(2)}
  tb = metric_writer.TensorBoardSink(str(tmp_path), groups)
  tb.write(_metrics(rec, 1, groups))
  tb.close()
  ev = {(tag, step): v for tag, step, v in
        _events(str(tmp_path / 'tensorboard' / 'all'))}
  # One step scale (here epochs: the dict has no global steps): task 2's
  # epochs are steps 3 and 4, its per-task scalars at its last step, 4.
  for j in range(3):
    np.testing.assert_allclose(ev[(f'accuracy/task_{j + 1}', 4)],
                               rec.accuracy[:, 1, j].mean(), rtol=1e-6)
  np.testing.assert_allclose(ev[('accuracy/average_seen', 4)],
                             rec.accuracy[:, 1, :2].mean(), rtol=1e-6)
  np.testing.assert_allclose(ev[('accuracy/current_task', 4)],
                             rec.accuracy[:, 1, 1].mean(), rtol=1e-6)
  np.testing.assert_allclose(ev[('train/loss', 4)], rec.losses[:, 1, 1].mean(),
                             rtol=1e-6)
  assert ev[('task', 4)] == 2  # the boundary: task 2 ends at step 4
  assert not any(tag == 'accuracy/seen_tasks' for tag, _ in ev)


def test_long_stream_logs_a_histogram_instead_of_a_tag_per_task(tmp_path):
  rec = _record(tasks=40)
  groups = {'a': np.array([0]), 'b': np.array([1])}
  tb = metric_writer.TensorBoardSink(str(tmp_path), groups, max_task_tags=32)
  tb.write(_metrics(rec, 9, groups))
  tb.close()
  for g, run in (('a', 0), ('b', 1)):
    events = _events(str(tmp_path / 'tensorboard' / g))
    tags = {tag for tag, _, _ in events}
    assert not any(t.startswith('accuracy/task_') for t in tags)
    (histo,) = [v for tag, step, v in events
                if tag == 'accuracy/seen_tasks' and step == 20]
    assert histo.num == 10  # the 10 tasks seen after task 10
    np.testing.assert_allclose(histo.sum, rec.accuracy[run, 9, :10].sum(),
                               rtol=1e-5)


def test_written_events_are_on_disk_before_close(tmp_path):
  rec = _record(tasks=2)
  groups = {'': np.arange(2)}
  tb = metric_writer.TensorBoardSink(str(tmp_path), groups)
  tb.write(_metrics(rec, 0, groups))  # no close: as a kill -9 right after
  tags = {tag for tag, _, _ in _events(str(tmp_path / 'tensorboard' / 'all'))}
  assert {'train/loss', 'task', 'accuracy/task_1'} <= tags
  tb.close()


def _run_events(workdir):
  files = glob.glob(os.path.join(workdir, 'tensorboard', 'all',
                                 'events.out.tfevents.*'))
  return len(files), sorted(
      (tag, step, v) for tag, step, v in _events(
          os.path.join(workdir, 'tensorboard', 'all')))


def test_resume_rebuilds_the_events_of_saved_tasks(tmp_path):
  c = tiny_config(**{'num_seeds': 1})
  full = str(tmp_path / 'full')
  train.train_and_evaluate(c, full)
  n, want = _run_events(full)
  assert n == 1 and want
  # Global training step: task 1's last epoch ends at its minibatch steps.
  steps = sorted({s for tag, s, _ in want if tag == 'task'})
  assert len(steps) == 3 and steps[0] > c.protocol.epochs_per_task
  cut = str(tmp_path / 'cut')
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(c, cut, _interrupt_after_task=2)
  for path in glob.glob(os.path.join(cut, 'tensorboard', 'all', '*')):
    with open(path, 'r+b') as f:  # a kill that lost the queued events
      f.truncate(0)
  train.train_and_evaluate(c, cut)
  assert _run_events(cut) == (1, want)
  train.train_and_evaluate(c, cut)  # a rerun of a finished run: no new file
  assert _run_events(cut) == (1, want)
