"""Sessions, checkpoints and the training loop for any `GraphModel`.

The trainer knows nothing of ResNets: it needs a model whose graph has
`input_x`, `input_y`, `is_training`, `dataset_handle`, `logits`,
`prediction`, `probabilities`, `loss`, `acc`, `global_step`, `learning_rate`
and `optimize` (see `model.GraphModel`).

What `fit` does:
  * streams the training split through tf.data (shuffled every epoch,
    batched, prefetched) into the model's placeholders, with `is_training`
    fed True so batch norm uses batch statistics and updates its averages;
  * validates after every epoch, and every `validate_every` steps;
  * shows a tqdm progress bar on a terminal and one line per epoch
    (`verbose=False`: nothing);
  * writes TensorBoard events (loss, accuracy, learning rate) under
    `summary_path/train` and `summary_path/validation`, and a PNG of the
    curves with their history as JSON;
  * keeps the latest `max_to_keep` checkpoints in `model_path` and the best
    one by validation accuracy in `model_path/best` (file names: `rundir`);
  * resumes from the latest checkpoint, `global_step` continuing, and trains
    the epochs that remain;
  * stops on a NaN loss, or weights that became NaN or infinite, without
    saving, so the latest checkpoint stays the last finite one;
  * writes the run directory only once the run is known to fit it (the
    config after the restore), under a lock that refuses a second writer,
    and in an order a kill cannot split (best and history before the
    latest checkpoint, which a restart then resumes from).
"""

import contextlib
import functools
import math
import time

import numpy as np
import tensorflow.compat.v1 as tf
import tqdm

from resnet_v1_graph import checkpoints
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import preprocessing
from resnet_v1_graph.training import finetune
from resnet_v1_graph.training import rundir
from resnet_v1_graph.training import saving
from resnet_v1_graph.training import session as session_lib
from resnet_v1_graph.training import summaries
from resnet_v1_graph.training import xla_choice


def _in_graph(method):
  """Runs a Trainer method with the model's graph as the default graph.

  Savers, summary writers and pipelines must see the graph they belong to;
  the caller's default graph (or eager mode) must not matter.
  """
  @functools.wraps(method)
  def wrapper(self, *args, **kwargs):
    with self.graph.as_default():
      return method(self, *args, **kwargs)
  return wrapper


def _input_error(error):
  """A ValueError saying what to do for an image the pipeline could not
  decode; any other error as it is."""
  reason = data.error_reason(error.message)
  if 'Decode' not in error.message and 'the image is not' not in reason:
    return error
  return ValueError(
      'an image of the data could not be decoded: %s. Load the data with '
      'skip_corrupt=True (--skip-corrupt) to find such images, name them '
      'and leave them out' % reason)


def reinitializable(dataset):
  """`dataset` for an iterator that is initialised again every epoch.

  With tf.data's autotuning on, initialising an iterator again waits for the
  old one's tuning thread, which sleeps for longer and longer periods (up to
  a minute) while slow training steps consume the pipeline: 32-35 s per
  epoch for ResNet-18 on 32x32 digits on a 2-core AVX2 CPU, against 0.02 s
  without it. The pipelines here are small and their parallelism is fixed
  without the tuner (`AUTOTUNE` then means one call per core).
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return dataset.with_options(options)


def history_until(history, step):
  """The rows of `history` at or before global step `step`.

  A run resumed from a checkpoint older than its history's last row (a
  cluster's chief saves every `validate_every` steps, not at each epoch's
  end) trains those epochs again; their rows are written again, not twice.
  """
  rows = sum(1 for s in history.get('step', ()) if s <= step)
  epochs = len(history.get('epoch', ()))
  kept = {}
  for key, values in history.items():
    if key == 'steps':
      kept[key] = [entry for entry in values if entry['step'] <= step]
    elif isinstance(values, list) and len(values) == epochs:
      kept[key] = values[:rows]
    else:
      kept[key] = values
  return kept


def keep_best(session, best_saver, run, history, row, best):
  """Appends an epoch's `row` to the history; saves the best checkpoint.

  The score is the validation accuracy, else the training accuracy. Writes
  the history and the curves of `run` (a `rundir.RunDir`).

  Returns:
    (best score so far, whether `row` became the best checkpoint).
  """
  for key, value in row.items():
    history.setdefault(key, []).append(value)
  score = row.get('val_accuracy', row['train_accuracy'])
  improved = best is None or score > best
  if improved:
    best_saver.save(session, run.best_prefix, global_step=row['step'])
    run.write_best_record(score, row['step'], row['epoch'])
  run.write_history(history)
  summaries.plot_curves(history, run.curves_path)
  return (score if improved else best), improved


class Trainer:
  """Runs a `GraphModel`: one session, savers, summaries.

  Args:
    model: A `model.GraphModel`.
  """

  def __init__(self, model):
    self.model = model
    self.config = model.config
    self.graph = model.graph
    self.run = rundir.RunDir.from_config(self.config)
    self._preprocessing = preprocessing.pipeline(
        self.config.preprocessing_name)
    # A step feeds every tower `batch_size` examples.
    self.global_batch = self.config.batch_size * self.config.num_clones
    with self.graph.as_default():
      self.savers = saving.RunSavers(self.run, self.config.max_to_keep,
                                     model.global_step)
      self.saver, self.best_saver = self.savers.latest, self.savers.best
      self.init_op = tf.global_variables_initializer()
      self.batch_size = tf.shape(model.input_y)[0]
      # Fetched beside `optimize`, a plain read of global_step may run before
      # the increment; this read waits for it.
      with tf.control_dependencies([model.optimize]):
        self.step_after_update = tf.identity(model.global_step.read_value())
    self.session = None
    self._handles = {}

  # Session and checkpoints.

  def _open(self):
    if self.session is None:
      if self.config.xla == config_lib.XLA_AUTO:
        use_xla, message = xla_choice.choose(self.model, self.init_op)
        self._say(message)
        self.config = self.config.replace(xla=use_xla)
      self.session = session_lib.open_session(self.graph, self.config)
    return self.session

  def close(self):
    if self.session is not None:
      self.session.close()
      self.session = None
      self._handles = {}

  def latest_checkpoint(self):
    return self.run.latest_checkpoint()

  @_in_graph
  def restore(self, checkpoint=None):
    """Restores a checkpoint into the session, without initializing first.

    Args:
      checkpoint: A checkpoint prefix or a directory; default the best
        checkpoint in `model_path`, else the latest.

    Returns:
      The checkpoint prefix restored.

    Raises:
      FileNotFoundError: If there is no checkpoint.
      checkpoints.CheckpointMismatchError: If it belongs to another
        architecture; the message lists the differences.
    """
    if checkpoint is None:
      checkpoint = self.run.best_or_latest_checkpoint()
      if checkpoint is None:
        raise FileNotFoundError(
            'no checkpoint in %s; train first (fit) or pass a checkpoint' %
            self.run.model_path)
    else:
      checkpoint = checkpoints.resolve_checkpoint(checkpoint)
    return self.savers.restore(self._open(), checkpoint,
                               self.model.describe())

  @_in_graph
  def load_weights(self, checkpoint):
    """Loads the network's weights from a checkpoint, for inference.

    For checkpoints without training state (written by `convert`, or
    saved for inference only): every network variable comes from
    `checkpoint`, the optimizer's slots and `global_step` start fresh.

    Args:
      checkpoint: A checkpoint prefix or directory.

    Returns:
      The `finetune.Report` of what was loaded.

    Raises:
      FileNotFoundError: If there is no checkpoint at `checkpoint`.
      checkpoints.CheckpointMismatchError: If a network variable is missing
        from the checkpoint or has another shape.
    """
    session = self._open()
    session.run(self.init_op)
    report = finetune.restore(session, checkpoint, tf.global_variables(),
                              exclude=())
    if report.missing or report.mismatched:
      self.close()
      raise checkpoints.CheckpointMismatchError(
          'checkpoint %s does not hold every weight of %s:\n%s' % (
              report.checkpoint, self.model.describe(),
              finetune.format_report(report)))
    self._say('loaded %d weights from %s; %d optimizer slots and '
              'global_step start fresh' % (
                  len(report.restored), report.checkpoint,
                  len(report.training_state)))
    return report

  def _ensure_variables(self):
    """Restores the best/latest checkpoint unless the session has weights."""
    if self.session is None:
      self.restore()

  # Data.

  def _check_split(self, split, what):
    if split is None or split.num_examples == 0:
      raise ValueError('the %s split is empty; give it at least one example'
                       % what)
    # The network sees the data's labels less `labels_offset`.
    labels = split.labels - self.config.labels_offset
    bad = labels[(labels < 0) | (labels >= self.config.num_classes)]
    if bad.size:
      raise ValueError(
          '%s labels must lie in [0, %d) for num_classes=%d; found %s' %
          (what, self.config.num_classes, self.config.num_classes,
           sorted(set(bad.tolist()))[:10]))

  def _dataset(self, split, what, shuffle):
    """Builds the batched pipeline for `split` in the model's graph.

    A shuffled pipeline takes its shuffle seed from `self.epoch_seed`, fed
    with the epoch number when the iterator is initialised: each epoch gets
    its own order (beside the graph seed, `config.seed`), and a resumed run
    replays exactly the order an uninterrupted one would have used.
    """
    self._check_split(split, what)
    if shuffle:
      self.epoch_seed = tf.placeholder_with_default(
          tf.constant(0, tf.int64), [], name='epoch_seed')
      # A run resumed within an epoch skips the batches it already took.
      self.skip_batches = tf.placeholder_with_default(
          tf.constant(0, tf.int64), [], name='skip_batches')
    # Towers split each batch; while training, a short last batch could
    # leave a tower without examples for its batch statistics.
    dataset = split.batched(
        self.global_batch,
        shuffle_buffer=(self.config.shuffle_buffer or split.num_examples
                        if shuffle else 0),
        seed=self.epoch_seed if shuffle else None,
        drop_remainder=shuffle and self.config.num_clones > 1,
        preprocess=self._preprocessing.train if shuffle
        else self._preprocessing.eval)
    if shuffle:
      dataset = dataset.skip(self.skip_batches)
    dataset = reinitializable(dataset)
    expected = [self.config.height, self.config.width, self.config.channel]
    got = dataset.element_spec[0].shape.as_list()[1:]
    if got != expected:
      raise ValueError(
          'the %s images are %s but the model expects [height, width, '
          'channel] = %s; build the model with the data\'s shape or resize '
          'the data' % (what, got, expected))
    iterator = tf.data.make_initializable_iterator(dataset)
    return iterator, iterator.string_handle()

  def _handle(self, iterator, handle_tensor):
    key = id(iterator)
    if key not in self._handles:
      self._handles[key] = self.session.run(handle_tensor)
    return self._handles[key]

  # Training.

  @_in_graph
  def fit(self, train, validation=None):
    """Trains for the epochs `config.epoch` asks for, resuming if it can.

    Args:
      train: A `data.Split` to train on.
      validation: An optional `data.Split` to validate on and choose the
        best checkpoint by (without it, the best is the latest).

    Returns:
      The history: a dict of per-epoch lists (`epoch`, `step`,
      `train_loss`, `train_accuracy`, `learning_rate`, and with validation
      `val_loss`, `val_accuracy`) plus `steps` for mid-epoch validations.

    Raises:
      ValueError: On an empty split, labels out of range or images of the
        wrong shape.
      FloatingPointError: If the loss becomes NaN; the latest checkpoint on
        disk is the last good one.
      checkpoints.CheckpointMismatchError: If `model_path` holds a
        checkpoint of another architecture.
    """
    pipelines = {'train': self._dataset(train, 'train', True)}
    if validation is not None and validation.num_examples:
      pipelines['validation'] = self._dataset(validation, 'validation', False)
    if train.num_examples < self.global_batch and self.config.num_clones > 1:
      raise ValueError(
          'the train split has %d examples, fewer than one step of %d '
          'towers x batch_size %d; lower batch_size or num_clones' % (
              train.num_examples, self.config.num_clones,
              self.config.batch_size))
    steps_per_epoch = (train.num_examples // self.global_batch
                       if self.config.num_clones > 1 else
                       math.ceil(train.num_examples / self.global_batch))
    with self.run.lock():
      return self._fit(pipelines, steps_per_epoch)

  def _fit(self, pipelines, steps_per_epoch):
    history, first_epoch = self._start(steps_per_epoch)
    best = self.run.best_accuracy()
    writers = self._summary_writers(pipelines)
    self.savers.last_save = time.monotonic()
    try:
      with saving.StopRequests() as self._stops:
        for epoch in range(first_epoch, self.config.epoch):
          started = time.time()
          row, step_seconds = self._train_epoch(epoch, steps_per_epoch,
                                                pipelines, writers, history)
          if 'validation' in pipelines:
            row.update(self._validate_epoch(row['step'], pipelines,
                                            writers))
          best, improved = self._save_epoch(row, history, best)
          self._report(row, improved, time.time() - started, step_seconds)
          if epoch + 1 < self.config.epoch:
            self._stop_if_asked(row['step'], saved=True)
    finally:
      for writer in writers.values():
        writer.close()
    return history

  def _stop_if_asked(self, step, saved=False):
    """Saves (unless `saved`) and raises `TrainingStopped` after a stop
    signal."""
    if self._stops.signal_name is None:
      return
    if not saved:
      self.savers.save_latest(self.session, step)
    raise saving.TrainingStopped(self._stops.signal_name, step,
                                 self.latest_checkpoint())

  def _start(self, steps_per_epoch):
    """Restores the latest readable checkpoint or initialises, then writes
    the config; (history, first epoch)."""
    session = self._open()
    for path in self.run.remove_leftovers():
      self._say('removed %s, left by a save that was stopped' % path)
    resumed = self.savers.restore_latest(session, self.model.describe(),
                                         self._say)
    if resumed is None:
      session.run(self.init_op)
    self.run.make_checkpoint_dirs()
    self.savers.recover()
    self.run.write_config(self.config)
    step = session.run(self.model.global_step)
    first_epoch = step // steps_per_epoch
    if self.config.verbose and resumed:
      print('resumed from %s at step %d (epoch %d of %d)' %
            (resumed, step, first_epoch, self.config.epoch))
    return history_until(self.run.read_history(), step), first_epoch

  def _say(self, line):
    if self.config.verbose:
      print(line, flush=True)

  def _summary_writers(self, pipelines):
    """A TensorBoard writer per pipeline; the train one shows the graph."""
    return {name: tf.summary.FileWriter(
        self.run.summary_dir(name),
        self.graph if name == rundir.TRAIN_SUMMARIES else None)
            for name in pipelines}

  def _train_epoch(self, epoch, steps_per_epoch, pipelines, writers, history):
    """Runs one epoch of training steps.

    Returns:
      (its metrics row, seconds spent in the training steps).
    """
    cfg, model, session = self.config, self.model, self.session
    iterator, handle = pipelines['train']
    # Within an epoch (a checkpoint saved mid-epoch), the epoch continues
    # with its next batch, in the same order.
    step = session.run(model.global_step)
    done = max(0, step - epoch * steps_per_epoch)
    session.run(iterator.initializer, {self.epoch_seed: epoch,
                                       self.skip_batches: done})
    feed = {model.dataset_handle: self._handle(iterator, handle),
            model.is_training: True}
    totals = np.zeros(3)  # loss * n, correct, n
    step_seconds = 0.0
    bar = tqdm.tqdm(total=steps_per_epoch, initial=done, unit='step',
                    leave=False, desc='epoch %d/%d' % (epoch + 1, cfg.epoch),
                    disable=None if cfg.verbose else True)
    with bar:
      while True:
        started = time.perf_counter()
        try:
          loss, acc, lr, step, n = session.run(
              [model.loss, model.acc, model.learning_rate,
               self.step_after_update, self.batch_size], feed)
        except tf.errors.OutOfRangeError:
          break
        except tf.errors.InvalidArgumentError as error:
          raise _input_error(error) from None
        finally:
          step_seconds += time.perf_counter() - started
        self._check_finite(loss, step, epoch)
        totals += (loss * n, acc * n, n)
        summaries.write_scalars(writers['train'], step, {
            'loss': loss, 'accuracy': acc, 'learning_rate': lr})
        bar.set_postfix(loss='%.4f' % (totals[0] / totals[2]),
                        acc='%.4f' % (totals[1] / totals[2]), refresh=False)
        bar.update()
        if ('validation' in pipelines and cfg.validate_every and
            step % cfg.validate_every == 0):
          metrics = self._run_eval(*pipelines['validation'])
          history['steps'].append({'step': int(step), **metrics})
          summaries.write_scalars(writers['validation'], step, metrics)
        # The epoch's last step is saved with its row, by `_save_epoch`.
        if step < (epoch + 1) * steps_per_epoch:
          if self._save_due(step):
            self.savers.save_latest(self.session, step)
          self._stop_if_asked(step)
    return {'epoch': epoch + 1, 'step': int(step),
            'train_loss': totals[0] / totals[2],
            'train_accuracy': totals[1] / totals[2],
            'learning_rate': float(lr)}, step_seconds

  def _validate_epoch(self, step, pipelines, writers):
    """Validates at the end of an epoch; returns the row's val_* entries."""
    metrics = self._run_eval(*pipelines['validation'])
    summaries.write_scalars(writers['validation'], step, metrics)
    return {'val_loss': metrics['loss'], 'val_accuracy': metrics['accuracy']}

  def _check_finite(self, loss, step, epoch):
    if not np.isfinite(loss):
      raise FloatingPointError(
          'loss became %s at step %d (epoch %d); training stopped. '
          'Nothing was saved after the last good checkpoint: %s. '
          'Lower learning_rate or check the data.' %
          ('NaN' if np.isnan(loss) else 'infinite', step, epoch + 1,
           self.latest_checkpoint()))

  def _save_epoch(self, row, history, best):
    """Keeps the epoch's row and best as `keep_best` does, then saves its
    checkpoint.

    The latest checkpoint comes last: a kill before it resumes from the
    previous one and trains the epoch again (the history is cut back to
    it), so no epoch is ever without its row or its chance to be best.

    Returns:
      (best score so far, whether this epoch became the best checkpoint).

    Raises:
      FloatingPointError: If the weights hold NaN or infinite values;
        nothing of the epoch is saved.
    """
    self.savers.check_finite(self.session, row['step'],
                             'in epoch %d' % row['epoch'])
    kept = keep_best(self.session, self.best_saver, self.run, history, row,
                     best)
    self.savers.save_latest(self.session, row['step'], checked=True)
    return kept

  def _save_due(self, step):
    cfg = self.config
    return bool(
        (cfg.save_every_steps and step % cfg.save_every_steps == 0) or
        (cfg.save_every_seconds and
         time.monotonic() - self.savers.last_save >= cfg.save_every_seconds))

  def _report(self, row, improved, seconds, step_seconds):
    if self.config.verbose:
      print(summaries.format_epoch(row, self.config.epoch, improved, seconds,
                                   step_seconds), flush=True)

  # Evaluation and prediction.

  def _inference_weights(self):
    """A context with the weights inference uses in place: the moving
    averages when the config keeps them, else the trained ones."""
    average = self.model.moving_average
    return (average.swap(self.session) if average is not None
            else contextlib.nullcontext())

  def _run_eval(self, iterator, handle_tensor):
    model, session = self.model, self.session
    session.run(iterator.initializer)
    feed = {model.dataset_handle: self._handle(iterator, handle_tensor)}
    totals = np.zeros(4)  # loss * n, correct, correct in the top 5, n
    with self._inference_weights():
      while True:
        try:
          loss, acc, top5, n = session.run(
              [model.loss, model.acc, model.top5, self.batch_size], feed)
        except tf.errors.OutOfRangeError:
          break
        except tf.errors.InvalidArgumentError as error:
          raise _input_error(error) from None
        totals += (loss * n, acc * n, top5 * n, n)
    return {'loss': totals[0] / totals[3], 'accuracy': totals[1] / totals[3],
            'top5': totals[2] / totals[3]}

  @_in_graph
  def evaluate(self, split):
    """Loss and accuracy over a `data.Split`, in inference mode.

    Uses the weights in the session, or restores the best (else latest)
    checkpoint first.

    Returns:
      {'loss': float, 'accuracy': float, 'top5': float} (top5: the label
      among the 5 highest logits).
    """
    pipeline = self._dataset(split, 'evaluation', False)
    self._ensure_variables()
    return self._run_eval(*pipeline)

  def _images(self, images):
    images = np.asarray(images)
    expected = (self.config.height, self.config.width, self.config.channel)
    if images.ndim == 3:
      images = images[None]
    if images.ndim != 4 or images.shape[1:] != expected:
      raise ValueError(
          'images must be [N, %d, %d, %d] or one [%d, %d, %d] image, got '
          'shape %s' % (expected + expected + (images.shape,)))
    # Training data is scaled to [0, 1]; raw 8-bit images get the same,
    # then the evaluation preprocessing the pipelines apply.
    return preprocessing.apply(self._preprocessing.eval,
                               data.to_unit_range(images))

  @_in_graph
  def predict_proba(self, images):
    """Class probabilities, float32 [N, num_classes], in inference mode."""
    images = self._images(images)
    self._ensure_variables()
    batch = self.global_batch
    if not len(images):
      return np.zeros((0, self.config.num_classes), np.float32)
    with self._inference_weights():
      return np.concatenate([
          self.session.run(self.model.probabilities,
                           {self.model.input_x: images[i:i + batch]})
          for i in range(0, len(images), batch)])

  def predict(self, images):
    """One label per image, int64 [N]: the most probable class."""
    return np.argmax(self.predict_proba(images), axis=1).astype(np.int64)
