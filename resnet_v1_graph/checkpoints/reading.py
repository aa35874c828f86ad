"""Reading checkpoints and Keras weight files, and naming what is in them.

A TensorFlow checkpoint and a Keras weights file (the legacy `.h5` of
tf-keras and the published applications, or Keras 3's `.weights.h5`) read
alike here: {name: `Variable(name, shape, dtype)`} or {name: array}. The
name helpers tell a network's variables from a run's training state
(optimizer slots, `global_step`) and from its classification layer.

Typical use:

  from resnet_v1_graph.checkpoints import reading

  prefix = reading.resolve_checkpoint('runs/model')   # the latest one
  variables = reading.read_variables(prefix)
  weights = {name: v for name, v in variables.items()
             if not reading.is_training_state(name)}
"""

import collections
import os
import re

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph.nets import registry

# The per-weight slots each optimizer adds, as the last name component.
OPTIMIZER_SLOTS = {
    'Adam': ('Adam', 'Adam_1'),
    'Momentum': ('Momentum',),
    'RMSProp': ('RMSProp', 'RMSProp_1'),
    'Adagrad': ('Adagrad',),
}
# Variables an optimizer keeps once for the whole model.
OPTIMIZER_GLOBALS = {'beta1_power': 'Adam', 'beta2_power': 'Adam'}
GLOBAL_STEP = 'global_step'
# Scopes of the classification layer in each family.
HEAD_SCOPES = registry.HEAD_SCOPES
KERAS_SUFFIXES = ('.h5', '.hdf5')
# Bookkeeping entries of object-based checkpoints, not variables.
CHECKPOINT_INTERNALS = ('_CHECKPOINTABLE_OBJECT_GRAPH',)
# Keras 3 `.weights.h5` files name layers by class and count; the weights of
# these layer classes come in this order.
KERAS3_WEIGHT_NAMES = {
    'conv2d': ('kernel', 'bias'),
    'dense': ('kernel', 'bias'),
    'batch_normalization': ('gamma', 'beta', 'moving_mean',
                            'moving_variance'),
}
# A Keras 3 layer named by class, with its count ('conv2d_12/').
KERAS3_LAYER = re.compile(r'^(%s)(?:_\d+)?/' % '|'.join(KERAS3_WEIGHT_NAMES))

Variable = collections.namedtuple('Variable', ['name', 'shape', 'dtype'])

_DIGITS = re.compile(r'(\d+)')


def variable_size(variable):
  """Number of elements of a `Variable`."""
  return int(np.prod(variable.shape, dtype=np.int64))


def variable_bytes(variable):
  """Bytes a `Variable` takes (0 for strings, whose size varies)."""
  return variable_size(variable) * tf.as_dtype(variable.dtype).size


def optimizer_of(name):
  """The optimizer that keeps variable `name` ('Adam', ...), else None."""
  last = name.rsplit('/', 1)[-1]
  if last in OPTIMIZER_GLOBALS:
    return OPTIMIZER_GLOBALS[last]
  if '/' in name:
    for optimizer, slots in OPTIMIZER_SLOTS.items():
      if last in slots:
        return optimizer
  return None


def is_training_state(name):
  """True for optimizer slots and the global step: a run's state."""
  return optimizer_of(name) is not None or name == GLOBAL_STEP


def is_head(name):
  """True for the classification layer (and its optimizer slots)."""
  return any(part in HEAD_SCOPES for part in name.split('/'))


def is_keras_weights(path):
  """True if `path` is a Keras weights file (legacy `.h5` or `.weights.h5`)."""
  return str(path).endswith(KERAS_SUFFIXES)


def natural_key(text):
  """A sort key that orders 'block2' before 'block10'."""
  return [int(part) if part.isdigit() else part
          for part in _DIGITS.split(text)]


def checkpoint_variables(path):
  """{name: shape} of the variables stored in a checkpoint.

  Raises:
    FileNotFoundError: If there is no checkpoint at `path`.
  """
  try:
    return {name: list(shape) for name, shape in tf.train.list_variables(path)}
  except (tf.errors.OpError, ValueError) as error:
    # NotFound, DataLoss, or a bare OpError for a damaged index ("file is
    # too short to be an sstable").
    raise FileNotFoundError('no readable checkpoint at %s (%s)' %
                            (path, error)) from None


# A numbered checkpoint's index file, and its data shards' suffix.
_NUMBERED_INDEX = re.compile(r'(?P<name>.+)-(?P<step>\d+)\.index')
_DATA_SHARD = re.compile(r'\.data-(?P<shard>\d{5})-of-(?P<count>\d{5})')
# Errors of a checkpoint whose files are damaged (truncated, overwritten).
DAMAGE_ERRORS = (tf.errors.DataLossError, tf.errors.OutOfRangeError)


def checkpoints_in(directory, name=None):
  """The complete numbered checkpoints of a directory, oldest step first.

  Found from the files themselves, not from the `checkpoint` state file,
  which a kill, an editor or a copy of the directory can leave damaged,
  stale or pointing into another directory. A checkpoint is complete when
  its index and every data shard its names count are there (a save in
  progress or killed has neither its index nor its shards under their
  final names).

  Args:
    directory: The directory to list; a missing one has no checkpoints.
    name: Only checkpoints `<name>-<step>` (e.g. 'model.ckpt'); default
      any name.

  Returns:
    A list of checkpoint prefixes (paths under `directory`).
  """
  try:
    files = set(os.listdir(directory))
  except (FileNotFoundError, NotADirectoryError):
    return []
  found = []
  for file_name in files:
    match = _NUMBERED_INDEX.fullmatch(file_name)
    if match is None or name not in (None, match.group('name')):
      continue
    prefix = file_name[:-len('.index')]
    shards = [_DATA_SHARD.fullmatch(f[len(prefix):]) for f in files
              if f.startswith(prefix + '.data-')]
    counts = {int(m.group('count')) for m in shards if m}
    if len(counts) == 1 and len([m for m in shards if m]) == counts.pop():
      found.append((int(match.group('step')), prefix))
  return [os.path.join(directory, prefix) for _, prefix in sorted(found)]


def resolve_checkpoint(path):
  """The checkpoint prefix at `path` (a prefix, or a directory's latest).

  Raises:
    FileNotFoundError: If there is no checkpoint there.
    ValueError: If `path` is a Keras weights file, which needs converting.
  """
  path = str(path)
  if is_keras_weights(path):
    raise ValueError(
        '%s holds Keras weights; convert it to a checkpoint first with '
        '`resnet-tf1 convert`' % path)
  if os.path.isdir(path):
    # The newest complete numbered checkpoint, else the one the state file
    # names (an unnumbered prefix).
    found = (checkpoints_in(path) or [tf.train.latest_checkpoint(path)])[-1]
    if found is None:
      raise FileNotFoundError('no checkpoint in directory %s' % path)
    return found
  read_variables(path)  # Raises FileNotFoundError if unreadable.
  return path


def read_variables(path):
  """Every variable of a checkpoint or Keras weights file, by name.

  Args:
    path: A checkpoint prefix, a directory (its latest checkpoint), or a
      Keras `.h5` / `.weights.h5` file.

  Returns:
    A dict {name: `Variable(name, shape, dtype)`}, in file order.

  Raises:
    FileNotFoundError: If nothing readable is at `path`.
  """
  return _read(path, values=False)


def read_arrays(path):
  """{name: numpy array} of a checkpoint or Keras weights file.

  Raises:
    FileNotFoundError: If nothing readable is at `path`.
  """
  return _read(path, values=True)


def as_variables(source):
  """{name: `Variable`} of a path, a {name: Variable} or graph variables.

  Raises:
    FileNotFoundError: If a path holds nothing readable.
  """
  if isinstance(source, dict):
    return source
  if isinstance(source, (str, os.PathLike)):
    return read_variables(source)
  return {v.op.name: Variable(v.op.name, v.shape.as_list(),
                              v.dtype.base_dtype.name) for v in source}


def _read(path, values):
  path = str(path)
  if is_keras_weights(path):
    if not os.path.isfile(path):
      raise FileNotFoundError('no Keras weights file at %s' % path)
    return dict(_keras_entries(path, values))
  reader = _reader(path)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  names = [n for n in sorted(shapes) if n not in CHECKPOINT_INTERNALS]
  if values:
    return {name: reader.get_tensor(name) for name in names}
  return {name: Variable(name, list(shapes[name]), dtypes[name].name)
          for name in names}


def _reader(path):
  if os.path.isdir(path):
    # Its newest complete checkpoint, found from the files.
    path = resolve_checkpoint(path)
  try:
    return tf.train.load_checkpoint(path)
  except (tf.errors.OpError, ValueError) as error:
    # NotFound, DataLoss, or a bare OpError for a damaged index ("file is
    # too short to be an sstable").
    raise FileNotFoundError('no readable checkpoint at %s (%s)' %
                            (path, error)) from None


def _keras_entries(path, values):
  """(name, array or `Variable`) of a Keras weights file, in layer order.

  The legacy format (tf-keras `save_weights`, the published application
  weights) stores each layer's weight names; Keras 3's `.weights.h5` numbers
  the weights of layers named by class, which are named here by position.

  Raises:
    FileNotFoundError: If the HDF5 file holds no Keras weights.
  """
  import h5py  # Only Keras files need it.
  entries = []
  with h5py.File(path, 'r') as f:
    root = f['model_weights'] if 'model_weights' in f else f
    if 'layer_names' in root.attrs:
      for layer in root.attrs['layer_names']:
        layer = layer.decode() if isinstance(layer, bytes) else layer
        group = root[layer]
        for weight in group.attrs.get('weight_names', []):
          weight = weight.decode() if isinstance(weight, bytes) else weight
          name = '%s/%s' % (layer, weight.rsplit('/', 1)[-1].split(':')[0])
          entries.append((name, group[weight]))
    elif 'layers' in root:
      found = []
      root['layers'].visititems(
          lambda key, item: found.append((key, item))
          if hasattr(item, 'shape') else None)
      for key, item in found:
        layer, _, index = key.rpartition('/vars/')
        kind = re.sub(r'_\d+$', '', layer.rsplit('/', 1)[-1])
        names = KERAS3_WEIGHT_NAMES.get(kind, ())
        label = names[int(index)] if int(index) < len(names) else index
        entries.append(('%s/%s' % (layer, label), item))
      entries.sort(key=lambda entry: natural_key(entry[0]))
    else:
      raise FileNotFoundError(
          '%s is an HDF5 file but holds no Keras weights (neither '
          '`layer_names` nor `layers/`)' % path)
    return [(name, item[()] if values else
             Variable(name, list(item.shape), tf.as_dtype(item.dtype).name))
            for name, item in entries]
