"""The layout of a training run on disk, in one class.

A run lives in two directories, both set in its `config.Config`:

  model_path/
    config.json              the configuration, `model` included: enough to
                             rebuild the network with no other flags
    checkpoint, model.ckpt-<step>.*
                             the latest `max_to_keep` checkpoints
    best/checkpoint, best/model.ckpt-<step>.*, best/best.json
                             the best checkpoint by validation accuracy,
                             with its accuracy, step and epoch
  summary_path/
    train/, validation/      TensorBoard events
    evaluation/              TensorBoard events of `evaluate --watch`
    history.json, curves.png the per-epoch metrics and their plot

Nothing else in the project spells these names.

Typical use:

  run = RunDir.from_config(cfg)
  checkpoint = run.best_or_latest_checkpoint()
  cfg = RunDir.read_config('runs/digits/model')   # rebuild a finished run
"""

import json
import os

import tensorflow.compat.v1 as tf

from resnet_v1_graph import config as config_lib

CONFIG_FILE = 'config.json'
CHECKPOINT_NAME = 'model.ckpt'
BEST_DIR = 'best'
BEST_RECORD = 'best.json'
HISTORY_FILE = 'history.json'
CURVES_FILE = 'curves.png'
TRAIN_SUMMARIES = 'train'
VALIDATION_SUMMARIES = 'validation'
EVALUATION_SUMMARIES = 'evaluation'


def write_json(path, value):
  """Writes `value` as JSON through a temporary file, then renames it.

  A reader (or a kill) never sees a half-written file.
  """
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  temporary = path + '.tmp'
  with open(temporary, 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=1)
  os.replace(temporary, path)


def _read_json(path):
  with open(path, encoding='utf-8') as f:
    return json.load(f)


class RunDir:
  """The files of one training run.

  Args:
    model_path: The checkpoint directory.
    summary_path: The TensorBoard, history and curves directory.
  """

  def __init__(self, model_path, summary_path):
    self.model_path = model_path
    self.summary_path = summary_path

  @classmethod
  def from_config(cls, cfg):
    return cls(cfg.model_path, cfg.summary_path)

  # Configuration.

  @staticmethod
  def config_path(model_path):
    return os.path.join(model_path, CONFIG_FILE)

  @staticmethod
  def read_config(model_path, base=None):
    """The `config.Config` a run was trained with, or None if it has none.

    Args:
      model_path: The run's checkpoint directory.
      base: The config whose fields the file overrides (default
        `config.DEFAULTS`).
    """
    path = RunDir.config_path(model_path)
    if not os.path.exists(path):
      return None
    return config_lib.Config.from_dict(_read_json(path), base)

  def write_config(self, cfg):
    write_json(self.config_path(self.model_path), cfg.to_dict())

  # Checkpoints.

  @property
  def checkpoint_prefix(self):
    """What `Saver.save` writes the latest checkpoints under."""
    return os.path.join(self.model_path, CHECKPOINT_NAME)

  @property
  def best_path(self):
    return os.path.join(self.model_path, BEST_DIR)

  @property
  def best_prefix(self):
    return os.path.join(self.best_path, CHECKPOINT_NAME)

  def make_checkpoint_dirs(self):
    """Creates `model_path` and `best/` (Saver.save needs them to exist)."""
    os.makedirs(self.best_path, exist_ok=True)

  def latest_checkpoint(self):
    return tf.train.latest_checkpoint(self.model_path)

  def best_checkpoint(self):
    return tf.train.latest_checkpoint(self.best_path)

  def best_or_latest_checkpoint(self):
    """The best checkpoint, else the latest, else None."""
    return self.best_checkpoint() or self.latest_checkpoint()

  def best_accuracy(self):
    """The score of the best checkpoint, or None if there is none yet."""
    path = os.path.join(self.best_path, BEST_RECORD)
    if self.best_checkpoint() and os.path.exists(path):
      return _read_json(path)['accuracy']
    return None

  def write_best_record(self, accuracy, step, epoch):
    write_json(os.path.join(self.best_path, BEST_RECORD),
               {'accuracy': accuracy, 'step': int(step), 'epoch': epoch})

  # History and summaries.

  @property
  def history_path(self):
    return os.path.join(self.summary_path, HISTORY_FILE)

  @property
  def curves_path(self):
    return os.path.join(self.summary_path, CURVES_FILE)

  def read_history(self):
    """The history of the checkpoints on disk (empty for a new run)."""
    if self.latest_checkpoint() and os.path.exists(self.history_path):
      return _read_json(self.history_path)
    return {'steps': []}

  def write_history(self, history):
    write_json(self.history_path, history)

  def summary_dir(self, name):
    """TensorBoard's directory for one of the *_SUMMARIES names."""
    return os.path.join(self.summary_path, name)
