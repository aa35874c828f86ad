"""What a training run reports: TensorBoard scalars, epoch lines, curves.

Typical use:

  writer = tf.summary.FileWriter(run.summary_dir('train'))
  summaries.write_scalars(writer, step, {'loss': 0.3, 'accuracy': 0.9})
  summaries.plot_curves(history, run.curves_path)
"""

import os

from matplotlib import figure as figure_lib
import tensorflow.compat.v1 as tf


def format_row(row):
  """One epoch's metrics as a line: loss, accuracy, validation, rate."""
  text = 'loss %.4f acc %.4f' % (row['train_loss'], row['train_accuracy'])
  if 'val_accuracy' in row:
    text += ' | val loss %.4f acc %.4f' % (row['val_loss'],
                                           row['val_accuracy'])
  return text + ' | lr %.2e' % row['learning_rate']


def format_epoch(row, epochs, improved, seconds, step_seconds):
  """The line printed at an epoch's end; ' *' marks a new best checkpoint.

  `seconds` is the whole epoch, `step_seconds` its training steps alone
  (without validation, checkpoints and curves): throughput is
  images / step_seconds.
  """
  return 'epoch %d/%d step %d %s%s (%.1fs, steps %.1fs)' % (
      row['epoch'], epochs, row['step'], format_row(row),
      ' *' if improved else '', seconds, step_seconds)


def write_scalars(writer, step, metrics):
  """Adds {tag: value} scalars at `step` to a `tf.summary.FileWriter`."""
  writer.add_summary(tf.Summary(value=[
      tf.Summary.Value(tag=tag, simple_value=value)
      for tag, value in metrics.items()]), step)


def plot_curves(history, path):
  """Writes a PNG: loss and accuracy per epoch, train and validation."""
  # A Figure of its own, not pyplot's global state: nothing to close, and no
  # backend to switch under a user's notebook.
  figure = figure_lib.Figure(figsize=(10, 4))
  loss_axis, acc_axis = figure.subplots(1, 2)
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
