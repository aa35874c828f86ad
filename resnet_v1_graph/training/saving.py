"""What a training run saves and restores, and how it stops.

`RunSavers` holds a graph's two savers (the latest `max_to_keep`
checkpoints, and the best one) with the checks around them:

  * state files hold relative paths, so a copied or moved run restores its
    own checkpoints (`rundir` finds the latest from the files on disk);
  * a restore takes a checkpoint whose `global_step` is int32
    (`tf.Variable(0)`) or int64 (`tf.train.get_or_create_global_step()`),
    and refuses one whose weights are NaN or infinite;
  * `restore_latest` passes over a damaged newest checkpoint for the one
    before it, and never lets a run start afresh over checkpoints that
    exist;
  * nothing is saved whose weights are NaN or infinite.

`StopRequests` turns SIGINT and SIGTERM into a request the run loop checks
after each step: the loop saves the step and raises `TrainingStopped`.
"""

import signal
import threading
import time

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import data

# The signals that stop training at the end of its step, saving it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingStopped(KeyboardInterrupt):
  """Training stopped on SIGINT or SIGTERM, after saving the step it was at.

  A KeyboardInterrupt, as Ctrl-C is, so `except Exception` does not swallow
  it.

  Attributes:
    signal_name: 'SIGINT' or 'SIGTERM'.
    step: The global step saved.
    checkpoint: The checkpoint written, from which training resumes.
  """

  def __init__(self, signal_name, step, checkpoint):
    super().__init__('%s: training stopped at step %d and saved %s; run it '
                     'again to resume' % (signal_name, step, checkpoint))
    self.signal_name, self.step, self.checkpoint = (signal_name, step,
                                                    checkpoint)


class StopRequests:
  """A context in which SIGINT and SIGTERM are recorded, not raised.

  `signal_name` is None until one arrives. Handlers can only be set from
  the main thread; elsewhere the signals keep their own handling.
  """

  def __init__(self):
    self.signal_name = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {number: signal.signal(number, self._record)
                        for number in STOP_SIGNALS}
    return self

  def __exit__(self, *exception):
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    self._previous = {}

  def _record(self, number, _):
    self.signal_name = signal.Signals(number).name


def _refuse_non_finite(checkpoint, bad, total):
  if bad:
    raise ValueError(
        'checkpoint %s holds NaN or infinite weights (%d of %d variables, '
        'e.g. %s); its outputs would mean nothing. Restore an earlier '
        'checkpoint, or train again with a lower learning_rate' % (
            checkpoint, len(bad), total, ', '.join(bad[:3])))


def _newest_that_reads(run, restore, say):
  """`restore(checkpoint)` of the newest of `run`'s checkpoints that reads.

  A damaged one is said and passed over for the one before. Returns None
  if there is none; raises ValueError if there are some and none reads.
  """
  found = run.checkpoints()
  for checkpoint in reversed(found):
    try:
      return restore(checkpoint)
    except (FileNotFoundError,) + checkpoints.DAMAGE_ERRORS as error:
      say('%s cannot be read (%s); trying the checkpoint before it'
          % (checkpoint, data.error_reason(str(error))))
  if found:
    raise ValueError(
        'none of the %d checkpoints in %s reads; move them away to start '
        'afresh' % (len(found), run.model_path))
  return None


def sound_latest_checkpoint(run, variables, global_step, what, say):
  """The newest checkpoint of `run` to resume from, checked without a
  session, so that a cluster's chief can hand it to TensorFlow's session
  manager, which restores it before any worker may start.

  As `RunSavers.restore_latest`, a damaged checkpoint is said and passed
  over for the one before, and checkpoints that exist are never ignored.

  Args:
    run: The `rundir.RunDir`.
    variables: The graph's variables.
    global_step: Its step variable.
    what: The model in words, for a mismatch message.
    say: Prints a line.

  Returns:
    A checkpoint prefix, or None if the run has none.

  Raises:
    checkpoints.CheckpointMismatchError: If it belongs to another
      architecture.
    ValueError: If its weights hold NaN or infinite values, its
      `global_step` has another dtype than the graph's, or none reads.
  """

  def check(checkpoint):
    checkpoints.check(checkpoint, variables, what)
    try:
      arrays = checkpoints.read_arrays(checkpoint)  # every byte: finds damage
    except IndexError as error:  # the reader's word for a truncated file
      raise tf.errors.DataLossError(None, None, str(error)) from None
    floats = {name: value for name, value in arrays.items()
              if value.dtype.kind == 'f'}
    _refuse_non_finite(checkpoint, sorted(
        name for name, value in floats.items()
        if not np.isfinite(value).all()), len(floats))
    step = arrays.get(global_step.op.name)
    if step is not None and step.dtype != global_step.dtype.as_numpy_dtype:
      raise ValueError(
          'checkpoint %s has an %s global_step and this graph an %s one; a '
          'cluster restores it as it is. Resume it for one step in one '
          'process (train without cluster flags), whose checkpoints then '
          'have the %s step, and start the cluster again' % (
              checkpoint, step.dtype, global_step.dtype.base_dtype.name,
              global_step.dtype.base_dtype.name))
    return checkpoint

  return _newest_that_reads(run, check, say)


class RunSavers:
  """A run's savers and the checks around them, built in the default graph.

  Args:
    run: The `rundir.RunDir`.
    max_to_keep: How many latest checkpoints to keep.
    global_step: The graph's step variable.
  """

  def __init__(self, run, max_to_keep, global_step):
    self.run = run
    self.latest = tf.train.Saver(max_to_keep=max_to_keep,
                                 save_relative_paths=True)
    self.best = tf.train.Saver(max_to_keep=1, save_relative_paths=True)
    self._step = global_step
    self._finite = {v.op.name: tf.reduce_all(tf.math.is_finite(v))
                    for v in tf.global_variables() if v.dtype.is_floating}
    self.last_save = time.monotonic()

  def restore(self, session, checkpoint, what):
    """Restores `checkpoint` into the session's graph variables.

    Args:
      what: The model in words, for a mismatch message.

    Raises:
      checkpoints.CheckpointMismatchError: If it belongs to another
        architecture; the message lists the differences.
      ValueError: If its weights hold NaN or infinite values.
    """
    variables = tf.global_variables()
    checkpoints.check(checkpoint, variables, what)
    step = self._step
    stored = checkpoints.read_variables(checkpoint).get(step.op.name)
    if stored is None or stored.dtype == step.dtype.base_dtype.name:
      self.latest.restore(session, checkpoint)
    else:
      # An int32 step (tf.Variable(0)) into an int64 one
      # (get_or_create_global_step), or back: the rest as it is, the step
      # converted.
      tf.train.Saver([v for v in variables if v is not step]).restore(
          session, checkpoint)
      step.load(tf.train.load_checkpoint(checkpoint).get_tensor(
          step.op.name), session)
    _refuse_non_finite(checkpoint, self.non_finite_variables(session),
                       len(self._finite))
    return checkpoint

  def restore_latest(self, session, what, say):
    """Restores the newest checkpoint that reads; None if there is none.

    A damaged checkpoint (truncated, overwritten) is said and passed over
    for the one before; if none reads, nothing is initialised over them.

    Raises:
      ValueError: If checkpoints exist and none of them reads.
    """
    return _newest_that_reads(
        self.run, lambda checkpoint: self.restore(session, checkpoint, what),
        say)

  def recover(self):
    """Lets the savers delete the oldest checkpoints beyond `max_to_keep`,
    those of earlier processes included."""
    self.latest.recover_last_checkpoints(self.run.checkpoints())
    self.best.recover_last_checkpoints(self.run.best_checkpoints())

  def non_finite_variables(self, session):
    """The names of the float variables holding NaN or inf."""
    finite = session.run(self._finite)
    return sorted(name for name, ok in finite.items() if not ok)

  def check_finite(self, session, step, where):
    """Raises FloatingPointError if a weight is NaN or infinite."""
    bad = self.non_finite_variables(session)
    if bad:
      raise FloatingPointError(
          'the weights became NaN or infinite %s (step %d: %d of %d '
          'variables, e.g. %s); training stopped and nothing of it was '
          'saved. The latest checkpoint, %s, is the last finite one. Lower '
          'learning_rate or check the data.' % (
              where, step, len(bad), len(self._finite), ', '.join(bad[:3]),
              self.run.latest_checkpoint()))

  def save_latest(self, session, step, checked=False):
    """Saves the latest checkpoint at `step` (its weights checked finite
    first, unless `checked`)."""
    if not checked:
      self.check_finite(session, step, 'at step %d' % step)
    self.latest.save(session, self.run.checkpoint_prefix, global_step=step)
    self.last_save = time.monotonic()
