"""Evaluation that follows training, as slim's evaluation loop did.

`watch` waits for each new checkpoint in a run's `model_path`, restores
it, evaluates a split and reports top-1 and top-5 accuracy and the loss:
printed, and written as TensorBoard scalars under the run's
`summary_path/evaluation/`, so they sit beside the training curves. It
stops once `timeout` seconds pass without a new checkpoint. It runs beside
a training process (another terminal, another machine sharing the disk)
and never writes to the model directory.

Checkpoints come from `tf.train.checkpoints_iterator`, which follows the
directory's `checkpoint` state file: when training saves faster than one
evaluation takes, the checkpoints in between are skipped and the newest is
evaluated, as slim's loop did.

Typical use:

  resnet-tf1 evaluate --watch --model-path runs/model --timeout 600
"""

import os
import re
import time

import tensorflow.compat.v1 as tf

from resnet_v1_graph import classifier
from resnet_v1_graph.training import rundir
from resnet_v1_graph.training import summaries

# How often the state file is read.
POLL_SECONDS = 1.0


def wait_for_config(model_path, timeout):
  """The run's config once `train` has written it; None after `timeout`."""
  deadline = time.monotonic() + timeout
  while True:
    cfg = rundir.RunDir.read_config(model_path)
    if cfg is not None or time.monotonic() >= deadline:
      return cfg
    time.sleep(POLL_SECONDS)


def checkpoint_step(checkpoint):
  """The global step in a checkpoint's name (`model.ckpt-<step>`)."""
  match = re.search(r'-(\d+)$', checkpoint)
  return int(match.group(1)) if match else 0


def watch(cfg, split, timeout, interval=0.0, report=print):
  """Evaluates each new checkpoint of the run `cfg` names.

  Args:
    cfg: The run's `config.Config` (its `config.json`).
    split: The `data.Split` to evaluate.
    timeout: Stop after this many seconds without a new checkpoint.
    interval: At least this many seconds between two evaluations (slim's
      `--eval_interval_secs`).
    report: Called with each result line.

  Returns:
    [(step, metrics)] in the order evaluated; metrics as
    `Classifier.evaluate` returns them.
  """
  run = rundir.RunDir.from_config(cfg)
  model = classifier.Classifier(cfg.replace(verbose=False))
  with model.graph.as_default():  # The v1 writer refuses eager mode.
    writer = tf.summary.FileWriter(
        run.summary_dir(rundir.EVALUATION_SUMMARIES))
  results = []
  try:
    for checkpoint in tf.train.checkpoints_iterator(
        run.model_path, min_interval_secs=interval, timeout=timeout):
      try:
        model.restore(checkpoint)
      except (tf.errors.NotFoundError, FileNotFoundError):
        # Rotated out by training's `max_to_keep` before it could be read.
        report('%s: gone before it could be read; waiting for the next'
               % os.path.basename(checkpoint))
        continue
      metrics = model.evaluate(split)
      step = checkpoint_step(checkpoint)
      summaries.write_scalars(writer, step, metrics)
      writer.flush()
      results.append((step, metrics))
      report('step %d: top-1 %.4f top-5 %.4f loss %.4f (%s)' % (
          step, metrics['accuracy'], metrics['top5'], metrics['loss'],
          os.path.basename(checkpoint)))
  finally:
    writer.close()
    model.close()
  return results
