"""Runs laid over several devices and several processes match one device.

Both tests start fresh Python processes: the device count is fixed when JAX
starts (``--xla_force_host_platform_device_count``), and a multi-process run
needs one process per rank (two on localhost, CPU collectives over gloo).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    '--config=configs/quickstart.py', '--config.num_seeds=3',
    '--config.data.num_tasks=2', '--config.model.hidden=(32,)',
    '--config.protocol.epochs_per_task=1', '--config.sweep.name=',
    '--config.plot=False', '--config.protocol.tensorboard=False']


def _env(devices=None):
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT)
  if devices:
    env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
  return env


def _launch(workdir, extra=(), devices=None, wait=True):
  cmd = [sys.executable, '-m', 'launch.main', f'--workdir={workdir}', *TINY,
         *extra]
  p = subprocess.Popen(cmd, cwd=ROOT, env=_env(devices),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
  if not wait:
    return p
  out, _ = p.communicate(timeout=600)
  assert p.returncode == 0, out[-3000:]
  return out


def _acc(workdir):
  return np.load(os.path.join(workdir, 'accuracy.npy'))


def test_runs_over_four_devices_match_one_device(tmp_path):
  one = _launch(tmp_path / 'one', ['--config.protocol.devices=1'], devices=4)
  four = _launch(tmp_path / 'four', devices=4)
  assert 'runs: 3 on 1 devices x 1 processes' in one
  # 3 runs on 3 of the 4 devices (no device idles on padding).
  assert 'runs: 3 on 3 devices x 1 processes' in four
  two = _launch(tmp_path / 'two', ['--config.protocol.devices=2'], devices=4)
  assert 'runs: 3 on 2 devices x 1 processes (padded to 4' in two
  a1, a3, a2 = (_acc(tmp_path / n) for n in ('one', 'four', 'two'))
  assert a1.shape == a3.shape == a2.shape == (3, 2, 2)
  # Binarized nets amplify last-bit differences: within half a point.
  np.testing.assert_allclose(a3, a1, atol=0.005)
  np.testing.assert_allclose(a2, a1, atol=0.005)
  with open(tmp_path / 'two' / 'summary.json') as f:
    assert json.load(f)['runs'] == 3  # the padding run was dropped


def _launch_two(workdir, kill_at=None):
  """Both processes of a 2-process run on localhost: [(output, rc)]."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  dist = [f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2']
  env = _env()
  if kill_at:
    env['MPL_JAX_KILL_AT'] = kill_at  # each process kills itself there
  cmd = [sys.executable, '-m', 'launch.main', f'--workdir={workdir}', *TINY]
  procs = [subprocess.Popen(cmd + dist + [f'--process_id={i}'], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
           for i in (1, 0)]
  return [(p.communicate(timeout=600)[0], p.returncode) for p in procs]


def test_two_processes_match_one_own_their_shards_and_resume_after_kill(
    tmp_path):
  dist, part = tmp_path / 'dist', tmp_path / 'part'
  outs = _launch_two(dist)
  for out, rc in outs:
    assert rc == 0, out[-3000:]
  assert 'runs: 3 on 2 devices x 2 processes (padded to 4' in outs[1][0]
  _launch(tmp_path / 'single')
  np.testing.assert_allclose(_acc(dist), _acc(tmp_path / 'single'),
                             atol=0.005)
  # Each process wrote, and hashed, only its own shards: no process
  # gathers the state.
  step = dist / 'checkpoints' / 'step_000002'
  with open(step / 'manifest.process_1.json') as f:
    mine = json.load(f)['files']
  with open(step / 'manifest.json') as f:
    main = json.load(f)
  assert main['num_processes'] == 2
  assert mine and all('process_1' in rel for rel in mine)
  assert any(rel.startswith('tree/ocdbt.process_1/d/') for rel in mine)
  assert not any('process_1' in rel for rel in main['files'])
  # Both killed (SIGKILL) once task 1's checkpoint is complete, then the
  # same command resumes: the outputs of the uninterrupted run, bit for bit.
  for out, rc in _launch_two(part, kill_at='manifest:1'):
    assert rc == -9, out[-3000:]
  assert sorted(os.listdir(part / 'checkpoints')) == ['step_000001']
  outs = _launch_two(part)
  for out, rc in outs:
    assert rc == 0, out[-3000:]
  assert 'after task 1/2' in outs[1][0]
  for name in ('accuracy.npy', 'curves.npy'):
    np.testing.assert_array_equal(np.load(dist / name), np.load(part / name))
  with open(dist / 'metrics.jsonl') as a, open(part / 'metrics.jsonl') as b:
    assert a.read() == b.read()
