"""All-reduce replication: every worker holds the variables, no ps tasks.

A cluster with workers and no `ps` job trains this way. Each worker keeps
its own copy of every variable. At each step the workers average their
gradients with one collective all-reduce, a ring over TensorFlow's gRPC
runtime (`CollectiveReduceV2`, what `MultiWorkerMirroredStrategy` runs
underneath). Then each worker applies the same mean to the same weights.
The copies start equal: when a session starts, the chief initialises or
restores the variables, and a collective broadcast copies every one of them
(weights, optimizer slots, global step) to the other workers.

Compared with parameter servers, no task holds the variables for the
others. Each step sends each gradient around the ring once, instead of to a
ps and back. Every worker must take every step, so the mode is synchronous
only, and a lost worker stops the others (see `replicas.TaskWatchdog`).
Restarting all the tasks resumes from the chief's latest checkpoint.

Batch norm's moving averages are each worker's own, from its own batches.
The chief's are the ones saved, just as towers keep the first tower's.

Typical use (what `replicas.ClusterTrainer` does when the cluster has no
ps):

  optimizer = AllReduceOptimizer(tf.train.AdamOptimizer(...), num_workers=2)
  sync = broadcast_variables(tf.global_variables(), is_chief, num_workers=2)
"""

import tensorflow.compat.v1 as tf

# The worker whose task resolves each collective group (the chief).
GROUP_LEADER = '/job:worker/replica:0/task:0'
# Every collective of a run is among all its workers: one group.
GROUP_KEY = 1
# Instance keys tell a run's collectives apart; each step reuses the
# gradients' key, and variable i is broadcast under BROADCAST_KEY + i.
GRADIENTS_KEY = 1
BROADCAST_KEY = 1000
# How long a collective waits for the other workers before it fails with
# DeadlineExceededError. It must outlast whatever the chief does between two
# steps (validation, checkpoints); a worker that died is noticed sooner, by
# the watchdog.
TIMEOUT_SECONDS = 600.0


def configure(session_config):
  """Sets the collective group leader in a `tf.ConfigProto`, in place.

  Both the task's server and its sessions need it.
  """
  session_config.experimental.collective_group_leader = GROUP_LEADER
  return session_config


def _int(value):
  return tf.constant(value, tf.int32)


def all_reduce_mean(tensors, num_workers, timeout=TIMEOUT_SECONDS):
  """The mean over the workers of each tensor, in one collective.

  The tensors travel as one flat float32 vector: one message per step
  instead of one per variable, and one order of collectives that every
  worker agrees on.

  Args:
    tensors: Dense tensors of fully known shapes.
    num_workers: How many workers take part.
    timeout: Seconds to wait for the others.

  Returns:
    The mean of each tensor, with its shape and dtype.
  """
  flat = tf.concat([tf.reshape(tf.cast(t, tf.float32), [-1])
                    for t in tensors], axis=0)
  mean = tf.raw_ops.CollectiveReduceV2(
      input=flat, group_size=_int(num_workers), group_key=_int(GROUP_KEY),
      instance_key=_int(GRADIENTS_KEY), ordering_token=[], merge_op='Add',
      final_op='Div', timeout_seconds=timeout)
  pieces = tf.split(mean, [t.shape.num_elements() for t in tensors])
  return [tf.cast(tf.reshape(piece, t.shape), t.dtype)
          for piece, t in zip(pieces, tensors)]


def broadcast_variables(variables, is_chief, num_workers,
                        timeout=TIMEOUT_SECONDS):
  """An op that gives every worker the chief's value of each variable.

  Every worker must run it, with the same variables in the same order
  (each worker builds the same graph, so `tf.global_variables()` agrees).
  """
  ops = []
  for i, variable in enumerate(variables):
    keys = dict(group_size=_int(num_workers), group_key=_int(GROUP_KEY),
                instance_key=_int(BROADCAST_KEY + i),
                timeout_seconds=timeout)
    if is_chief:
      ops.append(tf.raw_ops.CollectiveBcastSendV2(
          input=variable.read_value(), **keys))
    else:
      ops.append(variable.assign(tf.raw_ops.CollectiveBcastRecvV2(
          shape=variable.shape.as_list(), T=variable.dtype.base_dtype,
          **keys)))
  return tf.group(*ops, name='broadcast_variables')


class AllReduceOptimizer(tf.train.Optimizer):
  """Applies the mean of all workers' gradients with another optimizer.

  Args:
    optimizer: The optimizer that computes and applies the gradients.
    num_workers: How many workers average their gradients.
    timeout: Seconds a step waits for the other workers.
  """

  def __init__(self, optimizer, num_workers, timeout=TIMEOUT_SECONDS,
               name='AllReduce'):
    super().__init__(use_locking=False, name=name)
    self._optimizer = optimizer
    self._num_workers = num_workers
    self._timeout = timeout

  def compute_gradients(self, *args, **kwargs):
    return self._optimizer.compute_gradients(*args, **kwargs)

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    pairs = [(tf.convert_to_tensor(g), v) for g, v in grads_and_vars
             if g is not None]
    if not pairs:
      raise ValueError('no gradients to average: no variable depends on the '
                       'loss')
    means = all_reduce_mean([g for g, _ in pairs], self._num_workers,
                            self._timeout)
    return self._optimizer.apply_gradients(
        list(zip(means, [v for _, v in pairs])), global_step=global_step,
        name=name)

  def get_slot(self, *args, **kwargs):
    return self._optimizer.get_slot(*args, **kwargs)

  def get_slot_names(self, *args, **kwargs):
    return self._optimizer.get_slot_names(*args, **kwargs)

  def variables(self):
    return self._optimizer.variables()
