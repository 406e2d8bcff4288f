r"""Runs the commands of the config docstrings and checks their "Expected".

  python3 -m launch.check_docs --list                 # every claim, no run
  python3 -m launch.check_docs --only=quickstart,calcium_neuron
  python3 -m launch.check_docs                        # tiers test and short
  python3 -m launch.check_docs --tier=long --root=runs/check_docs

Every config in ``configs/`` ends with ``DOC_CHECK``, the machine-readable
form of what its docstring claims: a tuple of entries, one per command,
each a dict with

* ``command``: the command as the docstring (or, where said, BUILD.md)
  writes it, ``python -m launch.main --config=... --workdir=...``; capital
  placeholders of the docstring (``:METHOD``) are filled in;
* ``tier``: ``'test'`` (tests/test_config_docs.py runs it), ``'short'``
  (under a minute measured, left out of the test suite for its time
  budget), ``'long'``, or ``'not_run'`` (needs data or hardware that the
  build machines lack: nothing measured);
* ``seconds``, ``measured``: the measured wall time and when, where and
  under which load; ``time_quote``: the docstring's words for that time;
* ``claims``: each a dict with ``metric`` (a path into the run's
  ``summary.json``, ``/``-separated; ``report/...`` calls the config's own
  ``report(workdir)`` instead; a leaf ``{mean, std}`` gives its mean),
  ``scale`` (100: fractions shown in %), and either ``expected`` with
  ``spread`` and ``spread_kind`` (``'std'`` / ``'sem'`` over the seeds:
  a re-run's mean must fall within two of them; ``'tolerance'``: within
  it) or ``greater`` (another metric path that this one must exceed, by
  ``margin`` if given); ``quote``: the docstring's own words for it (the
  numbers ``expected`` and ``spread`` must be among the quote's numbers);
  ``source``: ``'BUILD.md'`` where the claim is quoted from there instead.

``--list`` prints every entry, ``--markdown`` the table of BUILD.md's "Long
commands" (a test checks that BUILD.md holds it); without either the selected commands run (one
workdir per entry under ``--root``; a finished continual run resumes at its
end, so a second call only re-reads it) and each claim is printed as
measured vs expected with PASS / FAIL. ``--tier`` defaults to ``test,short``
(a few minutes; with ``--only``, every measured tier of those configs), so
nothing long runs unasked (BUILD.md, "Long commands", lists every command
with its time); the exit status is 1 if a claim fails.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Any, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIERS = ('test', 'short', 'long', 'not_run')
STD_FACTOR = 2.0  # a re-run's mean may differ by two stated std or SEM

_NUMBER = re.compile(r'(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?')
_PLACEHOLDER = re.compile(r'\\\$[A-Z]+|[A-Z][A-Z_]{2,}')


def config_names() -> list[str]:
  """Every config module of configs/ (not ``__init__``)."""
  return sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, 'configs'))
                if f.endswith('.py') and not f.startswith('_'))


def module(name: str):
  return importlib.import_module(f'configs.{name}')


def blocks() -> dict[str, tuple]:
  """config name -> its ``DOC_CHECK`` (KeyError-free: missing = None)."""
  return {n: getattr(module(n), 'DOC_CHECK', None) for n in config_names()}


def squash(text: str) -> str:
  """Whitespace runs to one space (docstrings wrap lines anywhere)."""
  return ' '.join(text.split())


def numbers(text: str) -> list[float]:
  """The numbers written in ``text`` (``1,804`` is one number)."""
  text = re.sub(r'(?<=\d),(?=\d{3}\b)', '', text)
  return [float(x) for x in _NUMBER.findall(text)]


def docstring_commands(text: str) -> list[str]:
  """The shell commands written in ``text``: lines from ``python`` on,
  backslash continuations joined, whitespace squashed, ``python3`` read as
  ``python``, a trailing ``# comment`` dropped."""
  out = []
  lines = text.splitlines()
  i = 0
  while i < len(lines):
    line = lines[i]
    m = re.search(r'\bpython3? (-m |configs/)', line)
    if m:
      cmd = line[m.start():]
      while cmd.rstrip().endswith('\\') and i + 1 < len(lines):
        i += 1
        cmd = cmd.rstrip()[:-1] + ' ' + lines[i].strip()
      cmd = re.sub(r'\s+#.*$', '', cmd).strip().rstrip('`').strip()
      out.append(normalize(cmd))
    i += 1
  return out


def normalize(cmd: str) -> str:
  cmd = squash(cmd.replace('``', ''))
  return re.sub(r'^python3 ', 'python ', cmd)


def matches(cmd: str, template: str) -> bool:
  """``cmd`` is ``template`` with its capital placeholders (``METHOD``,
  ``$H``) filled in by non-blank text."""
  pattern = _PLACEHOLDER.sub(r'[^\\s]+', re.escape(template))
  return re.fullmatch(pattern, normalize(cmd)) is not None


def source_text(name: str, entry_or_claim: dict) -> str:
  if entry_or_claim.get('source') == 'BUILD.md':
    with open(os.path.join(ROOT, 'BUILD.md')) as f:
      return f.read()
  return module(name).__doc__ or ''


def launch_args(command: str, workdir: Optional[str] = None) -> list[str]:
  """The flags of a ``python -m launch.main ...`` command; ``--workdir``
  replaced by ``workdir`` if given."""
  words = shlex.split(command)
  if words[:3] != ['python', '-m', 'launch.main'] and \
      words[:3] != ['python3', '-m', 'launch.main']:
    raise ValueError(f'not a launch.main command: {command}')
  args = words[3:]
  if workdir is not None:
    args = [a for a in args if not a.startswith('--workdir=')]
    args.append(f'--workdir={workdir}')
  return args


def parse_launch_args(args: Sequence[str]):
  """Parses ``args`` with launch.main's own flags (a fresh FlagValues, the
  same config_flags loader), validates the config with launch.main's
  validator and returns it. Raises on a bad flag, field, type or value."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from launch import main as launch_main  # pylint: disable=g-import-not-at-top
  argv = ['launch.main'] + list(args)
  fv = flags.FlagValues()
  for name, flag in launch_main.FLAGS._flags().items():  # pylint: disable=protected-access
    if name != 'config' and name == flag.name and name not in fv:
      fv[name] = copy.deepcopy(flag)
  config_flags.DEFINE_config_file('config', None, flag_values=fv,
                                  lock_config=True, sys_argv=argv)
  cwd = os.getcwd()
  os.chdir(ROOT)  # config paths are relative to the repository root
  try:
    fv(argv)
    launch_main.validate(fv.config)
  finally:
    os.chdir(cwd)
  return fv.config


def lookup(tree: Any, path: str) -> float:
  """The number at ``path`` ('/'-separated keys or list indices); a
  ``{mean, std}`` leaf gives its mean."""
  node = tree
  for seg in path.split('/'):
    if isinstance(node, dict):
      keys = {str(k): k for k in node}
      if seg not in keys:
        raise KeyError(f'{path}: no {seg!r} among {sorted(keys)}')
      node = node[keys[seg]]
    else:
      node = node[int(seg)]
  if isinstance(node, dict) and 'mean' in node:
    node = node['mean']
  return float(node)


def metric(name: str, workdir: str, path: str, cache: dict) -> float:
  if path.startswith('report/'):
    if 'report' not in cache:
      cache['report'] = module(name).report(workdir)
    return lookup(cache['report'], path[len('report/'):])
  if 'summary' not in cache:
    with open(os.path.join(workdir, 'summary.json')) as f:
      cache['summary'] = json.load(f)
  return lookup(cache['summary'], path)


def tolerance(claim: dict) -> float:
  kind = claim.get('spread_kind', 'std')
  if kind not in ('std', 'sem', 'tolerance'):
    raise ValueError(f'spread_kind {kind!r}: std, sem or tolerance')
  return claim['spread'] * (1.0 if kind == 'tolerance' else STD_FACTOR)


def check_claim(name: str, claim: dict, workdir: str,
                cache: dict) -> tuple[bool, str]:
  """(passed, one line: measured vs expected)."""
  scale = claim.get('scale', 1.0)
  got = scale * metric(name, workdir, claim['metric'], cache)
  if 'greater' in claim:
    other = scale * metric(name, workdir, claim['greater'], cache)
    margin = claim.get('margin', 0.0)
    ok = got > other + margin
    return ok, (f'{claim["metric"]} = {got:.4g} > {claim["greater"]} = '
                f'{other:.4g}' + (f' + {margin:g}' if margin else ''))
  tol = tolerance(claim)
  ok = abs(got - claim['expected']) <= tol
  return ok, (f'{claim["metric"]} = {got:.4g}; expected {claim["expected"]:g}'
              f' ± {tol:.3g} ({claim.get("spread_kind", "std")} '
              f'{claim["spread"]:g})')


def run_command(command: str, workdir: str,
                env: Optional[dict] = None) -> tuple[float, str]:
  """Runs a docstring command with ``workdir``; (seconds, stderr tail).
  Raises RuntimeError with the tail if it fails."""
  args = launch_args(command, workdir)
  t0 = time.time()
  p = subprocess.run([sys.executable, '-m', 'launch.main'] + args, cwd=ROOT,
                     env=env, capture_output=True, text=True, check=False)
  secs = time.time() - t0
  if p.returncode:
    raise RuntimeError(f'{command} exited {p.returncode}:\n'
                       f'{p.stderr[-3000:]}')
  return secs, p.stderr[-2000:]


def workdir_name(name: str, command: str) -> str:
  arg = re.search(r'--config=configs/\w+\.py:?(\S*)', command).group(1)
  return name + (('_' + re.sub(r'\W+', '_', arg)) if arg else '')


def selected(only: Sequence[str], tiers: Sequence[str]):
  """(config, entry) of the configs in ``only`` (all if empty) whose tier
  is in ``tiers``."""
  for name, block in blocks().items():
    if only and name not in only:
      continue
    for entry in block or ():
      if entry['tier'] in tiers:
        yield name, entry


def list_entries(only, tiers) -> None:
  for name, e in selected(only, tiers):
    print(f'{name} [{e["tier"]}] {e["command"]}')
    secs = e.get('seconds')
    print(f'  measured: {f"{secs:g} s, " if secs else ""}'
          f'{e.get("measured") or "never"}')
    for c in e.get('claims', ()):
      if 'greater' in c:
        print(f'  claim: {c["metric"]} > {c["greater"]}')
      else:
        print(f'  claim: {c["metric"]} = {c["expected"]:g} '
              f'({c.get("spread_kind", "std")} {c["spread"]:g})')


_NAMES = ((r'^(sweep/groups/|report/)', ''), (r'/final_accuracy_per_task/mean/0',
                                                  ' task 1 at the end'),
          (r'/items/', ' '), (r'/', ' '), (r'_', ' '))


def claim_text(c: dict) -> str:
  """A claim in a few words: ``meta=0.0 average accuracy 36.9 ± 0.9 %
  (std)``; a claim's ``label`` names its metric where the path does not."""
  def name(path, label=None):
    if label:
      return label
    for pattern, repl in _NAMES:
      path = re.sub(pattern, repl, path)
    return path.strip()
  unit = ' %' if c.get('scale') == 100 else ''
  if 'greater' in c:
    margin = f' + {c["margin"]:g}{unit}' if c.get('margin') else ''
    return (f'{name(c["metric"], c.get("label"))} > '
            f'{name(c["greater"], c.get("than_label"))}{margin}')
  return (f'{name(c["metric"], c.get("label"))} {c["expected"]:g} ± '
          f'{c["spread"]:g}{unit} ({c.get("spread_kind", "std")})')


def markdown_table() -> str:
  """BUILD.md's "Long commands" table: one row per DOC_CHECK entry."""
  rows = ['| config | tier | command | expected (mean ± accepted deviation) '
          '| measured time | when, where |', '|---|---|---|---|---|---|']
  for name, e in selected((), TIERS):
    secs = e.get('seconds')
    time_ = (f'{secs / 60:.3g} min' if secs and secs >= 120 else
             f'{secs:g} s' if secs else 'not run')
    claims = '; '.join(claim_text(c) for c in e.get('claims', ())) or '—'
    rows.append(f'| `{name}` | {e["tier"]} | `{e["command"]}` | '
                f'{claims} | {time_} | {e.get("measured") or "not run here"} |')
  return '\n'.join(rows)


def main(argv: Sequence[str]) -> int:
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog='launch.check_docs', description=__doc__.split('\n\n')[0])
  parser.add_argument('--list', action='store_true',
                      help='print every entry and claim, run nothing')
  parser.add_argument('--only', default='',
                      help='comma-separated config names (any tier)')
  parser.add_argument('--tier', default='',
                      help=f'comma-separated tiers among {TIERS}; default '
                      'test,short, or every measured tier with --only')
  parser.add_argument('--markdown', action='store_true',
                      help="print BUILD.md's Long commands table, run nothing")
  parser.add_argument('--root', default='runs/check_docs',
                      help='folder of the workdirs, one per command')
  a = parser.parse_args(argv)
  only = [x for x in a.only.split(',') if x]
  tiers = [x for x in a.tier.split(',') if x] or (
      ['test', 'short', 'long'] if only else ['test', 'short'])
  if a.list and not a.tier:
    tiers = list(TIERS)
  bad = [t for t in tiers if t not in TIERS] + [
      n for n in only if n not in config_names()]
  if bad:
    parser.error(f'unknown tier or config: {", ".join(bad)}')
  if a.markdown:
    print(markdown_table())
    return 0
  if a.list:
    list_entries(only, tiers)
    return 0
  failed = 0
  for name, e in selected(only, tiers):
    if e['tier'] == 'not_run' or not e.get('claims'):
      print(f'SKIP {name}: {e["command"]} (nothing measured to compare)')
      continue
    workdir = os.path.join(a.root, workdir_name(name, e['command']))
    print(f'RUN  {name}: {e["command"]} (workdir {workdir}; measured '
          f'{e.get("seconds", "?")} s: {e.get("measured")})', flush=True)
    try:
      secs, _ = run_command(e['command'], os.path.abspath(workdir))
    except RuntimeError as err:
      print(f'FAIL {name}: {err}')
      failed += 1
      continue
    print(f'     took {secs:.0f} s (load {os.getloadavg()[0]:.1f})')
    cache: dict = {}
    for c in e['claims']:
      ok, line = check_claim(name, c, os.path.abspath(workdir), cache)
      failed += not ok
      print(f'  {"PASS" if ok else "FAIL"} {line}')
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
