"""The layout of a training run on disk, in one class.

A run lives in two directories, both set in its `config.Config`:

  model_path/
    config.json              the configuration, `model` included: enough to
                             rebuild the network with no other flags
    checkpoint, model.ckpt-<step>.*
                             the latest `max_to_keep` checkpoints; the
                             `checkpoint` state file holds relative paths,
                             and the latest checkpoint is found from the
                             files on disk, so a damaged or stale state
                             file, a copy or a move of the run loses
                             nothing
    train.lock               the pid and host of the process training the
                             run, while it trains
    onnx/model.ckpt-<step>.onnx
                             a checkpoint exported for ONNX Runtime
                             (`predict --runtime onnxruntime`)
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

import contextlib
import json
import os
import re
import shutil
import socket
import time

from resnet_v1_graph import checkpoints
from resnet_v1_graph import config as config_lib

CONFIG_FILE = 'config.json'
CHECKPOINT_NAME = 'model.ckpt'
LOCK_FILE = 'train.lock'
ONNX_DIR = 'onnx'
# An unreadable lock younger than this is being written, not stale.
LOCK_WRITE_SECONDS = 5.
# What a killed save leaves: TensorFlow's data and state files in progress
# (`*.tempstate<N>`, `checkpoint.tmp<hex>`), a sharded save's directory
# (`*_temp`, `*_temp_<hex>`), and `write_json`'s `*.tmp`.
_LEFTOVER = re.compile(r'.*(\.tempstate\d+|\.tmp[0-9a-f]*|_temp(_[0-9a-f]+)?)')
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


class RunLockedError(RuntimeError):
  """Another live process trains the same run directory."""


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, and someone else's.
    return True
  return True


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

  def checkpoints(self):
    """The run's complete checkpoints on disk, oldest first."""
    return checkpoints.checkpoints_in(self.model_path, CHECKPOINT_NAME)

  def best_checkpoints(self):
    """The complete checkpoints in `best/`, oldest first."""
    return checkpoints.checkpoints_in(self.best_path, CHECKPOINT_NAME)

  def latest_checkpoint(self):
    found = self.checkpoints()
    return found[-1] if found else None

  def best_checkpoint(self):
    found = self.best_checkpoints()
    return found[-1] if found else None

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

  def onnx_path(self, checkpoint):
    """Where `checkpoint`'s ONNX export is kept."""
    return os.path.join(self.model_path, ONNX_DIR,
                        os.path.basename(checkpoint) + '.onnx')

  # One writer at a time.

  @property
  def lock_path(self):
    return os.path.join(self.model_path, LOCK_FILE)

  @contextlib.contextmanager
  def lock(self):
    """Holds `train.lock` while a process writes the run.

    A lock whose process is gone (on this host) is stale and replaced;
    this process may hold its own lock again.

    Raises:
      RunLockedError: If another live process holds the lock.
    """
    os.makedirs(self.model_path, exist_ok=True)
    owner = {'pid': os.getpid(), 'host': socket.gethostname()}
    while True:
      try:
        descriptor = os.open(self.lock_path,
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      except FileExistsError:
        holder = self._lock_holder()
        if holder is None and self._lock_age() < LOCK_WRITE_SECONDS:
          time.sleep(0.1)  # Just created; its owner is writing it.
          continue
        if holder == owner:
          yield  # Held by this process already: it stays held.
          return
        if holder is not None and (holder.get('host') != owner['host'] or
                                   _alive(holder.get('pid', -1))):
          raise RunLockedError(
              '%s is being trained by process %s on %s; wait for it to '
              'finish or give another --model-path (if that process is '
              'gone, delete %s)' % (self.model_path, holder.get('pid'),
                                    holder.get('host'), self.lock_path))
        with contextlib.suppress(FileNotFoundError):
          os.remove(self.lock_path)  # Stale: its process is gone.
        continue
      with os.fdopen(descriptor, 'w', encoding='utf-8') as f:
        json.dump(owner, f)
      break
    try:
      yield
    finally:
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.lock_path)

  def _lock_age(self):
    try:
      return time.time() - os.path.getmtime(self.lock_path)
    except FileNotFoundError:
      return float('inf')

  def _lock_holder(self):
    """The lock's {'pid', 'host'}, or None if it is unreadable or gone."""
    try:
      holder = _read_json(self.lock_path)
    except (OSError, ValueError):
      return None
    return holder if isinstance(holder, dict) else None

  def remove_leftovers(self):
    """Removes what killed saves left in the run's directories; returns
    the paths removed. Call it only while holding `lock`."""
    removed = []
    for directory in (self.model_path, self.best_path, self.summary_path):
      if not os.path.isdir(directory):
        continue
      for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not _LEFTOVER.fullmatch(name):
          continue
        if os.path.isdir(path):
          shutil.rmtree(path, ignore_errors=True)
        else:
          with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        removed.append(path)
    return removed

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
