"""`xla='auto'`: compile the training step with XLA only where XLA is faster.

Which compiler wins depends on the CPU. On an AVX-512 Xeon, oneDNN's
kernels trained resnet_v2_50 faster than XLA's code (XLA 0.69x); on an
AVX2 EPYC, Keras 3 with XLA reached 80% of the matmul peak where the same
graph without it reached 67% (BENCHMARKS.md). So `xla='auto'` measures:
training steps of the model's own graph in two sessions, one compiled by
XLA and one not, timed in alternating rounds so that the machine's drift
falls on both. XLA must be faster by more than `MARGIN` to be chosen; a tie
goes to the session that compiles nothing.

The verdict is cached per CPU (model name, vendor, family, model and
stepping, ISA features, cores), the environment variables that change which
code runs (`hardware.SPEED_VARIABLES`: XLA's and oneDNN's flags),
TensorFlow version, network, input shape, batch, precision and threads in
`xla.json` under `cache_dir()` (`$RESNET_TF1_CACHE`, else
`~/.cache/resnet-tf1`), so each setting is measured once per machine.

Typical use (the trainer does this when it opens its session):

  use_xla, message = xla_choice.choose(model, init_op)
  cfg = model.config.replace(xla=use_xla)
"""

import json
import os
import statistics
import time

import numpy as np

from resnet_v1_graph.nets import registry
from resnet_v1_graph.training import hardware
from resnet_v1_graph.training import session as session_lib

# XLA must cut the step by more than this fraction to be chosen: compiling
# costs seconds at every start, and smaller gains drift from run to run.
MARGIN = 0.05
WARMUP_STEPS = 2  # the first compiles; the second settles thread pools
ROUNDS = 3
STEPS_PER_ROUND = 3
CACHE_FILE = 'xla.json'


def cache_dir():
  return os.environ.get('RESNET_TF1_CACHE') or os.path.join(
      os.path.expanduser('~'), '.cache', 'resnet-tf1')


def cache_key(cfg):
  """What decides the verdict: the machine and everything that shapes a
  training step."""
  cpu = hardware.machine()
  network = (cfg.model if cfg.model != registry.CLASSIC
             else '%s%d' % (registry.CLASSIC, cfg.depth))
  return '|'.join(str(part) for part in (
      cpu['cpu'], cpu['signature'], ','.join(cpu['isa']), cpu['cores'],
      hardware.describe_environment(cpu), cpu['tensorflow'],
      network, '%dx%dx%d' % (cfg.height, cfg.width, cfg.channel),
      'classes %d' % cfg.num_classes, 'batch %d' % cfg.batch_size,
      'clones %d' % cfg.num_clones, cfg.precision,
      'threads %d/%d' % (cfg.intra_op_threads, cfg.inter_op_threads)))


def _read_cache(path):
  try:
    with open(path, encoding='utf-8') as f:
      cached = json.load(f)
  except (OSError, ValueError):  # none yet, or unreadable: measure again
    return {}
  return cached if isinstance(cached, dict) else {}


def _write_cache(path, key, entry):
  cached = _read_cache(path)
  cached[key] = entry
  os.makedirs(os.path.dirname(path), exist_ok=True)
  partial = '%s.%d.partial' % (path, os.getpid())
  with open(partial, 'w', encoding='utf-8') as f:
    json.dump(cached, f, indent=1, sort_keys=True)
  os.replace(partial, path)


def _feed(model, cfg, rng):
  """A training-mode feed of random images and labels."""
  batch = cfg.batch_size * cfg.num_clones
  images = rng.uniform(size=(batch, cfg.height, cfg.width, cfg.channel))
  labels = np.eye(cfg.num_classes)[rng.randint(0, cfg.num_classes, batch)]
  return {model.input_x: images.astype(np.float32), model.input_y: labels,
          model.is_training: True}


def measure(model, init_op, cfg):
  """Median seconds per training step without and with XLA.

  Returns:
    {'default': seconds, 'xla': seconds}.
  """
  feed = _feed(model, cfg, np.random.RandomState(0))
  sessions = {}
  try:
    for mode in ('default', 'xla'):
      sessions[mode] = session_lib.open_session(
          model.graph, cfg.replace(xla=mode == 'xla'))
      sessions[mode].run(init_op)
      for _ in range(WARMUP_STEPS):
        sessions[mode].run(model.optimize, feed)
    seconds = {mode: [] for mode in sessions}
    for _ in range(ROUNDS):
      for mode, session in sessions.items():
        started = time.perf_counter()
        for _ in range(STEPS_PER_ROUND):
          session.run(model.optimize, feed)
        seconds[mode].append((time.perf_counter() - started) /
                             STEPS_PER_ROUND)
  finally:
    for session in sessions.values():
      session.close()
  return {mode: statistics.median(times) for mode, times in seconds.items()}


def verdict(step_seconds):
  """True if XLA's step beats the default one by more than `MARGIN`."""
  return step_seconds['xla'] < (1 - MARGIN) * step_seconds['default']


def choose(model, init_op, measure_steps=measure):
  """Whether to train `model` with XLA on this machine, and why.

  Args:
    model: A `model.GraphModel` whose config has `xla='auto'`.
    init_op: The op that initialises its variables.
    measure_steps: `measure` (replaceable for tests).

  Returns:
    (use_xla, message): a bool, and one line saying what was chosen, from
    which times, measured now or when.
  """
  cfg = model.config
  path = os.path.join(cache_dir(), CACHE_FILE)
  key = cache_key(cfg)
  entry = _read_cache(path).get(key)
  if not (isinstance(entry, dict) and isinstance(entry.get('step_ms'), dict)
          and {'default', 'xla'} <= set(entry['step_ms'])):
    step_seconds = measure_steps(model, init_op, cfg)
    entry = {'step_ms': {mode: round(1000 * s, 3)
                         for mode, s in step_seconds.items()},
             'measured': time.strftime('%Y-%m-%d %H:%M:%S')}
    _write_cache(path, key, entry)
    when = 'measured now'
  else:
    when = 'measured %s' % entry.get('measured', 'earlier')
  use_xla = verdict(entry['step_ms'])
  message = ('xla=auto: XLA %s (a training step took %.1f ms with XLA, '
             '%.1f ms without; %s, cached in %s)' % (
                 'on' if use_xla else 'off', entry['step_ms']['xla'],
                 entry['step_ms']['default'], when, path))
  return use_xla, message


__all__ = ['MARGIN', 'cache_dir', 'cache_key', 'choose', 'measure',
           'verdict']
