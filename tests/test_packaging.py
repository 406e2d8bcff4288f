"""Tests of the package definition: pyproject.toml, requirements.txt, a wheel
built from the checkout and installed elsewhere, and the installed package."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile

import pytest

import mpl_jax

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

needs_packaging = pytest.mark.skipif(
    importlib.util.find_spec('packaging') is None,
    reason='the `packaging` library is not installed')


def _can_build_offline():
  """setuptools>=64 (PEP 660), with bdist_wheel: built in from 70.1, else
  from the `wheel` package."""
  try:
    version = tuple(int(p) for p in re.findall(
        r'\d+', importlib.metadata.version('setuptools'))[:2])
  except importlib.metadata.PackageNotFoundError:
    return False
  return version >= (70, 1) or (
      version >= (64,) and importlib.util.find_spec('wheel') is not None)

needs_offline_build = pytest.mark.skipif(
    not _can_build_offline(),
    reason='building the wheel offline (--no-build-isolation) needs '
           'setuptools>=70.1, or setuptools>=64 and wheel, in this environment')


def _run(args, **kwargs):
  result = subprocess.run(args, capture_output=True, text=True, timeout=300,
                          **kwargs)
  assert result.returncode == 0, (
      f'{" ".join(args)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}')
  return result


def _pyproject():
  with open(os.path.join(REPO_ROOT, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)


def _pins():
  """``{normalized name: version}`` from requirements.txt."""
  pins = {}
  with open(os.path.join(REPO_ROOT, 'requirements.txt')) as f:
    for line in f:
      line = line.split('#', 1)[0].strip()
      if line:
        name, _, version = line.partition('==')
        assert version, f'requirements.txt: {line!r} is not pinned with =='
        pins[_normalize(name)] = version
  return pins


def _normalize(name):
  return re.sub(r'[-_.]+', '-', name).lower()


def test_pyproject_declares_the_package():
  project = _pyproject()['project']
  assert project['name'] == 'mpl_jax'
  assert project['dynamic'] == ['version']
  tool = _pyproject()['tool']['setuptools']
  assert tool['dynamic']['version'] == {'attr': 'mpl_jax.__version__'}
  assert tool['packages']['find']['include'] == ['mpl_jax*']
  assert re.fullmatch(r'\d+\.\d+\.\d+', mpl_jax.__version__)
  assert set(project['optional-dependencies']) >= {'data', 'tf', 'cuda', 'test'}


@needs_packaging
def test_tensorflow_only_in_the_tf_extra():
  from packaging.requirements import Requirement  # pylint: disable=g-import-not-at-top
  project = _pyproject()['project']
  groups = {'default': project['dependencies'],
            **project['optional-dependencies']}
  for group, requirements in groups.items():
    names = {_normalize(Requirement(r).name) for r in requirements}
    has_tf = bool(names & {'tensorflow', 'tensorflow-cpu'})
    assert has_tf == (group == 'tf'), (group, sorted(names))


@needs_packaging
def test_requirements_pin_every_dependency():
  """requirements.txt is the constraints file of every declared requirement:
  each one is pinned there, to a version its specifier accepts."""
  from packaging.requirements import Requirement  # pylint: disable=g-import-not-at-top
  project = _pyproject()['project']
  pins = _pins()
  requirements = list(project['dependencies'])
  for extra in project['optional-dependencies'].values():
    requirements += extra
  for text in requirements:
    req = Requirement(text)
    name = _normalize(req.name)
    assert name in pins, f'{req.name} is not pinned in requirements.txt'
    assert req.specifier.contains(pins[name], prereleases=True), (
        f'{req.name}=={pins[name]} does not satisfy {req.specifier}')


def _copy_sources(dest):
  """What a build needs, copied so that no build output lands in the repo."""
  os.makedirs(dest)
  for name in ('pyproject.toml', 'README.md'):
    shutil.copy(os.path.join(REPO_ROOT, name), dest)
  shutil.copytree(os.path.join(REPO_ROOT, 'mpl_jax'),
                  os.path.join(dest, 'mpl_jax'),
                  ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
  return dest


def _isolated_python(tmp_path, first_paths):
  """An interpreter that sees ``first_paths``, then this environment's
  site-packages as plain directories: no ``.pth`` of this environment runs,
  so an editable install of the checkout cannot shadow what is tested."""
  venv = tmp_path / 'venv'
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)],
                 check=True, timeout=120)
  python = venv / 'bin' / 'python'
  out = subprocess.run(
      [str(python), '-c', 'import site; print(site.getsitepackages()[0])'],
      check=True, capture_output=True, text=True, timeout=60)
  dirs = list(first_paths) + [p for p in site.getsitepackages()
                              if os.path.isdir(p)]
  with open(os.path.join(out.stdout.strip(), 'parent_env.pth'), 'w') as f:
    f.write('\n'.join(str(d) for d in dirs) + '\n')
  return str(python)


@needs_offline_build
def test_wheel_installs_and_imports_from_another_directory(tmp_path):
  """`pip install .` gives `import mpl_jax` anywhere (built offline here:
  --no-index --no-build-isolation --no-deps; dependencies come from this
  environment)."""
  src = _copy_sources(str(tmp_path / 'src'))
  wheels = tmp_path / 'wheels'
  pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check',
         '--no-input']
  _run(pip + ['wheel', '-q', '--no-deps', '--no-index', '--no-build-isolation',
              '-w', str(wheels), src], cwd=tmp_path)
  (wheel,) = wheels.glob('mpl_jax-*.whl')
  assert wheel.name.startswith(f'mpl_jax-{mpl_jax.__version__}-')
  with zipfile.ZipFile(wheel) as z:
    tops = {n.split('/')[0] for n in z.namelist()}
    names = set(z.namelist())
  assert tops == {'mpl_jax', f'mpl_jax-{mpl_jax.__version__}.dist-info'}
  assert {'mpl_jax/data/provision.py', 'mpl_jax/rules/__init__.py',
          'mpl_jax/train/__init__.py'} <= names
  target = tmp_path / 'site'
  _run(pip + ['install', '-q', '--no-deps', '--no-index', '--target',
              str(target), str(wheel)], cwd=tmp_path)
  python = _isolated_python(tmp_path, [target])
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['JAX_PLATFORMS'] = 'cpu'
  code = ('import importlib.metadata, importlib.util, json, mpl_jax\n'
          'print(json.dumps([mpl_jax.__file__, mpl_jax.__version__,\n'
          '    importlib.metadata.version("mpl_jax"),\n'
          '    importlib.util.find_spec("configs") is None,\n'
          '    importlib.util.find_spec("launch") is None,\n'
          '    callable(mpl_jax.metaplastic_adam)]))\n')
  result = _run([python, '-c', code], cwd=elsewhere, env=env)
  path, version, dist_version, no_configs, no_launch, ok = json.loads(
      result.stdout.strip().splitlines()[-1])
  assert path.startswith(str(target)), path
  assert version == dist_version == mpl_jax.__version__
  assert no_configs and no_launch and ok


def test_installed_package_imports_from_another_directory(tmp_path):
  """The install of this environment (`.ci/run`: `pip install -e .[data,test]`)
  serves `import mpl_jax` from any directory, at the checkout's version."""
  # Installed distributions only: not the checkout's own `mpl_jax.egg-info`
  # (left by an editable install), which is on sys.path during the tests.
  paths = [p for p in sys.path if os.path.abspath(p or '.') != REPO_ROOT]
  dists = list(importlib.metadata.distributions(name='mpl_jax', path=paths))
  if not dists:
    pytest.skip('mpl_jax is not installed in this environment '
                '(python3 -m pip install -c requirements.txt -e ".[data]")')
  dist = dists[0]
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['JAX_PLATFORMS'] = 'cpu'
  result = _run(
      [sys.executable, '-c',
       'import mpl_jax; print(mpl_jax.__file__); print(mpl_jax.__version__)'],
      cwd=tmp_path, env=env)
  path, version = result.stdout.strip().splitlines()[-2:]
  assert version == dist.version == mpl_jax.__version__
  direct_url = dist.read_text('direct_url.json')
  editable = bool(direct_url and json.loads(direct_url).get(
      'dir_info', {}).get('editable'))
  if editable and json.loads(direct_url)['url'] == 'file://' + REPO_ROOT:
    assert path == os.path.join(REPO_ROOT, 'mpl_jax', '__init__.py')
