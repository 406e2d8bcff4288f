"""What a config's docstring claims is what its command gives (issue 22).

Every config ends with ``DOC_CHECK`` (its docstring's commands and
"Expected" as data; format in ``launch/check_docs.py``). Cheap tests: every
config has one, it agrees with the docstring's words (the command is one the
docstring writes, every number is quoted from it) and every command the
docstrings write parses with launch.main's own flags and validator (a typo
fails here). Then the commands of tier ``'test'`` (measured under a minute
on the 2-core CPU) run as written, in a temporary workdir, and each claim is
checked against the run's outputs: a mean within two stated standard
deviations, a value within a stated tolerance, an ordering. The longer
commands: ``python3 -m launch.check_docs`` (BUILD.md, "Long commands").
"""

import pytest

from launch import check_docs as cd

BLOCKS = cd.blocks()
ENTRIES = [(name, e) for name, block in BLOCKS.items() for e in block or ()]
IDS = [f'{n}:{e["command"].split("--config=configs/")[1].split()[0]}'
       for n, e in ENTRIES]


def _quotes(claim):
  q = claim['quote']
  return (q,) if isinstance(q, str) else tuple(q)


def test_every_config_has_a_check_block():
  assert set(BLOCKS) == set(cd.config_names())
  for name, block in BLOCKS.items():
    assert isinstance(block, tuple), f'{name}: no DOC_CHECK tuple'
    # default.py is the base the others override: it runs nothing itself.
    assert block or name == 'default', f'{name}: DOC_CHECK is empty'
  for name, e in ENTRIES:
    assert e['tier'] in cd.TIERS, (name, e['tier'])
    if e['tier'] != 'not_run':
      assert e['seconds'] > 0 and e['measured'] and e['claims'], name
    if e['tier'] == 'test':
      assert e['seconds'] < 60, f'{name}: tier test must take under a minute'
    for c in e.get('claims', ()):
      assert c['metric'] and _quotes(c), (name, c)
      assert ('greater' in c) != ('expected' in c), (name, c)
      if 'expected' in c:
        assert cd.tolerance(c) > 0, (name, c)


@pytest.mark.parametrize('name,entry', ENTRIES, ids=IDS)
def test_check_block_agrees_with_the_docstring(name, entry):
  text = cd.source_text(name, entry)
  written = cd.docstring_commands(text)
  assert any(cd.matches(entry['command'], t) for t in written), (
      f'{name}: {entry["command"]!r} is not among the commands written '
      f'there: {written}')
  flat = cd.squash(text)
  if entry.get('time_quote'):
    assert cd.squash(entry['time_quote']) in flat, entry['time_quote']
    found = cd.numbers(entry['time_quote'])
    assert entry['seconds'] in found or entry['seconds'] / 60 in found, (
        name, entry['seconds'], entry['time_quote'])
  for c in entry.get('claims', ()):
    text_c = cd.squash(cd.source_text(name, c)) if c.get('source') else flat
    found = []
    for q in _quotes(c):
      assert cd.squash(q) in text_c, f'{name}: quote not in the text: {q!r}'
      found += cd.numbers(q)
    for key in ('expected', 'spread', 'margin'):
      if key in c:
        assert c[key] in found, (f'{name}: {key} {c[key]} is not in '
                                 f'{_quotes(c)}')


def test_every_docstring_command_parses():
  """Each launch.main command written in a config docstring (and each
  DOC_CHECK command) parses and validates: a misspelled flag, field, value
  or config name fails. A command with placeholders (``:METHOD``) is
  checked through the DOC_CHECK entries that fill them in."""
  checked = set()
  for name, e in ENTRIES:
    cd.parse_launch_args(cd.launch_args(e['command'], workdir='unused'))
    checked.add(cd.normalize(e['command']))
  for name in cd.config_names():
    for cmd in cd.docstring_commands(cd.module(name).__doc__ or ''):
      if not cmd.startswith('python -m launch.main') or '...' in cmd:
        continue  # another program, or an elided example
      if cd._PLACEHOLDER.search(cmd.replace('$', '\\$')):  # pylint: disable=protected-access
        assert any(cd.matches(c, cmd) for c in checked), (
            f'{name}: no DOC_CHECK entry fills in {cmd!r}')
      elif cmd not in checked:
        cd.parse_launch_args(cd.launch_args(cmd, workdir='unused'))


def test_a_typo_in_a_command_fails():
  good = 'python -m launch.main --config=configs/quickstart.py --workdir=w'
  cd.parse_launch_args(cd.launch_args(good))
  for bad in (good.replace('quickstart', 'quickstrat'),
              good + ' --config.num_seed=3',
              good + ' --config.num_seeds=three',
              good + ' --workdri=w',
              good + ' --config.num_seeds=0'):
    with pytest.raises(Exception):
      cd.parse_launch_args(cd.launch_args(bad))
  assert cd.matches('python3 -m launch.main --config=configs/x.py:sgd',
                    'python -m launch.main --config=configs/x.py:METHOD')
  assert not cd.matches('python -m launch.main --config=configs/y.py:sgd',
                        'python -m launch.main --config=configs/x.py:METHOD')


RUN = [(n, e) for n, e in ENTRIES if e['tier'] == 'test']


@pytest.mark.parametrize('name,entry', RUN,
                         ids=[n for n, _ in RUN])
def test_command_gives_what_the_docstring_expects(name, entry, tmp_path):
  secs, _ = cd.run_command(entry['command'], str(tmp_path / 'run'))
  cache = {}
  results = [cd.check_claim(name, c, str(tmp_path / 'run'), cache)
             for c in entry['claims']]
  print(f'{name}: {secs:.0f} s')
  for ok, line in results:
    print(('PASS ' if ok else 'FAIL ') + line)
  assert all(ok for ok, _ in results), [l for ok, l in results if not ok]
