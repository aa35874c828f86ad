"""Optimizers, learning-rate schedules and losses, with slim's options.

research/slim's `train_image_classifier.py` chose these with flags; here
they are `config.Config` fields of the same meaning, and the defaults are
the classic class's: Adam whose learning rate decays exponentially in
steps (`learning_rate * learning_decay_rate ** (step // learning_decay_steps)`).

  optimizer              'adam' (adam_beta1, adam_beta2, opt_epsilon),
                         'momentum' (momentum), 'rmsprop' (rmsprop_decay,
                         rmsprop_momentum, opt_epsilon), 'sgd'
  learning_rate_schedule 'exponential' (staircase), 'fixed', 'piecewise'
                         (learning_rate_boundaries, learning_rate_values),
                         'polynomial' (to end_learning_rate over
                         learning_decay_steps, power 1 as slim), 'cosine'
                         (to end_learning_rate over learning_decay_steps)
  warmup_steps           linear warm-up from warmup_learning_rate to the
                         schedule's value (official r1 ResNet: 5 epochs)
  label_smoothing        onehot * (1 - s) + s / num_classes
  trainable_scopes       only variables under these scopes train
  moving_average_decay   an exponential moving average of the weights

The moving average keeps a shadow copy of every trainable variable and of
batch norm's moving statistics (slim averages its model variables), updated
with the train op. `MovingAverage.swap` puts the averages in place for
evaluation and puts the trained weights back afterwards; a checkpoint holds
both, under slim's names (`<variable>/ExponentialMovingAverage`).

Typical use (what `model.GraphModel` does):

  learning_rate = optimization.learning_rate(cfg, global_step)
  optimizer = optimization.optimizer(cfg, learning_rate)
"""

import math

import tensorflow.compat.v1 as tf

from resnet_v1_graph import config as config_lib

# slim's polynomial decay is linear (power 1.0, no cycling).
POLYNOMIAL_POWER = 1.0
MOVING_AVERAGE_SUFFIX = 'ExponentialMovingAverage'


def learning_rate(cfg, global_step):
  """The learning rate at `global_step`, a float32 scalar tensor.

  Args:
    cfg: A `config.Config`.
    global_step: An integer scalar tensor.

  Returns:
    The rate, named 'learning_rate'.
  """
  step = tf.cast(global_step, tf.float32)
  base = cfg.learning_rate
  schedule = cfg.learning_rate_schedule
  with tf.name_scope('learning_rate_schedule'):
    if schedule == 'exponential':
      # The classic class's: staircase, so the rate holds within a period.
      rate = base * tf.pow(cfg.learning_decay_rate,
                           tf.floor(step / cfg.learning_decay_steps))
    elif schedule == 'fixed':
      rate = tf.constant(base, tf.float32)
    elif schedule == 'piecewise':
      # values[i] applies up to and including boundaries[i], as
      # tf.train.piecewise_constant does.
      boundaries = tf.constant(cfg.learning_rate_boundaries, tf.float32)
      index = tf.reduce_sum(tf.cast(step > boundaries, tf.int32))
      rate = tf.gather(tf.constant(cfg.learning_rate_values, tf.float32),
                       index)
    else:
      progress = tf.minimum(step, cfg.learning_decay_steps) / float(
          cfg.learning_decay_steps)
      end = cfg.end_learning_rate
      if schedule == 'polynomial':
        rate = (base - end) * tf.pow(1. - progress, POLYNOMIAL_POWER) + end
      else:  # cosine
        rate = end + (base - end) * 0.5 * (1. + tf.cos(math.pi * progress))
    if cfg.warmup_steps:
      start = cfg.warmup_learning_rate
      warm = start + (rate - start) * step / cfg.warmup_steps
      rate = tf.where(step < cfg.warmup_steps, warm, rate)
  return tf.identity(rate, name='learning_rate')


def optimizer(cfg, rate):
  """The `tf.train` optimizer `cfg.optimizer` names, at `rate`."""
  if cfg.optimizer == 'adam':
    return tf.train.AdamOptimizer(rate, beta1=cfg.adam_beta1,
                                  beta2=cfg.adam_beta2,
                                  epsilon=cfg.opt_epsilon)
  if cfg.optimizer == 'momentum':
    return tf.train.MomentumOptimizer(rate, momentum=cfg.momentum)
  if cfg.optimizer == 'rmsprop':
    return tf.train.RMSPropOptimizer(rate, decay=cfg.rmsprop_decay,
                                     momentum=cfg.rmsprop_momentum,
                                     epsilon=cfg.opt_epsilon)
  if cfg.optimizer == 'sgd':
    return tf.train.GradientDescentOptimizer(rate)
  raise ValueError('unknown optimizer %r; choose one of %s'
                   % (cfg.optimizer, ', '.join(config_lib.OPTIMIZERS)))


def smooth_labels(onehot, label_smoothing):
  """slim's label smoothing: `onehot * (1 - s) + s / num_classes`."""
  if not label_smoothing:
    return onehot
  num_classes = tf.cast(tf.shape(onehot)[-1], onehot.dtype)
  return onehot * (1. - label_smoothing) + label_smoothing / num_classes


def trainable_variables(cfg):
  """The variables `cfg.trainable_scopes` lets train (all when empty).

  Raises:
    ValueError: If a scope matches no trainable variable (a typo would
      otherwise train nothing under it, silently).
  """
  variables = tf.trainable_variables()
  if not cfg.trainable_scopes:
    return variables
  chosen = []
  for scope in cfg.trainable_scopes:
    prefix = scope.rstrip('/') + '/'
    matched = [v for v in variables if v.op.name.startswith(prefix)]
    if not matched:
      raise ValueError(
          'trainable scope %r matches no variable; scopes of this network '
          'include %s' % (scope, ', '.join(sorted(
              {v.op.name.rsplit('/', 2)[0] for v in variables})[:8])))
    chosen += [v for v in matched if v not in chosen]
  return chosen


def averaged_restore_map():
  """{checkpoint name of the average: variable} for every global variable
  of the default graph: a `tf.train.Saver` of it restores a checkpoint's
  moving averages into the plain variables (an inference graph)."""
  return {'%s/%s' % (v.op.name, MOVING_AVERAGE_SUFFIX): v
          for v in tf.global_variables()}


class MovingAverage:
  """An exponential moving average of the weights, and its swap.

  Args:
    decay: `cfg.moving_average_decay`.
    global_step: Lets the average follow closely early in training, as
      `tf.train.ExponentialMovingAverage(num_updates=...)` does.
    variables: The variables to average.
    after: An op the update runs after (the weights' update), or None.

  Attributes:
    update: The op that moves the averages; run it with the train op.
  """

  def __init__(self, decay, global_step, variables, after=None):
    self._average = tf.train.ExponentialMovingAverage(
        decay, num_updates=global_step, name=MOVING_AVERAGE_SUFFIX)
    self._variables = list(variables)
    # The shadow variables themselves are created outside these control
    # dependencies (`apply` lifts their creation into an init scope).
    with tf.control_dependencies([after] if after is not None else []):
      self.update = self._average.apply(self._variables)
    with tf.name_scope('moving_average_swap'):
      # One backup per variable, outside the checkpoint's variables.
      # Not in any collection: no saver, initialiser or readiness check
      # sees them, and each swap assigns them before reading.
      self._backups = [
          tf.Variable(tf.zeros(v.shape, v.dtype.base_dtype), trainable=False,
                      collections=[], name=v.op.name.replace('/', '_'))
          for v in self._variables]
      with tf.control_dependencies([b.assign(v) for b, v in
                                    zip(self._backups, self._variables)]):
        self._to_average = tf.group(*[
            v.assign(self._average.average(v)) for v in self._variables])
      self._to_trained = tf.group(*[
          v.assign(b) for b, v in zip(self._backups, self._variables)])

  def average_of(self, variable):
    """The shadow variable of `variable`."""
    return self._average.average(variable)

  def swap(self, session):
    """A context in which the variables hold their averages."""
    return _Swap(session, self._to_average, self._to_trained)

  def variables_to_restore(self):
    """{checkpoint name: variable} restoring the averages into the weights,
    as slim's evaluation restores them."""
    return {self._average.average_name(v): v for v in self._variables}


class _Swap:

  def __init__(self, session, enter, leave):
    self._session, self._enter, self._leave = session, enter, leave

  def __enter__(self):
    self._session.run(self._enter)

  def __exit__(self, *unused):
    self._session.run(self._leave)
