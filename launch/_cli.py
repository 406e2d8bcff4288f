"""How the launch commands refuse: one line on stderr, exit status 2.

Every ``launch`` program starts through :func:`run` instead of
``absl.app.run``::

  if __name__ == '__main__':
    _cli.run(main, check=validate_flags)

A refusal is an input the program will not run with: a flag or config
override that does not parse (``--config.num_seeds=abc``), an unknown config
field (``--config.nonexistent_field=1``, answered with the closest existing
names), a config file that does not exist or refuses its argument, a
:class:`~mpl_jax.config_checks.ConfigError` from a validator, an
``app.UsageError``, a :class:`Refusal`, or an exception type the program
declares (``refusals=``). It prints one line::

  launch.main: error: config.num_seeds='abc': expected an integer (...)

naming the field, the value and what is allowed, and exits with status 2
(the usage status of argparse and most Unix tools), without a traceback;
``--verbose_errors`` prints the traceback too. Any other exception is a bug
and keeps its traceback. ``--only_check_args`` parses the flags, runs
``check`` (the program's validation) and exits 0 only when both pass.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import traceback
from typing import Any, Callable, Optional, Sequence

from absl import app
from absl import flags
import ml_collections

FLAGS = flags.FLAGS
USAGE_EXIT = 2

flags.DEFINE_bool('verbose_errors', False,
                  'On a refused command line or config, print the traceback '
                  'as well as the one-line reason.')


class Refusal(Exception):
  """An input the command refuses; its message is the one line printed."""


# --------------------------------------------------------------------------
# Config fields: names, types, closest matches.


def field_paths(cfg, prefix: str = '') -> list[str]:
  """Every dotted field path of a ConfigDict (groups and leaves)."""
  out = []
  for k, v in cfg.items():
    path = f'{prefix}{k}'
    out.append(path)
    if isinstance(v, ml_collections.ConfigDict):
      out += field_paths(v, path + '.')
  return out


def closest_fields(path: str, cfg, n: int = 4) -> list[str]:
  """The existing fields closest to an unknown ``path`` (difflib).

  Fields anywhere whose name is close (``batch_size`` ->
  ``protocol.batch_size``) first, then the closest fields of the deepest
  group of ``path`` that exists.
  """
  parts = path.split('.')
  node, parent = cfg, []
  for p in parts[:-1]:
    if isinstance(node, ml_collections.ConfigDict) and p in node:
      node = node[p]
      parent.append(p)
    else:
      break
  wanted = parts[len(parent)]
  prefix = '.'.join(parent) + '.' if parent else ''
  names = ({prefix + k: k for k in node.keys()}
           if isinstance(node, ml_collections.ConfigDict) else {})
  leaf = {p: p.rsplit('.', 1)[-1] for p in field_paths(cfg)}
  out = []
  for p in difflib.get_close_matches(parts[-1], list(set(leaf.values())),
                                     n=2, cutoff=0.75):
    out += [q for q, l in leaf.items() if l == p]
  near = difflib.get_close_matches(wanted, list(names.values()), n=n,
                                   cutoff=0.0)
  out += [prefix + k for k in near if prefix + k not in out]
  return out[:n]


def _lookup(cfg, path: str) -> tuple[bool, Any]:
  node = cfg
  for p in path.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or p not in node:
      return False, None
    node = node[p]
  return True, node


def allowed(value: Any, given: str = '') -> str:
  """What a field holding ``value`` accepts on the command line (``given``:
  the refused text, for a hint)."""
  if isinstance(value, bool):
    return 'True or False'
  if isinstance(value, int):
    try:
      x = float(given)
    except ValueError:
      x = None
    if x is not None and x.is_integer():
      return ('an integer, written without a decimal point or exponent '
              f'({int(x)})')
    return 'an integer'
  if isinstance(value, float):
    return 'a number (e.g. 0.005 or 5e-3)'
  if isinstance(value, str):
    return 'a string'
  if isinstance(value, (tuple, list)):
    return 'a tuple, e.g. "(1, 2)"'
  if isinstance(value, ml_collections.ConfigDict):
    return 'a group of fields: set its fields one by one'
  return f'a {type(value).__name__}'


# --------------------------------------------------------------------------
# Flag parsing.


def _config_arg(argv: Sequence[str], name: str = 'config') -> Optional[str]:
  """The value of the last ``--config=...`` (or ``--config ...``) in argv."""
  found = None
  for i, a in enumerate(argv):
    if a.startswith(f'--{name}='):
      found = a.split('=', 1)[1]
    elif a == f'--{name}' and i + 1 < len(argv):
      found = argv[i + 1]
  return found


def _overrides(argv: Sequence[str], name: str = 'config') -> dict[str, str]:
  """``{'num_seeds': 'abc'}`` for ``--config.num_seeds=abc`` in argv."""
  out = {}
  for a in argv:
    m = re.match(rf'^--?(no)?{name}\.([\w.]+)(?:=(.*))?$', a)
    if m:
      out[m.group(2)] = (m.group(3) if m.group(3) is not None
                         else str(not m.group(1)))
  return out


def _load_config(argv: Sequence[str], name: str = 'config'):
  """The config file of argv, without overrides (None if it cannot load)."""
  arg = _config_arg(argv, name)
  if arg is None or name not in FLAGS:
    return None
  try:
    cfg = FLAGS[name].parser.parse(arg)
  except Exception:  # pylint: disable=broad-except
    return None
  return cfg if isinstance(cfg, ml_collections.ConfigDict) else None


def _check_config_file(argv: Sequence[str], name: str = 'config') -> None:
  """Refuses a --config file that does not exist, naming the configs."""
  arg = _config_arg(argv, name)
  if arg is None or name not in FLAGS:
    return
  path = arg.split(':', 1)[0]
  if os.path.isfile(path):
    return
  folder = os.path.dirname(path) or '.'
  known = (sorted(f for f in os.listdir(folder) if f.endswith('.py')
                  and not f.startswith('_'))
           if os.path.isdir(folder) else [])
  near = difflib.get_close_matches(os.path.basename(path), known, n=3,
                                   cutoff=0.0)
  hint = (f'closest in {folder}/: {", ".join(near)}' if near else
          'give the path of a config file, e.g. configs/quickstart.py')
  raise Refusal(f'--{name}={arg}: no such config file; {hint}.')


def _unknown_field(argv: Sequence[str], name: str = 'config') -> Optional[str]:
  """The refusal line for the first override naming no existing field."""
  cfg = _load_config(argv, name)
  if cfg is None:
    return None
  for path, value in _overrides(argv, name).items():
    found, _ = _lookup(cfg, path)
    if not found:
      near = ', '.join(f'{name}.{p}' for p in closest_fields(path, cfg))
      return (f'{name}.{path}={value}: no such field in {_config_arg(argv)}; '
              f'closest existing: {near}.')
  return None


def _describe_flag_error(e: Exception, argv: Sequence[str]) -> str:
  """One line for an absl flag-parsing error."""
  msg = str(e)
  if isinstance(e, flags.UnrecognizedFlagError):
    return _unknown_flag(e.flagname, argv)
  m = re.match(r'^flag --([\w.]+)=(.*?): (.*)$', msg, re.S)
  if not m:
    return msg.strip().splitlines()[-1] if msg.strip() else type(e).__name__
  flag, value, why = m.groups()
  if value == 'None' and 'other than None' in why and flag in FLAGS:
    return f'--{flag} is required: {FLAGS[flag].help}'
  if '.' in flag:  # a config override
    group, path = flag.split('.', 1)
    cfg = _load_config(argv, group)
    found, current = _lookup(cfg, path) if cfg is not None else (False, None)
    if found:
      return (f'{flag}={value!r}: expected {allowed(current, value)}; the '
              f'config sets {current!r}.')
    return f'{flag}={value!r}: {why.strip().splitlines()[0]}'
  # A flag of its own, or the config file refusing its argument: the last
  # line of the message is the reason (config_flags puts a traceback
  # before it).
  last = why.strip().splitlines()[-1].strip() if why.strip() else why
  return f'--{flag}={value}: {last}'


def _unknown_flag(name: str, argv: Sequence[str]) -> str:
  """``--num_seeds``: no such flag; the closest flags and config fields."""
  cfg = _load_config(argv)
  options = [f'--{f}' for f in FLAGS if not f.startswith('config.')]
  if cfg is not None:
    options += [f'--config.{p}' for p in field_paths(cfg)]
  by_leaf = {}
  for o in options:
    by_leaf.setdefault(o.rsplit('.', 1)[-1].lstrip('-'), []).append(o)
  near = [o for n in difflib.get_close_matches(name, list(by_leaf), n=3,
                                               cutoff=0.6)
          for o in by_leaf[n]]
  hint = (f'did you mean {" or ".join(near[:3])}?' if near else
          'see --helpshort for the flags, --dry_run for the config fields.')
  return f'--{name}: no such flag; {hint}'


def _verbose(argv: Sequence[str]) -> bool:
  for a in argv:
    if a in ('--verbose_errors', '--verbose_errors=true',
             '--verbose_errors=True', '--verbose_errors=1'):
      return True
  return False


def refuse(prog: str, line: str, verbose: bool = False) -> None:
  """Prints ``<prog>: error: <line>`` (and the traceback if ``verbose``),
  then exits with :data:`USAGE_EXIT`."""
  if verbose and sys.exc_info()[0] is not None:
    traceback.print_exc()
  line = ' '.join(line.split())  # one line, whatever the message held
  print(f'{prog}: error: {line}', file=sys.stderr)
  sys.exit(USAGE_EXIT)


def _prog(argv: Sequence[str]) -> str:
  main = sys.modules.get('__main__')
  spec = getattr(main, '__spec__', None)
  if spec is not None and spec.name:
    return spec.name
  return os.path.basename(argv[0]) if argv else 'launch'


# --------------------------------------------------------------------------
# The refusals of a program's main, and the entry point.


def name_the_field(msg: str, config=None,
                   overrides: Optional[dict[str, str]] = None) -> str:
  """Prefixes ``config.<field>=<value>: `` to a message naming no field.

  A validator's message such as ``unknown dataset 'foo'; known: [...]``
  says the value but not where it is: the field is the command-line
  override (else the config field) whose value the message quotes.
  """
  if 'config.' in msg or '--' in msg:
    return msg
  for path, value in (overrides or {}).items():
    if repr(value) in msg or (len(value) > 2 and re.search(
        rf'(?<![\w.]){re.escape(value)}(?![\w.])', msg)):
      return f'config.{path}={value}: {msg}'
  if config is not None:
    for path in field_paths(config):
      _, v = _lookup(config, path)
      if isinstance(v, str) and v and repr(v) in msg:
        return f'config.{path}={v!r}: {msg}'
  return msg


def run(main: Callable[[list[str]], Any], *,
        check: Optional[Callable[[], None]] = None,
        refusals: Sequence[type[BaseException] | str] = (),
        prog: Optional[str] = None) -> None:
  """``app.run(main)`` with one-line refusals (see the module docstring).

  Args:
    main: the program's ``main(argv)``.
    check: validates the parsed flags (e.g. the config) without running
      anything; called under ``--only_check_args`` (``main`` is not), so
      that an invalid value is refused there too.
    refusals: more exception types that mean "bad input" for this program
      (e.g. a missing dataset), reported like a ConfigError: a type, or
      ``'module:Name'`` so that the module need not be imported up front.
    prog: the name the refusal line starts with (default: the module run
      with ``python -m``).
  """
  def caught() -> tuple[type[BaseException], ...]:
    # Resolved when something was raised, from the modules loaded by then:
    # a refusal on the command line is answered before mpl_jax (and JAX)
    # is imported, and an exception type whose module was never imported
    # cannot have been raised.
    out = [app.UsageError, Refusal]
    for r in list(refusals) + ['mpl_jax.config_checks:ConfigError']:
      if isinstance(r, str):
        module, name = r.split(':')
        r = getattr(sys.modules.get(module), name, None)
      if r is not None:
        out.append(r)
    return tuple(out)

  argv = list(sys.argv)
  prog = prog or _prog(argv)
  verbose = _verbose(argv)

  def explain(e: BaseException) -> str:
    msg = str(e) or type(e).__name__
    cfg = None
    try:
      cfg = FLAGS.config if 'config' in FLAGS and FLAGS.is_parsed() else None
    except Exception:  # pylint: disable=broad-except
      cfg = None
    if not isinstance(cfg, ml_collections.ConfigDict):
      cfg = None
    return name_the_field(msg, cfg, _overrides(argv))

  def parse(args):
    try:
      _check_config_file(args)
      rest = FLAGS(args)
    except flags.Error as e:
      refuse(prog, _describe_flag_error(e, args), verbose)
    except (AttributeError, KeyError) as e:
      line = _unknown_field(args)
      if line is None:
        raise  # not an unknown field: a bug, keep the traceback
      refuse(prog, line, verbose)
    except Refusal as e:
      refuse(prog, str(e), verbose)
    if check is not None and FLAGS.only_check_args:
      try:
        check()
      except Exception as e:  # pylint: disable=broad-except
        if not isinstance(e, caught()):
          raise
        refuse(prog, explain(e), verbose)
    return rest

  def guarded(args):
    try:
      return main(args)
    except Exception as e:  # pylint: disable=broad-except
      if not isinstance(e, caught()):
        raise
      refuse(prog, explain(e), verbose or FLAGS.verbose_errors)

  app.run(guarded, argv=argv, flags_parser=parse)
