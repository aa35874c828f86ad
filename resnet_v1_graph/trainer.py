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
  * writes TensorBoard events (loss, accuracy, learning rate) under
    `summary_path/train` and `summary_path/validation`, and a PNG of the
    curves with their history as JSON;
  * keeps the latest `max_to_keep` checkpoints in `model_path` and the best
    one by validation accuracy in `model_path/best`;
  * resumes from the latest checkpoint, `global_step` continuing, and trains
    the epochs that remain;
  * stops on a NaN loss without saving, so the last good checkpoint stays.
"""

import functools
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from resnet_v1_graph import checkpoints
from resnet_v1_graph import data

CHECKPOINT_NAME = 'model.ckpt'
BEST_DIR = 'best'
BEST_RECORD = 'best.json'
HISTORY_FILE = 'history.json'
CURVES_FILE = 'curves.png'
PROGRESS_WIDTH = 30


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


class _Progress:
  """A one-line progress bar with live loss and accuracy."""

  def __init__(self, total, title, enabled):
    self.total, self.title, self.enabled = total, title, enabled
    self.interactive = enabled and sys.stdout.isatty()
    self.start = time.time()

  def update(self, done, loss, acc):
    if not self.interactive:
      return
    filled = PROGRESS_WIDTH * done // max(self.total, 1)
    sys.stdout.write('\r%s [%s%s] %d/%d loss %.4f acc %.4f' % (
        self.title, '=' * filled, '.' * (PROGRESS_WIDTH - filled), done,
        self.total, loss, acc))
    sys.stdout.flush()

  def finish(self, message):
    if self.interactive:
      sys.stdout.write('\r' + ' ' * (len(self.title) + PROGRESS_WIDTH + 50) +
                       '\r')
    if self.enabled:
      print('%s %s (%.1fs)' % (self.title, message, time.time() - self.start))
      sys.stdout.flush()


class Trainer:
  """Runs a `GraphModel`: one session, savers, summaries.

  Args:
    model: A `model.GraphModel`.
  """

  def __init__(self, model):
    self.model = model
    self.config = model.config
    self.graph = model.graph
    with self.graph.as_default():
      self.saver = tf.train.Saver(max_to_keep=self.config.max_to_keep)
      self.best_saver = tf.train.Saver(max_to_keep=1)
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
      self.session = tf.Session(graph=self.graph,
                                config=session_config(self.config))
    return self.session

  def close(self):
    if self.session is not None:
      self.session.close()
      self.session = None
      self._handles = {}

  @property
  def model_path(self):
    return self.config.model_path

  @property
  def best_path(self):
    return os.path.join(self.model_path, BEST_DIR)

  def latest_checkpoint(self):
    return tf.train.latest_checkpoint(self.model_path)

  def best_checkpoint(self):
    return tf.train.latest_checkpoint(self.best_path)

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
      checkpoint = self.best_checkpoint() or self.latest_checkpoint()
      if checkpoint is None:
        raise FileNotFoundError(
            'no checkpoint in %s; train first (fit) or pass a checkpoint' %
            self.model_path)
    elif os.path.isdir(checkpoint):
      found = tf.train.latest_checkpoint(checkpoint)
      if found is None:
        raise FileNotFoundError('no checkpoint in directory %s' % checkpoint)
      checkpoint = found
    checkpoints.check(checkpoint, tf.global_variables(),
                      _describe(self.model))
    self.saver.restore(self._open(), checkpoint)
    return checkpoint

  def _ensure_variables(self):
    """Restores the best/latest checkpoint unless the session has weights."""
    if self.session is None:
      self.restore()

  # Data.

  def _check_split(self, split, what):
    if split is None or split.num_examples == 0:
      raise ValueError('the %s split is empty; give it at least one example'
                       % what)
    labels = split.labels
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
    dataset = split.batched(
        self.config.batch_size,
        shuffle_buffer=(self.config.shuffle_buffer or split.num_examples
                        if shuffle else 0),
        seed=self.epoch_seed if shuffle else None)
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
    cfg, model = self.config, self.model
    train_iterator, train_handle = self._dataset(train, 'train', True)
    val = None
    if validation is not None and validation.num_examples:
      val = self._dataset(validation, 'validation', False)
    steps_per_epoch = math.ceil(train.num_examples / cfg.batch_size)

    session = self._open()
    history = self._load_history()
    resumed = self.latest_checkpoint()
    if resumed:
      self.restore(resumed)
    else:
      session.run(self.init_op)
    step = session.run(model.global_step)
    first_epoch = step // steps_per_epoch
    if cfg.verbose and resumed:
      print('resumed from %s at step %d (epoch %d of %d)' %
            (resumed, step, first_epoch, cfg.epoch))
    best = self._best_accuracy()

    os.makedirs(self.best_path, exist_ok=True)
    writers = {
        name: tf.summary.FileWriter(os.path.join(cfg.summary_path, name),
                                    self.graph if name == 'train' else None)
        for name in (('train', 'validation') if val else ('train',))}
    try:
      for epoch in range(first_epoch, cfg.epoch):
        session.run(train_iterator.initializer, {self.epoch_seed: epoch})
        feed = {model.dataset_handle: self._handle(train_iterator,
                                                   train_handle),
                model.is_training: True}
        progress = _Progress(steps_per_epoch,
                             'epoch %d/%d' % (epoch + 1, cfg.epoch),
                             cfg.verbose)
        totals = np.zeros(3)  # loss * n, correct, n
        done = 0
        while True:
          try:
            loss, acc, lr, step, n = session.run(
                [model.loss, model.acc, model.learning_rate,
                 self.step_after_update, self.batch_size], feed)
          except tf.errors.OutOfRangeError:
            break
          if not np.isfinite(loss):
            raise FloatingPointError(
                'loss became %s at step %d (epoch %d); training stopped. '
                'Nothing was saved after the last good checkpoint: %s. '
                'Lower learning_rate or check the data.' %
                ('NaN' if np.isnan(loss) else 'infinite', step, epoch + 1,
                 self.latest_checkpoint()))
          totals += (loss * n, acc * n, n)
          done += 1
          _write_scalars(writers['train'], step, {
              'loss': loss, 'accuracy': acc, 'learning_rate': lr})
          progress.update(done, totals[0] / totals[2], totals[1] / totals[2])
          if val and cfg.validate_every and step % cfg.validate_every == 0:
            metrics = self._run_eval(*val)
            history['steps'].append({'step': int(step), **metrics})
            _write_scalars(writers['validation'], step, metrics)
        row = {'epoch': epoch + 1, 'step': int(step),
               'train_loss': totals[0] / totals[2],
               'train_accuracy': totals[1] / totals[2],
               'learning_rate': float(lr)}
        if val:
          metrics = self._run_eval(*val)
          row.update(val_loss=metrics['loss'],
                     val_accuracy=metrics['accuracy'])
          _write_scalars(writers['validation'], step, metrics)
        for key, value in row.items():
          history.setdefault(key, []).append(value)
        self.saver.save(session, os.path.join(self.model_path,
                                              CHECKPOINT_NAME),
                        global_step=step)
        score = row.get('val_accuracy', row['train_accuracy'])
        improved = best is None or score > best
        if improved:
          best = score
          self.best_saver.save(session, os.path.join(self.best_path,
                                                     CHECKPOINT_NAME),
                               global_step=step)
          _write_json(os.path.join(self.best_path, BEST_RECORD),
                      {'accuracy': score, 'step': int(step),
                       'epoch': epoch + 1})
        self._save_history(history)
        progress.finish(_format_row(row) + (' *' if improved else ''))
    finally:
      for writer in writers.values():
        writer.close()
    return history

  # Evaluation and prediction.

  def _run_eval(self, iterator, handle_tensor):
    model, session = self.model, self.session
    session.run(iterator.initializer)
    feed = {model.dataset_handle: self._handle(iterator, handle_tensor)}
    total_loss = correct = count = 0.0
    while True:
      try:
        loss, acc, n = session.run([model.loss, model.acc, self.batch_size],
                                   feed)
      except tf.errors.OutOfRangeError:
        break
      total_loss += loss * n
      correct += acc * n
      count += n
    return {'loss': total_loss / count, 'accuracy': correct / count}

  @_in_graph
  def evaluate(self, split):
    """Loss and accuracy over a `data.Split`, in inference mode.

    Uses the weights in the session, or restores the best (else latest)
    checkpoint first.

    Returns:
      {'loss': float, 'accuracy': float}.
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
    if images.dtype == np.uint8:
      # Training data is scaled to [0, 1]; raw 8-bit images get the same.
      images = images / data.UINT8_MAX
    return images.astype(np.float32)

  @_in_graph
  def predict_proba(self, images):
    """Class probabilities, float32 [N, num_classes], in inference mode."""
    images = self._images(images)
    self._ensure_variables()
    batch = self.config.batch_size
    return np.concatenate([
        self.session.run(self.model.probabilities,
                         {self.model.input_x: images[i:i + batch]})
        for i in range(0, len(images), batch)]) if len(images) else np.zeros(
            (0, self.config.num_classes), np.float32)

  def predict(self, images):
    """One label per image, int64 [N]: the most probable class."""
    return np.argmax(self.predict_proba(images), axis=1).astype(np.int64)

  # History and curves.

  def _best_accuracy(self):
    path = os.path.join(self.best_path, BEST_RECORD)
    if self.best_checkpoint() and os.path.exists(path):
      with open(path, encoding='utf-8') as f:
        return json.load(f)['accuracy']
    return None

  def _history_path(self):
    return os.path.join(self.config.summary_path, HISTORY_FILE)

  def _load_history(self):
    path = self._history_path()
    if self.latest_checkpoint() and os.path.exists(path):
      with open(path, encoding='utf-8') as f:
        return json.load(f)
    return {'steps': []}

  def _save_history(self, history):
    _write_json(self._history_path(), history)
    plot_curves(history, os.path.join(self.config.summary_path, CURVES_FILE))


def session_config(cfg):
  """The `tf.ConfigProto` for a config: thread pools, precision, XLA.

  'bf16' turns on oneDNN's automatic mixed precision graph rewrite, which
  runs matmuls and convolutions in bfloat16 on CPUs that have it (AVX512-BF16,
  AMX) while variables and the loss stay float32. 'fp16' turns on the CUDA
  rewrite (the model adds dynamic loss scaling); on a CPU it changes nothing.
  """
  proto = tf.ConfigProto(
      intra_op_parallelism_threads=cfg.intra_op_threads,
      inter_op_parallelism_threads=cfg.inter_op_threads)
  rewrites = proto.graph_options.rewrite_options
  if cfg.precision == 'bf16':
    rewrites.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  elif cfg.precision == 'fp16':
    rewrites.auto_mixed_precision = rewriter_config_pb2.RewriterConfig.ON
  if cfg.xla:
    proto.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
    if ('--tf_xla_cpu_global_jit' not in os.environ.get('TF_XLA_FLAGS', '')
        and not tf.config.list_physical_devices('GPU')):
      warnings.warn(
          'xla=True has no effect on a CPU-only machine: TensorFlow clusters '
          'CPU graphs for XLA only with TF_XLA_FLAGS=--tf_xla_cpu_global_jit '
          'set before it starts (and then ResNet training ran slower here; '
          'see BENCHMARKS.md).', RuntimeWarning, stacklevel=2)
  return proto


def _describe(model):
  cfg = model.config
  name = getattr(model, 'name', None) or 'ResNet-%d' % cfg.depth
  return '%s with %d classes and %dx%dx%d inputs' % (
      name, cfg.num_classes, cfg.height, cfg.width, cfg.channel)


def _format_row(row):
  text = 'loss %.4f acc %.4f' % (row['train_loss'], row['train_accuracy'])
  if 'val_accuracy' in row:
    text += ' | val loss %.4f acc %.4f' % (row['val_loss'],
                                           row['val_accuracy'])
  return text + ' | lr %.2e' % row['learning_rate']


def _write_scalars(writer, step, metrics):
  writer.add_summary(tf.Summary(value=[
      tf.Summary.Value(tag=tag, simple_value=value)
      for tag, value in metrics.items()]), step)


def _write_json(path, value):
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  temporary = path + '.tmp'
  with open(temporary, 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=1)
  os.replace(temporary, path)  # Never leave a half-written file behind.


def plot_curves(history, path):
  """Writes a PNG: loss and accuracy per epoch, train and validation."""
  import matplotlib
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt
  figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
  epochs = history.get('epoch', [])
  for key, label in (('train_loss', 'train'), ('val_loss', 'validation')):
    if history.get(key):
      loss_axis.plot(epochs, history[key], marker='o', label=label)
  for key, label in (('train_accuracy', 'train'),
                     ('val_accuracy', 'validation')):
    if history.get(key):
      acc_axis.plot(epochs, history[key], marker='o', label=label)
  for axis, title in ((loss_axis, 'loss'), (acc_axis, 'accuracy')):
    axis.set_xlabel('epoch')
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
  figure.tight_layout()
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  figure.savefig(path, dpi=100)
  plt.close(figure)
