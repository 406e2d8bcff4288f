"""README.md's test command is what `.ci/run` runs, and it provisions the
test data itself (tests/provision_test_data.sh)."""

import os
import re
import stat
import subprocess

import pytest

from mpl_jax.data import provision

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO_ROOT, 'tests', 'provision_test_data.sh')
FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
         't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')


def _readme_test_command():
  with open(os.path.join(REPO_ROOT, 'README.md')) as f:
    text = f.read()
  after = text[text.index('Run the tests'):]
  block = re.search(r'```bash\n(.*?)```', after, re.S).group(1)
  lines = [l for l in block.splitlines() if l.strip()]
  assert len(lines) == 1, lines
  return lines[0]


def _ci_commands():
  """The commands `.ci/run` runs, without its shell plumbing."""
  with open(os.path.join(REPO_ROOT, '.ci', 'run')) as f:
    lines = [l.strip() for l in f]
  start = lines.index('cd "$(dirname "$0")/.."') + 1
  end = lines.index('rc=$?')
  return [l for l in lines[start:end]
          if l and not l.startswith('#') and l not in ('set +e', 'set -e')]


def test_ci_runs_the_readme_test_command():
  commands = _ci_commands()
  assert _readme_test_command() == ' && '.join(commands)
  assert 'tests/provision_test_data.sh' in commands
  assert commands[-1].endswith('pytest -q -n 2 tests')
  assert os.access(os.path.join(REPO_ROOT, '.ci', 'run'), os.X_OK)
  assert os.access(SCRIPT, os.X_OK)


def test_provisioning_checks_the_folder_mpl_jax_reads():
  with open(SCRIPT) as f:
    script = f.read()
  assert (f'MPL_JAX_FASHION_MNIST_DIR:-{provision.DEBIAN_FASHION_MNIST_DIR}}}'
          in script)
  assert all(name in script for name in FILES)


def _fake_bin(tmp_path, apt_body):
  """A PATH entry with `id` (root) and `apt-get` (``apt_body``) stubs."""
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  for name, body in (('id', 'echo 0'), ('apt-get', apt_body)):
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\n{body}\n'
                    if name == 'apt-get' else f'#!/bin/sh\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
  return bin_dir


def _provision(tmp_path, folder, bin_dir=None):
  env = dict(os.environ, MPL_JAX_FASHION_MNIST_DIR=str(folder))
  if bin_dir is not None:
    env['PATH'] = f'{bin_dir}{os.pathsep}{env["PATH"]}'
  return subprocess.run([SCRIPT], env=env, capture_output=True, text=True,
                        timeout=60, cwd=tmp_path)


def test_provisioning_keeps_files_that_are_there(tmp_path):
  folder = tmp_path / 'fmnist'
  folder.mkdir()
  for name in FILES:
    (folder / name).write_bytes(b'x')
  bin_dir = _fake_bin(tmp_path, 'exit 1')
  result = _provision(tmp_path, folder, bin_dir)
  assert result.returncode == 0, result.stderr
  assert 'present' in result.stdout
  assert not (tmp_path / 'calls').exists()  # apt-get not called


def test_provisioning_installs_missing_files_with_apt(tmp_path):
  folder = tmp_path / 'fmnist'
  install = (f'[ "$1" = install ] && mkdir -p {folder} && '
             + ' && '.join(f'touch {folder}/{n}' for n in FILES) + '; exit 0')
  result = _provision(tmp_path, folder, _fake_bin(tmp_path, install))
  assert result.returncode == 0, result.stderr
  assert 'installed' in result.stdout
  calls = (tmp_path / 'calls').read_text().splitlines()
  assert calls[0] == 'update -qq'
  assert calls[1] == 'install -y -qq dataset-fashion-mnist'
  assert all((folder / n).is_file() for n in FILES)


@pytest.mark.parametrize('apt', ['fails', 'absent'])
def test_provisioning_that_cannot_install_warns_and_succeeds(tmp_path, apt):
  folder = tmp_path / 'fmnist'
  if apt == 'fails':
    bin_dir = _fake_bin(tmp_path, 'exit 100')
    result = _provision(tmp_path, folder, bin_dir)
  else:  # A PATH with bash, `id` and nothing else: no apt-get, no sudo.
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in ('bash', 'id'):
      os.symlink(subprocess.run(['sh', '-c', f'command -v {tool}'],
                                capture_output=True, text=True,
                                check=True).stdout.strip(), bin_dir / tool)
    env = dict(os.environ, MPL_JAX_FASHION_MNIST_DIR=str(folder),
               PATH=str(bin_dir))
    result = subprocess.run(['bash', SCRIPT], env=env, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  warning = result.stderr.strip().splitlines()[-1]
  assert warning.startswith('warning: Fashion-MNIST files not in')
  assert 'apt-get install dataset-fashion-mnist' in warning
  assert 'skip' in warning
