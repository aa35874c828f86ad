"""Training configuration: one object, validated once, then read-only.

Defaults live here and nowhere else; the `ResNet` class, the trainer and the
CLI all take theirs from `DEFAULTS`. A configuration can be written as JSON or
YAML with any subset of the fields:

  {"depth": 50, "epoch": 30, "learning_rate": 0.0005}

Typical use:

  from resnet_v1_graph import config

  cfg = config.Config.from_file('train.yaml').replace(batch_size=64)
"""

import dataclasses
import json
import os

from resnet_v1_graph.nets import classic
from resnet_v1_graph.nets import registry

DEPTHS = tuple(classic.BLOCKS_PER_STACK)
PRECISIONS = ('fp32', 'bf16', 'fp16')
FLOAT32_MAX = 3.4028234663852886e38
OPTIMIZERS = ('adam', 'momentum', 'rmsprop', 'sgd')
# The input pipeline's preprocessing (`preprocessing.PIPELINES`).
PREPROCESSING_NAMES = ('none', 'cifar', 'inception', 'vgg', 'r1')
SCHEDULES = ('exponential', 'fixed', 'piecewise', 'polynomial', 'cosine')
# `xla`'s third value: measure both ways once per machine and setting.
XLA_AUTO = 'auto'
# Fields holding lists: the type of their items (a flag takes them
# comma-separated; a file, as a list).
LIST_FIELDS = {'learning_rate_boundaries': int, 'learning_rate_values': float,
               'trainable_scopes': str}


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that shapes a model and its training.

  Attributes:
    model: The network, a name of `nets.registry` ('resnet' is the classic
      class, built at `depth`; also 'resnet_v2_50', 'cifar_resnet20', ...).
      A run's `config.json` records it, so the run can be rebuilt.
    depth: Depth of the classic class, one of `DEPTHS`.
    height, width, channel: Input image shape.
    num_classes: Number of classes (the width of the one-hot `input_y`).
    learning_rate: Initial learning rate.
    learning_decay_rate: Factor applied every `learning_decay_steps` steps
      (staircase exponential decay).
    learning_decay_steps: Steps between decays ('exponential'), or the
      length of the whole decay ('polynomial', 'cosine').
    optimizer: One of `OPTIMIZERS` (slim's `--optimizer`): 'adam' (the
      classic class's), 'momentum', 'rmsprop' or 'sgd'.
    adam_beta1, adam_beta2, opt_epsilon: Adam's (and RMSProp's epsilon).
      slim's flag defaults to epsilon 1.0; here it is TF's 1e-8, as the
      classic class uses it.
    momentum: Of 'momentum' (slim's `--momentum`).
    rmsprop_decay, rmsprop_momentum: Of 'rmsprop'.
    learning_rate_schedule: One of `SCHEDULES` (see `optimization`).
    learning_rate_boundaries, learning_rate_values: Of 'piecewise': values
      has one more entry than boundaries (global steps); values[i] holds up
      to and including boundaries[i].
    end_learning_rate: Where 'polynomial' and 'cosine' end (slim: 1e-4).
    warmup_steps: Steps of linear warm-up from `warmup_learning_rate` to the
      schedule (0: none).
    warmup_learning_rate: Where warm-up starts.
    label_smoothing: Mixes the one-hot labels with the uniform distribution
      by this weight (slim's `--label_smoothing`).
    moving_average_decay: Keep an exponential moving average of the weights
      with this decay, and evaluate and export with it (0: off; slim's
      `--moving_average_decay`).
    trainable_scopes: Only the variables under these scopes train (empty:
      all; slim's `--trainable_scopes`).
    preprocessing_name: The input pipeline's preprocessing (slim's
      `--preprocessing_name`), for training and for evaluation: 'none'
      ([0, 1] as loaded), 'cifar' (pad 4, random crop, random flip while
      training), 'inception' (inputs in [-1, 1]), 'vgg' (0..255 minus the
      ImageNet means) or 'r1' (official r1 ResNet's ImageNet
      preprocessing, 0..255 minus the means); see `preprocessing`.
    labels_offset: Subtracted from every label the data gives (slim's
      `--labels_offset`: 1 trains a 1000-class head on data that counts the
      background class as 0).
    epoch: Number of epochs `fit` trains to (a resumed run trains the rest).
    batch_size: Examples per step and tower; a step of `num_clones` towers
      on each of W workers of a synchronous cluster takes
      `batch_size * num_clones * W` (slim's convention).
    num_clones: Towers: copies of the network in one graph, each on its own
      device and slice of the batch, their gradients summed (slim's
      `--num_clones`). On a CPU they are logical devices.
    sync_replicas: On a cluster, aggregate the workers' gradients into one
      update per step (`SyncReplicasOptimizer`); false, every worker
      updates the parameter servers on its own (asynchronous).
    model_path: Directory for checkpoints (`best/` holds the best one).
    summary_path: Directory for TensorBoard events and the curves PNG.
    validate_every: Also validate every this many steps (0: once per epoch).
    max_to_keep: How many latest checkpoints to keep.
    save_every_steps: Also save the latest checkpoint every this many steps
      within an epoch (0: only at each epoch's end); a run resumed from one
      continues the epoch where it stopped.
    save_every_seconds: Also save the latest checkpoint when this many
      seconds passed since the last save (0: never by time).
    shuffle_buffer: tf.data shuffle buffer size (0: the whole split).
    seed: Graph-level random seed (initialisation and shuffling).
    weight_decay: L2 weight decay added to the loss (0 as in the classic
      class; the slim nets use it when > 0).
    batch_norm_momentum: Decay of batch norm's moving averages (tf.layers'
      0.99). They reach their steady state only after a few hundred steps;
      on small data a lower value (0.9) makes early validation meaningful.
    intra_op_threads, inter_op_threads: Session thread pools (0: TF default).
    precision: 'fp32'; 'bf16' (oneDNN auto-mixed-precision rewrite on CPU) or
      'fp16' (GPU auto-mixed-precision with loss scaling).
    xla: Compile the graph with XLA (global JIT): True, False, or 'auto'
      (the trainer measures a few training steps both ways on this machine,
      once per setting, and takes the faster; see
      `training.xla_choice`).
    keras_compatible: Pad and normalize as Keras' ResNets do, so weights
      converted from Keras give Keras' outputs (the classic class and slim
      v2 networks; see `convert`). Off, the graph is the classic/slim one.
    verbose: Print progress and per-epoch metrics.
  """
  model: str = registry.CLASSIC
  depth: int = 18
  height: int = 32
  width: int = 32
  channel: int = 1
  num_classes: int = 10
  learning_rate: float = 1e-3
  learning_decay_rate: float = 0.96
  learning_decay_steps: int = 100
  optimizer: str = 'adam'
  adam_beta1: float = 0.9
  adam_beta2: float = 0.999
  opt_epsilon: float = 1e-8
  momentum: float = 0.9
  rmsprop_decay: float = 0.9
  rmsprop_momentum: float = 0.9
  learning_rate_schedule: str = 'exponential'
  learning_rate_boundaries: tuple = ()
  learning_rate_values: tuple = ()
  end_learning_rate: float = 1e-4
  warmup_steps: int = 0
  warmup_learning_rate: float = 0.0
  label_smoothing: float = 0.0
  moving_average_decay: float = 0.0
  trainable_scopes: tuple = ()
  labels_offset: int = 0
  preprocessing_name: str = 'none'
  epoch: int = 20
  batch_size: int = 32
  num_clones: int = 1
  sync_replicas: bool = True
  model_path: str = 'runs/model'
  summary_path: str = 'runs/summary'
  validate_every: int = 0
  max_to_keep: int = 5
  save_every_steps: int = 0
  save_every_seconds: float = 0.0
  shuffle_buffer: int = 0
  seed: int = 0
  weight_decay: float = 0.0
  batch_norm_momentum: float = 0.99
  intra_op_threads: int = 0
  inter_op_threads: int = 0
  precision: str = 'fp32'
  xla: object = False  # True, False or XLA_AUTO
  keras_compatible: bool = False
  verbose: bool = True

  def __post_init__(self):
    for name, kind in LIST_FIELDS.items():
      value = getattr(self, name)
      if isinstance(value, str):
        value = parse_list(name, value)
      elif isinstance(value, (list, tuple)):
        value = tuple(value)
      # Frozen: lists from a file become tuples, so configs compare equal.
      object.__setattr__(self, name, value)
    if isinstance(self.xla, str):  # from a flag or a file
      try:
        object.__setattr__(self, 'xla', parse_xla(self.xla))
      except ValueError:
        pass  # `_validate` names it with the other problems
    _validate(self)

  def replace(self, **changes):
    """A copy with `changes`; unknown names raise ValueError."""
    unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
    if unknown:
      raise ValueError('unknown config field(s) %s; known: %s' %
                       (sorted(unknown), ', '.join(field_names())))
    return dataclasses.replace(self, **changes)

  def to_dict(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values, base=None):
    """`base` (default `DEFAULTS`) with the fields given in `values`."""
    return (base or DEFAULTS).replace(**dict(values))

  @classmethod
  def from_file(cls, path, base=None):
    """Reads a JSON (.json) or YAML (.yaml/.yml) file of config fields.

    Raises:
      FileNotFoundError: If `path` does not exist.
      ValueError: If the file is not a mapping, or on unknown or invalid
        fields.
    """
    if not os.path.isfile(path):
      raise FileNotFoundError('config file %s does not exist' % path)
    with open(path, encoding='utf-8') as f:
      if path.endswith(('.yaml', '.yml')):
        import yaml  # Only needed for YAML files.
        try:
          values = yaml.safe_load(f)
        except yaml.YAMLError as error:
          raise ValueError('config file %s is not valid YAML: %s'
                           % (path, error)) from None
      else:
        try:
          values = json.load(f)
        except json.JSONDecodeError as error:
          raise ValueError('config file %s is not valid JSON: %s'
                           % (path, error)) from None
    if not isinstance(values, dict):
      raise ValueError('config file %s must hold a mapping of field: value, '
                       'got %s' % (path, type(values).__name__))
    return cls.from_dict(values, base)


def field_names():
  return [f.name for f in dataclasses.fields(Config)]


def parse_list(name, text):
  """A list field from comma-separated text: '32000,48000' -> (32000, 48000).

  Raises:
    ValueError: Naming the field, if an item is not of its type.
  """
  kind = LIST_FIELDS[name]
  try:
    return tuple(kind(item.strip()) for item in text.split(',')
                 if item.strip())
  except ValueError:
    raise ValueError('%s takes comma-separated %ss, got %r'
                     % (name, kind.__name__, text)) from None


def parse_xla(text):
  """`xla` from text: 'auto', or a boolean word ('true', 'off', '1', ...).

  Raises:
    ValueError: If it is neither.
  """
  word = text.strip().lower()
  if word == XLA_AUTO:
    return XLA_AUTO
  if word in ('1', 'true', 'yes', 'on'):
    return True
  if word in ('0', 'false', 'no', 'off'):
    return False
  raise ValueError('xla must be true, false or %r, got %r' % (XLA_AUTO,
                                                              text))


def _validate(cfg):
  """Raises ValueError naming every field that is out of range."""
  problems = []

  def check(ok, message):
    if not ok:
      problems.append(message)

  def whole(name, minimum):
    value = getattr(cfg, name)
    check(isinstance(value, int) and not isinstance(value, bool) and
          value >= minimum,
          '%s must be an integer >= %d, got %r' % (name, minimum, value))

  def number(name):
    value = getattr(cfg, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    check(ok, '%s must be a number, got %r' % (name, value))
    return value if ok else None

  known = cfg.model in registry.NETWORKS
  check(known, 'unknown model %r; choose one of %s' %
        (cfg.model, ', '.join(registry.names())))
  check(not (known and cfg.keras_compatible and
             not registry.get(cfg.model).keras_compatible),
        'keras_compatible applies to resnet_v2_* (Keras ResNet*V2) and '
        'the classic class (Keras ResNet*); %s has no Keras counterpart'
        % cfg.model)
  check(cfg.depth in DEPTHS,
        'unknown depth %r; choose one of %s' % (cfg.depth, list(DEPTHS)))
  for name in ('height', 'width', 'channel', 'epoch', 'batch_size',
               'num_clones', 'learning_decay_steps', 'max_to_keep'):
    whole(name, 1)
  check(isinstance(cfg.num_classes, int) and cfg.num_classes >= 2,
        'num_classes must be an integer >= 2, got %r' % (cfg.num_classes,))
  for name in ('validate_every', 'shuffle_buffer', 'seed', 'intra_op_threads',
               'inter_op_threads', 'save_every_steps'):
    whole(name, 0)
  seconds = number('save_every_seconds')
  check(seconds is None or 0 <= seconds < float('inf'),
        'save_every_seconds must be a finite number >= 0, got %r' % seconds)
  lr = number('learning_rate')
  # The graph computes in float32: a rate beyond its range is infinite.
  check(lr is None or 0 < lr <= FLOAT32_MAX,
        'learning_rate must be a finite number > 0, got %r' % lr)
  rate = number('learning_decay_rate')
  check(rate is None or 0 < rate <= 1,
        'learning_decay_rate must be in (0, 1], got %r' % rate)
  momentum = number('batch_norm_momentum')
  check(momentum is None or 0 <= momentum < 1,
        'batch_norm_momentum must be in [0, 1), got %r' % momentum)
  decay = number('weight_decay')
  check(decay is None or decay >= 0, 'weight_decay must be >= 0')
  _validate_optimization(cfg, check, whole, number)
  check(cfg.precision in PRECISIONS, 'precision must be one of %s, got %r' %
        (list(PRECISIONS), cfg.precision))
  check(cfg.xla in (True, False, XLA_AUTO),
        "xla must be true, false or %r, got %r" % (XLA_AUTO, cfg.xla))
  for name in ('model_path', 'summary_path'):
    check(isinstance(getattr(cfg, name), str) and getattr(cfg, name),
          '%s must be a non-empty path' % name)
  if problems:
    raise ValueError('invalid config: ' + '; '.join(problems))



def _validate_optimization(cfg, check, whole, number):
  """The optimizer's and schedule's fields (slim's training options)."""
  check(cfg.optimizer in OPTIMIZERS, 'optimizer must be one of %s, got %r'
        % (', '.join(OPTIMIZERS), cfg.optimizer))
  check(cfg.preprocessing_name in PREPROCESSING_NAMES,
        'preprocessing_name must be one of %s, got %r'
        % (', '.join(PREPROCESSING_NAMES), cfg.preprocessing_name))
  check(cfg.learning_rate_schedule in SCHEDULES,
        'learning_rate_schedule must be one of %s, got %r'
        % (', '.join(SCHEDULES), cfg.learning_rate_schedule))
  for name, low, high in (('adam_beta1', 0, 1), ('adam_beta2', 0, 1),
                          ('rmsprop_decay', 0, 1), ('label_smoothing', 0, 1),
                          ('moving_average_decay', 0, 1)):
    value = number(name)
    check(value is None or low <= value < high,
          '%s must be in [%g, %g), got %r' % (name, low, high, value))
  for name in ('momentum', 'rmsprop_momentum', 'end_learning_rate',
               'warmup_learning_rate'):
    value = number(name)
    check(value is None or 0 <= value < float('inf'),
          '%s must be a finite number >= 0, got %r' % (name, value))
  epsilon = number('opt_epsilon')
  check(epsilon is None or epsilon > 0, 'opt_epsilon must be > 0')
  for name in ('warmup_steps', 'labels_offset'):
    whole(name, 0)
  for name, kind in LIST_FIELDS.items():
    value = getattr(cfg, name)
    check(isinstance(value, tuple) and all(
        isinstance(v, kind) or kind is float and isinstance(v, int)
        for v in value), '%s must be a list of %ss, got %r'
          % (name, kind.__name__, value))
  if cfg.learning_rate_schedule == 'piecewise':
    boundaries, values = cfg.learning_rate_boundaries, cfg.learning_rate_values
    check(len(values) == len(boundaries) + 1,
          'piecewise: learning_rate_values needs one more entry than '
          'learning_rate_boundaries, got %d values for %d boundaries'
          % (len(values), len(boundaries)))
    check(list(boundaries) == sorted(set(boundaries)) and
          all(isinstance(b, int) and b > 0 for b in boundaries),
          'piecewise: learning_rate_boundaries must be increasing global '
          'steps > 0, got %r' % (boundaries,))
    check(all(isinstance(v, (int, float)) and v > 0 for v in values),
          'piecewise: learning_rate_values must be > 0, got %r' % (values,))
  elif cfg.learning_rate_boundaries or cfg.learning_rate_values:
    check(False, 'learning_rate_boundaries and learning_rate_values apply '
          'to learning_rate_schedule piecewise, not %s'
          % cfg.learning_rate_schedule)


DEFAULTS = Config()

