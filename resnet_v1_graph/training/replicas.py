"""Between-graph replication: one graph per worker, one trainer for both
ways of sharing the variables.

With ps tasks, each worker builds the whole model under
`tf.train.replica_device_setter`, which puts every variable on a parameter
server (round robin) and every other op on the worker. Without them, each
worker holds its own copy and the workers average their gradients by
all-reduce (`allreduce`; synchronous only). Either way the worker trains in
a `tf.train.MonitoredSession`:

  * synchronous (default): `tf.train.SyncReplicasOptimizer` gathers one
    gradient from each of the W workers, the chief's queue runner applies
    their mean, and one global step takes `W * batch_size * num_clones`
    examples. Its hook starts the queue runner and the tokens on the chief,
    which forgotten is the classic hang of TF 1 sync training;
  * asynchronous: every worker applies its own gradients; each worker step
    is a global step.

Each worker reads its own shard of the training split (`Dataset.shard`),
shuffled and repeated. Only the chief writes to the run directory: the
latest checkpoints (`tf.train.CheckpointSaverHook`), TensorBoard scalars
(`tf.train.SummarySaverHook`), and at each epoch's end the validation, the
best checkpoint, the history and the curves (`EpochHook`), in the layout of
`rundir`. Training stops at the last step of `config.epoch` epochs
(`tf.train.StopAtStepHook`) or at a NaN loss (`tf.train.NanTensorHook`).
As in one process, the chief holds the run's lock while it trains, removes
the leftovers of killed saves, resumes from the newest checkpoint on disk
that reads in full and holds finite weights (`saving.sound_latest_checkpoint`:
a damaged state file or latest checkpoint is passed over, never taken as
"no checkpoint"), writes config.json only once that restore has worked, and
on SIGINT or SIGTERM stops after its step and saves it
(`saving.TrainingStopped`); every task stops on them.

Failures with ps tasks: a restarted worker rejoins; a restarted chief
restores the latest sound checkpoint, so `global_step` goes back to it and never
before it; a ps that is unreachable when a session starts raises
`cluster.ClusterError` after `ps_wait` seconds, and one lost during
training ends each worker's process after `ps_wait` seconds with a message
and exit code 2 (`TaskWatchdog` says why it must be the process).
Restarting the tasks resumes from the latest checkpoint. If the ps comes
back sooner, TensorFlow's own recovery recreates the sessions and the chief
restores the latest checkpoint. With all-reduce, the other workers play the
ps's part: a lost worker ends the others after `ps_wait` seconds, and
restarting all the tasks resumes from the latest checkpoint.

Typical use, on each worker (`role` from `cluster.resolve`):

  trainer = ClusterTrainer(config, role)
  report = trainer.fit(source.train, source.validation)
"""

import math
import os
import sys
import threading
import time

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph import config as config_lib
from resnet_v1_graph import model as model_lib
from resnet_v1_graph import preprocessing
from resnet_v1_graph.training import allreduce
from resnet_v1_graph.training import cluster as cluster_lib
from resnet_v1_graph.training import rundir
from resnet_v1_graph.training import saving
from resnet_v1_graph.training import session as session_lib
from resnet_v1_graph.training import summaries
from resnet_v1_graph.training import trainer as trainer_lib

# How long a worker waits for the chief to initialise or restore the
# variables before it gives up.
CHIEF_WAIT_SECONDS = 600
# How often a waiting worker looks again (TensorFlow's default is 30 s).
READY_POLL_SECONDS = 0.5
# How often a worker checks that the tasks it needs are still there.
WATCH_SECONDS = 1.0
# The exit code of a worker that lost a task it needs (the command line's
# code for a cluster that cannot work).
TASK_LOST_EXIT_CODE = 2
# How long a closing session waits for its threads. The chief's
# SyncReplicasOptimizer queue runner waits for gradients that no longer come
# once training is over; closing the session cancels it, so there is nothing
# to wait for (MonitoredSession's default is 120 s).
STOP_GRACE_SECONDS = 1


def steps_per_epoch(config, num_examples, num_workers):
  """Global steps per pass over the training split.

  A synchronous step (all-reduce is one) takes a batch from every worker; an
  asynchronous one a batch from one worker.
  """
  per_step = config.batch_size * config.num_clones * (
      num_workers if config.sync_replicas else 1)
  return max(1, math.ceil(num_examples / per_step))


class _SessionCreator(tf.train.SessionCreator):
  """Creates a worker's session; gives up when a ps stays unreachable.

  The chief restores the checkpoint `choose_checkpoint()` names (the newest
  sound one) or initialises; with ps tasks
  the others wait until the chief has. With all-reduce each worker
  initialises its own copy and then runs `broadcast`, which hands every
  worker the chief's values. `MonitoredSession` calls this again after a
  lost connection and retries TensorFlow's own errors forever; a
  `cluster.ClusterError` is not one of those, so it ends the run.
  """

  def __init__(self, role, target, scaffold, config, choose_checkpoint,
               ps_wait, broadcast=None):
    self.role, self.target, self.scaffold = role, target, scaffold
    self.config, self.ps_wait = config, ps_wait
    self.choose_checkpoint = choose_checkpoint
    self.broadcast = broadcast

  def create_session(self):
    cluster_lib.wait_for_tasks(self.role, 'ps', self.ps_wait)
    self.scaffold.finalize()
    manager = tf.train.SessionManager(
        local_init_op=self.scaffold.local_init_op,
        ready_op=self.scaffold.ready_op,
        ready_for_local_init_op=self.scaffold.ready_for_local_init_op,
        graph=tf.get_default_graph(), recovery_wait_secs=READY_POLL_SECONDS)
    if self.broadcast is None and not self.role.is_chief:
      return manager.wait_for_session(self.target, config=self.config,
                                      max_wait_secs=CHIEF_WAIT_SECONDS)
    # The chief's checkpoint is chosen from the files on disk each time a
    # session is made (not from the state file, which may be damaged).
    session = manager.prepare_session(
        self.target, saver=self.scaffold.saver, config=self.config,
        checkpoint_filename_with_path=(
            self.choose_checkpoint() if self.role.is_chief else None),
        init_op=self.scaffold.init_op)
    if self.broadcast is not None:
      session.run(self.broadcast)
    return session


class SyncReplicasHook(tf.train.SessionRunHook):
  """What `SyncReplicasOptimizer.make_session_run_hook` does, ended quietly.

  On every new session: the chief resets the gradient accumulators, puts
  the first tokens in the queue and starts the queue runner that applies
  each step's aggregated gradients; the other workers set their local step.
  Forgetting any of this on the chief is the classic hang of TF 1 sync
  training. TensorFlow's own hook lets the runner die with a traceback when
  the finished session is closed under it; here that cancellation is what
  ends the runner.

  Args:
    optimizer: The `tf.train.SyncReplicasOptimizer`, gradients applied.
    is_chief: Whether this worker is the chief.
    num_tokens: Tokens queued at the start. 0 makes every worker's first
      gradient wait for the first update, so the first step averages one
      batch of each worker.
  """

  def __init__(self, optimizer, is_chief, num_tokens=0):
    self.optimizer, self.is_chief, self.num_tokens = (optimizer, is_chief,
                                                      num_tokens)

  def begin(self):
    optimizer = self.optimizer
    self.runner = None
    if not self.is_chief:
      self.init_ops = [optimizer.local_step_init_op]
      return
    self.init_ops = [optimizer.chief_init_op,
                     optimizer.get_init_tokens_op(self.num_tokens)]
    runner = optimizer.get_chief_queue_runner()
    self.runner = tf.train.QueueRunner(
        runner.queue, runner.enqueue_ops, close_op=runner.close_op,
        cancel_op=runner.cancel_op,
        queue_closed_exception_types=(tf.errors.OutOfRangeError,
                                      tf.errors.CancelledError))

  def after_create_session(self, session, coord):
    missing = session.run(self.optimizer.ready_for_local_init_op)
    if len(missing):
      raise RuntimeError('the variables %s are not initialised; the chief '
                         'initialises or restores them before any worker '
                         'starts' % missing.tolist()[:5])
    for op in self.init_ops:
      session.run(op)
    if self.runner is not None:
      self.runner.create_threads(session, coord=coord, daemon=True,
                                 start=True)


class _SessionStartHook(tf.train.SessionRunHook):
  """On every new session: fetches the training pipeline's string handle,
  and says at which global step this worker starts (and, on the chief,
  from which checkpoint); the chief writes the run's config.json."""

  def __init__(self, trainer, handle_tensor):
    self.trainer = trainer
    self.handle_tensor = handle_tensor
    self.handle = None

  def after_create_session(self, session, coord):
    self.handle, step = session.run([self.handle_tensor,
                                     self.trainer.model.global_step])
    if self.trainer.role.is_chief:
      # Only now is the run known to fit this config (a mismatch fails the
      # restore), so only now may config.json say so.
      self.trainer.run.write_config(self.trainer.config)
    if self.trainer.config.verbose:
      origin = ''
      if self.trainer.role.is_chief:
        restored = self.trainer.restored_from
        origin = (', restored from %s' % restored if restored
                  else ', initialised')

      print('%s: session ready at global step %d%s' % (
          self.trainer.role.describe(), step, origin), flush=True)


class TaskWatchdog(tf.train.SessionRunHook):
  """Ends a worker's process when a task it needs stays unreachable.

  Those are the parameter servers, or with all-reduce the other workers
  (`Role.watched_job`). When a ps dies, the step in flight fails and
  `MonitoredSession` closes the session to recreate it; but closing a
  session waits for the dead ps to answer, without end, inside TensorFlow
  where no Python exception can reach it. When a worker dies, the others'
  all-reduce waits for it. So a thread checks those tasks by TCP once a
  second; when one stays unreachable for `wait` seconds it prints why and
  ends the process with exit code `TASK_LOST_EXIT_CODE`. Nothing is lost:
  only the chief writes checkpoints, each complete before the next step.
  Restart the tasks and training resumes from the latest one.

  Args:
    role: This worker's `cluster.Role`.
    wait: Seconds a task may stay unreachable.
  """

  def __init__(self, role, wait):
    self.role, self.wait = role, wait
    self._stop = None

  def after_create_session(self, session, coord):
    if self._stop is None:
      self._stop = threading.Event()
      threading.Thread(target=self._watch, daemon=True).start()

  def _watch(self):
    while not self._stop.wait(WATCH_SECONDS):
      try:
        cluster_lib.wait_for_tasks(self.role, self.role.watched_job,
                                   self.wait)
      except cluster_lib.ClusterError as error:
        if self._stop.is_set():
          return
        sys.stdout.flush()
        print('%s stops: %s' % (self.role.describe(), error),
              file=sys.stderr, flush=True)
        os._exit(TASK_LOST_EXIT_CODE)  # pylint: disable=protected-access

  def stop(self):
    if self._stop is not None:
      self._stop.set()

  def end(self, session):
    self.stop()


class EpochHook(tf.train.SessionRunHook):
  """On the chief, at each epoch's end: validate, keep the best, report.

  Args:
    trainer: The `ClusterTrainer`.
    steps_per_epoch: Global steps per epoch.
    validation: None, or (iterator, handle tensor) of the validation split.
  """

  def __init__(self, trainer, steps_per_epoch, validation):
    self.trainer = trainer
    self.steps_per_epoch = steps_per_epoch
    self.validation = validation
    self.run = trainer.run
    self.history = self.run.read_history()
    self.best = self.run.best_accuracy()
    self.totals = np.zeros(3)  # loss * n, correct, n of the chief's batches
    self.started = time.time()
    self.step_started = None
    self.step_seconds = 0.0
    self.epochs_done = None
    self.writer = None

  def begin(self):
    model = self.trainer.model
    self.batch = tf.shape(model.input_y)[0]
    self.fetches = [model.loss, model.acc, self.batch]
    self.best_saver = tf.train.Saver(max_to_keep=1, save_relative_paths=True)

  def after_create_session(self, session, coord):
    step = session.run(self.trainer.model.global_step)
    self.epochs_done = step // self.steps_per_epoch
    self.history = trainer_lib.history_until(self.history, step)
    self.run.make_checkpoint_dirs()
    if self.writer is None and self.validation:
      self.writer = tf.summary.FileWriter(
          self.run.summary_dir(rundir.VALIDATION_SUMMARIES))

  def before_run(self, run_context):
    self.step_started = time.perf_counter()
    return tf.train.SessionRunArgs(self.fetches)

  def after_run(self, run_context, run_values):
    self.step_seconds += time.perf_counter() - self.step_started
    loss, acc, n = run_values.results
    self.totals += (loss * n, acc * n, n)
    session = run_context.session
    step = session.run(self.trainer.model.global_step)
    if step // self.steps_per_epoch > self.epochs_done:
      self._end_epoch(session, step)

  def end(self, session):
    # Asynchronous workers can finish a few steps past the last epoch's end;
    # those steps join the last epoch's row only if it has not been written.
    self._end_epoch(session, session.run(self.trainer.model.global_step))
    if self.writer is not None:
      self.writer.close()

  def _end_epoch(self, session, step):
    model = self.trainer.model
    epoch = min(math.ceil(step / self.steps_per_epoch),
                self.trainer.config.epoch)
    if epoch <= self.epochs_done or not self.totals[2]:
      return
    self.epochs_done = epoch
    row = {'epoch': self.epochs_done, 'step': int(step),
           'train_loss': self.totals[0] / self.totals[2],
           'train_accuracy': self.totals[1] / self.totals[2],
           'learning_rate': float(session.run(model.learning_rate))}
    if self.validation:
      iterator, handle_tensor = self.validation
      metrics = _evaluate(session, model, self.batch, iterator,
                          handle_tensor)
      summaries.write_scalars(self.writer, step, metrics)
      row.update(val_loss=metrics['loss'], val_accuracy=metrics['accuracy'])
    self.best, improved = trainer_lib.keep_best(
        session, self.best_saver, self.run, self.history, row, self.best)
    if self.trainer.config.verbose:
      print(summaries.format_epoch(row, self.trainer.config.epoch, improved,
                                   time.time() - self.started,
                                   self.step_seconds), flush=True)
    self.totals[:] = 0
    self.started = time.time()
    self.step_seconds = 0.0


def _evaluate(session, model, batch, iterator, handle_tensor):
  """Loss and accuracy over a pipeline, in inference mode."""
  session.run(iterator.initializer)
  feed = {model.dataset_handle: session.run(handle_tensor)}
  totals = np.zeros(3)
  while True:
    try:
      loss, acc, n = session.run([model.loss, model.acc, batch], feed)
    except tf.errors.OutOfRangeError:
      break
    totals += (loss * n, acc * n, n)
  return {'loss': totals[0] / totals[2], 'accuracy': totals[1] / totals[2]}


class ClusterTrainer:
  """Trains a model as one worker of a cluster.

  Args:
    config: A `config.Config`; with ps tasks, `sync_replicas` picks sync
      or async.
    role: This worker's `cluster.Role`; a cluster without ps tasks trains
      by all-reduce.
    server: The task's started `tf.train.Server` (default: start one). For
      all-reduce, its config needs `allreduce.configure`.
    ps_wait: Seconds a worker waits for an unreachable ps (with all-reduce:
      another worker) before it stops.

  Raises:
    cluster.ClusterError: If `role` is a ps task, asks for asynchronous
      all-reduce, or the config keeps a moving average of the weights.
  """

  def __init__(self, config, role, server=None, ps_wait=30.0):
    if role.job != 'worker':
      raise cluster_lib.ClusterError(
          'a %s task holds variables and trains nothing; start it with '
          '`cluster.start_server(role).join()`' % role.job)
    if role.all_reduce and not config.sync_replicas:
      raise cluster_lib.ClusterError(
          'all-reduce (a cluster without ps tasks) is synchronous: every '
          'worker takes every step. Give the cluster ps tasks for '
          'asynchronous training, or drop --sync-replicas false')
    if config.moving_average_decay:
      # Each worker would move the shared averages once per local step,
      # and swapping them in for the chief's validation would hand the
      # other workers averaged weights to train.
      raise cluster_lib.ClusterError(
          'moving_average_decay is for one process (with or without '
          'towers); train on a cluster without it')
    if config.xla == config_lib.XLA_AUTO:
      raise cluster_lib.ClusterError(
          "xla='auto' times one process's training step; on a cluster pass "
          '--xla true or false (train one process with --xla auto to see '
          'which is faster here)')
    self.config, self.role, self.ps_wait = config, role, ps_wait
    self.run = rundir.RunDir.from_config(config)
    self.restored_from = None
    self.session_config = session_lib.session_config(config)
    if role.all_reduce:
      allreduce.configure(self.session_config)
    self.server = server or cluster_lib.start_server(
        role, self.session_config)
    self.session_config.device_filters.extend(role.device_filters)
    self.device = role.device if role.all_reduce else (
        tf.train.replica_device_setter(
            ps_tasks=role.num_ps, worker_device=role.device,
            cluster=role.cluster_spec()))
    self.model = model_lib.GraphModel(config, device=self.device,
                                      wrap_optimizer=self._wrap_optimizer)
    with self.model.graph.as_default(), tf.device(self.device):
      # The global step once this worker's update has been applied.
      with tf.control_dependencies([self.model.optimize]):
        self.step_after_update = tf.identity(
            self.model.global_step.read_value())

  def _wrap_optimizer(self, optimizer):
    workers = self.role.num_workers
    if self.role.all_reduce:
      return allreduce.AllReduceOptimizer(optimizer, workers)
    if not self.config.sync_replicas:
      return optimizer
    return tf.train.SyncReplicasOptimizer(
        optimizer, replicas_to_aggregate=workers,
        total_num_replicas=workers)

  def fit(self, train, validation=None):
    """Trains until `config.epoch` epochs of global steps are done.

    Args:
      train: The training `data.Split`; this worker reads its shard.
      validation: An optional `data.Split` the chief validates on.

    Returns:
      {'steps': this worker's steps, 'global_step': the last global step
      this worker saw, 'last_step': the step training stops at,
      'finished': False if the cluster ended before it (its chief stopped
      on a signal)}.

    Raises:
      FloatingPointError: If the loss becomes NaN; nothing is saved after
        the last good checkpoint.
      cluster.ClusterError: If a ps stays unreachable for `ps_wait` seconds,
        or an all-reduce waits for a worker longer than
        `allreduce.TIMEOUT_SECONDS`.
      rundir.RunLockedError: On the chief, if another process trains in
        the run directory.
      ValueError: On the chief, if checkpoints exist and none of them
        reads, or the newest one holds NaN weights.
      saving.TrainingStopped: On SIGINT or SIGTERM, once the step in flight
        is done (and, on the chief, saved).
    """
    cfg, model = self.config, self.model
    per_epoch = steps_per_epoch(cfg, train.num_examples,
                                self.role.num_workers)
    last_step = cfg.epoch * per_epoch
    with model.graph.as_default(), tf.device(self.device):
      train_iterator = tf.data.make_initializable_iterator(train.batched(
          cfg.batch_size * cfg.num_clones,
          shuffle_buffer=cfg.shuffle_buffer or train.num_examples,
          seed=cfg.seed, shard=(self.role.num_workers, self.role.index),
          repeat=True, drop_remainder=True,
          preprocess=preprocessing.pipeline(cfg.preprocessing_name).train))
      handles = _SessionStartHook(self, train_iterator.string_handle())
      watchdog = TaskWatchdog(self.role, self.ps_wait)
      hooks = [handles, watchdog,
               tf.train.StopAtStepHook(last_step=last_step),
               tf.train.NanTensorHook(model.loss, fail_on_nan_loss=True)]
      broadcast = None
      if self.role.all_reduce:
        broadcast = allreduce.broadcast_variables(
            tf.global_variables(), self.role.is_chief,
            self.role.num_workers)
      elif cfg.sync_replicas:
        hooks.append(SyncReplicasHook(model.optimizer, self.role.is_chief))
      scaffold = tf.train.Scaffold(
          saver=tf.train.Saver(max_to_keep=cfg.max_to_keep,
                               save_relative_paths=True),
          local_init_op=tf.group(tf.local_variables_initializer(),
                                 train_iterator.initializer))
      if self.role.is_chief:
        hooks += self._chief_hooks(per_epoch, validation, scaffold)
      creator = _SessionCreator(self.role, self.server.target, scaffold,
                                self.session_config, self._choose_checkpoint,
                                self.ps_wait, broadcast=broadcast)
      if not self.role.is_chief:
        steps, step, by_hook = self._loop(creator, hooks, handles, watchdog)
      else:
        with self.run.lock():
          for path in self.run.remove_leftovers():
            self._say('removed %s, left by a save that was killed' % path)
          steps, step, by_hook = self._loop(creator, hooks, handles,
                                            watchdog)
    return {'steps': steps, 'global_step': step, 'last_step': last_step,
            'finished': by_hook or step >= last_step}

  def _say(self, message):
    if self.config.verbose:
      print('%s: %s' % (self.role.describe(), message), flush=True)

  def _choose_checkpoint(self):
    """The chief's checkpoint to restore (None: initialise)."""
    self.restored_from = saving.sound_latest_checkpoint(
        self.run, tf.global_variables(), self.model.global_step,
        self.model.describe(), self._say)
    return self.restored_from

  def _chief_hooks(self, per_epoch, validation, scaffold):
    """Checkpoints, summaries and the epoch's end, written by the chief."""
    cfg, model = self.config, self.model
    tf.summary.scalar('loss', model.loss)
    tf.summary.scalar('accuracy', model.acc)
    tf.summary.scalar('learning_rate', model.learning_rate)
    pipeline = None
    if validation is not None and validation.num_examples:
      iterator = tf.data.make_initializable_iterator(
          trainer_lib.reinitializable(validation.batched(
              cfg.batch_size, preprocess=preprocessing.pipeline(
                  cfg.preprocessing_name).eval)))
      pipeline = (iterator, iterator.string_handle())
    # At each validation (each epoch by default), and also as often as
    # save_every_steps or save_every_seconds say.
    savers = [tf.train.CheckpointSaverHook(
        cfg.model_path, scaffold=scaffold,
        checkpoint_basename=rundir.CHECKPOINT_NAME, **every)
              for every in ({'save_steps': cfg.validate_every or per_epoch},
                            {'save_steps': cfg.save_every_steps},
                            {'save_secs': cfg.save_every_seconds})
              if any(every.values())]
    return savers + [
        tf.train.SummarySaverHook(
            save_steps=1,
            output_dir=self.run.summary_dir(rundir.TRAIN_SUMMARIES),
            summary_op=tf.summary.merge_all()),
        EpochHook(self, per_epoch, pipeline)]

  def _loop(self, creator, hooks, handles, watchdog):
    """Runs training steps until a hook stops; (steps run, global step,
    whether a hook stopped it)."""
    model = self.model
    steps = step = 0
    # False if the session ended on an OutOfRangeError, which it takes for
    # the end of training: the synchronous token queue closed under a
    # step, as it does when the chief stops.
    stopped_by_hook = False
    try:
      with saving.StopRequests() as stops, tf.train.MonitoredSession(
          session_creator=creator, hooks=hooks,
          stop_grace_period_secs=STOP_GRACE_SECONDS) as session:
        while not session.should_stop() and not stops.signal_name:
          step = session.run(
              self.step_after_update,
              {model.dataset_handle: handles.handle,
               model.is_training: True})
          steps += 1
        stopped_by_hook = True
      # Leaving the session ran the hooks' end: the chief's checkpoint
      # saver saved the last step.
      if stops.signal_name:
        raise saving.TrainingStopped(
            stops.signal_name, int(step),
            self.run.latest_checkpoint() if self.role.is_chief else
            "the chief's latest checkpoint")
    except tf.errors.DeadlineExceededError:
      raise cluster_lib.ClusterError(
          'the workers did not all reach the all-reduce of global step %d '
          'within %.0f s: a worker was lost, or restarted alone. Stop every '
          'task and start them all again; training resumes from the latest '
          'checkpoint, %s' % (step + 1, allreduce.TIMEOUT_SECONDS,
                              self.run.latest_checkpoint())) from None
    except tf.train.NanLossDuringTrainingError:
      raise FloatingPointError(
          'loss became NaN near global step %d; training stopped. Nothing '
          'was saved after the last good checkpoint: %s. Lower '
          'learning_rate or check the data.' %
          (step, self.run.latest_checkpoint())) from None
    finally:
      watchdog.stop()
    return steps, int(step), stopped_by_hook
