"""Every ``>>>`` example in mpl_jax's docstrings runs (doctest).

The modules are found by walking the package, so a new module's examples are
run without listing it here. Examples that need files or a network mark
those lines ``# doctest: +SKIP``.
"""

import doctest
import importlib
import pkgutil

import pytest

import mpl_jax


def _examples():
  finder = doctest.DocTestFinder(exclude_empty=True)
  found = []
  for info in pkgutil.walk_packages(mpl_jax.__path__, 'mpl_jax.'):
    module = importlib.import_module(info.name)
    for test in finder.find(module):
      if test.examples and test.name.startswith(module.__name__):
        found.append(test)
  return sorted(found, key=lambda t: t.name)


EXAMPLES = _examples()


def test_examples_are_found():
  assert {t.name for t in EXAMPLES} >= {
      'mpl_jax.rules.metaplasticity.scale_by_metaplasticity',
      'mpl_jax.rules.engram.scale_by_engram_gate'}


@pytest.mark.parametrize('test', EXAMPLES, ids=lambda t: t.name)
def test_docstring_example_runs(test):
  runner = doctest.DocTestRunner(
      optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
  out = []
  result = runner.run(test, out=out.append, clear_globs=True)
  assert not result.failed, ''.join(out)
