"""Reading, comparing and diagnosing checkpoints.

A plain `Saver.restore` of a checkpoint that does not fit fails deep inside
TensorFlow with one key at a time. `compare` lists every difference at once,
and `CheckpointMismatchError` explains the usual causes.

The tools behind `resnet-tf1 checkpoint` read TensorFlow checkpoints and
Keras weight files alike:

  * `inspect(path)`: every variable with shape, dtype and size, grouped by
    scope with totals, and the family it belongs to (slim ResNet v1/v2 and
    its depth from the units per block, the classic `ResNet` class and its
    depth, Keras applications' ResNet50/ResNet50V2 and deeper);
  * `diff(a, b)`: missing, unexpected and shape-mismatched variables between
    two checkpoints, or a checkpoint and a model built by name
    (`model_variables('resnet_v2_50', num_classes=1001)`), with the usual
    causes named in plain words.

Typical use:

  from resnet_v1_graph import checkpoints

  print(checkpoints.format_inspection(checkpoints.inspect('model.ckpt')))
  result = checkpoints.diff('resnet_v2_50.ckpt',
                            checkpoints.model_variables('resnet_v2_50',
                                                        num_classes=1000))
  print(checkpoints.format_diff(result))
"""

import collections
import os
import re

import numpy as np
import tensorflow.compat.v1 as tf

Comparison = collections.namedtuple(
    'Comparison', ['missing', 'unexpected', 'mismatched'])


class CheckpointMismatchError(ValueError):
  """A checkpoint that does not match the graph it is restored into."""


def checkpoint_variables(path):
  """{name: shape} of the variables stored in a checkpoint.

  Raises:
    FileNotFoundError: If there is no checkpoint at `path`.
  """
  try:
    return {name: list(shape) for name, shape in tf.train.list_variables(path)}
  except (tf.errors.NotFoundError, tf.errors.DataLossError,
          ValueError) as error:
    raise FileNotFoundError('no readable checkpoint at %s (%s)' %
                            (path, error)) from None


def compare(path, variables):
  """Compares checkpoint `path` with `variables` of a graph.

  Args:
    path: A checkpoint prefix.
    variables: The variables a `Saver` would restore.

  Returns:
    A `Comparison` of sorted lists: `missing` (in the graph, not the
    checkpoint), `unexpected` (in the checkpoint, not the graph) and
    `mismatched` `(name, checkpoint_shape, graph_shape)` triples.
  """
  stored = checkpoint_variables(path)
  wanted = {v.op.name: v.shape.as_list() for v in variables}
  return Comparison(
      missing=sorted(set(wanted) - set(stored)),
      unexpected=sorted(set(stored) - set(wanted)),
      mismatched=sorted((name, stored[name], wanted[name])
                        for name in set(stored) & set(wanted)
                        if stored[name] != wanted[name]))


def check(path, variables, what='this model'):
  """Raises if `path` cannot restore `variables`; extra entries are fine.

  Raises:
    CheckpointMismatchError: Listing missing and shape-mismatched variables
      (and, for context, unexpected ones) with a likely cause.
  """
  comparison = compare(path, variables)
  if not comparison.missing and not comparison.mismatched:
    return comparison
  lines = ['checkpoint %s does not match %s:' % (path, what)]
  for title, names in (('missing from the checkpoint', comparison.missing),
                       ('not in the model', comparison.unexpected)):
    if names:
      # Model variables first: optimizer slots follow from them.
      shown = sorted(names, key=lambda n: (is_training_state(n), n))[:10]
      lines.append('  %s (%d): %s' % (title, len(names), ', '.join(shown) +
                                      (' ...' if len(names) > 10 else '')))
  for name, stored, wanted in comparison.mismatched[:10]:
    lines.append('  shape of %s: checkpoint %s, model %s' %
                 (name, stored, wanted))
  causes = diff(path, variables).causes
  # Optimizer state is never the reason a restore fails; name it only alone.
  causes = [c for c in causes if c.code != 'optimizer'] or causes
  lines.append('  A is the checkpoint, B is %s' % what)
  lines += ['  likely cause: ' + cause.message for cause in causes]
  raise CheckpointMismatchError('\n'.join(lines))


# Inspection and diff: the library behind `resnet-tf1 checkpoint`.

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
HEAD_SCOPES = ('logits', 'dense', 'predictions')
# Slim's published checkpoints have one class more than ImageNet: class 0
# is 'background'.
IMAGENET_CLASSES = 1000
IMAGENET_CLASSES_WITH_BACKGROUND = 1001
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
# Convolutions outside the bottleneck units of a Keras ResNet: conv1 and one
# projection shortcut per stage; v2 has no batch norm after either of them.
KERAS_CONVS_OUTSIDE_UNITS = 5
KERAS_V2_CONVS_WITHOUT_BN = 4
CONVS_PER_BOTTLENECK = 3
# Listing limits of `format_diff`.
SHOWN_NAMES = 20

FAMILY_TITLES = {
    'slim_v1': 'slim ResNet v1',
    'slim_v2': 'slim ResNet v2',
    'resnet': 'the classic ResNet class (resnet_v1_graph)',
    'keras_v1': 'Keras applications ResNet (v1)',
    'keras_v2': 'Keras applications ResNetV2',
}

Variable = collections.namedtuple('Variable', ['name', 'shape', 'dtype'])
Family = collections.namedtuple('Family',
                                ['kind', 'depth', 'num_classes', 'scope'])
Group = collections.namedtuple('Group',
                               ['scope', 'variables', 'size', 'nbytes'])
Inspection = collections.namedtuple(
    'Inspection', ['path', 'variables', 'groups', 'family', 'size', 'nbytes',
                   'model_size'])
Cause = collections.namedtuple('Cause', ['code', 'message'])
Diff = collections.namedtuple(
    'Diff', ['missing', 'unexpected', 'mismatched', 'causes', 'families'])

_SLIM_UNIT = re.compile(r'^(?:(.*)/)?block(\d+)/unit_(\d+)/bottleneck_v([12])/')
_CLASSIC_CONV = re.compile(r'^stack_(\d+)_block_(\d+)_conv_(\d+)/kernel$')
_KERAS_UNIT = re.compile(r'^conv(\d+)_block(\d+)_')
_KERAS3_LAYER = re.compile(r'^(%s)(?:_\d+)?/' % '|'.join(KERAS3_WEIGHT_NAMES))
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


def _natural_key(text):
  return [int(part) if part.isdigit() else part
          for part in _DIGITS.split(text)]


def _keras_entries(path, values):
  """(name, array or h5py dataset) of a Keras weights file, in layer order.

  The legacy format (tf-keras `save_weights`, the published application
  weights) stores each layer's weight names; Keras 3's `.weights.h5` numbers
  the weights of layers named by class, which are named here by position.
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
      entries.sort(key=lambda entry: _natural_key(entry[0]))
    else:
      raise FileNotFoundError(
          '%s is an HDF5 file but holds no Keras weights (neither '
          '`layer_names` nor `layers/`)' % path)
    return [(name, item[()] if values else
             Variable(name, list(item.shape), tf.as_dtype(item.dtype).name))
            for name, item in entries]


def _reader(path):
  try:
    return tf.train.load_checkpoint(path)
  except (tf.errors.NotFoundError, tf.errors.DataLossError,
          ValueError) as error:
    raise FileNotFoundError('no readable checkpoint at %s (%s)' %
                            (path, error)) from None


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


def _as_variables(source):
  """A path, a {name: Variable} or a list of graph variables, by name."""
  if isinstance(source, dict):
    return source
  if isinstance(source, (str, os.PathLike)):
    return read_variables(source)
  return {v.op.name: Variable(v.op.name, v.shape.as_list(),
                              v.dtype.base_dtype.name) for v in source}


def recognise(variables):
  """The family of a set of variables, from their names and shapes.

  Args:
    variables: {name: `Variable`}.

  Returns:
    A `Family(kind, depth, num_classes, scope)` with `kind` one of
    `FAMILY_TITLES`, depth and num_classes None where they cannot be told;
    None if no family is recognised.
  """
  names = [n for n in variables if not is_training_state(n)]
  for recogniser in (_recognise_slim, _recognise_classic, _recognise_keras,
                     _recognise_keras3):
    family = recogniser(names, variables)
    if family is not None:
      return family
  return None


def _classes(variables, name):
  variable = variables.get(name)
  return variable.shape[-1] if variable is not None else None


def _recognise_slim(names, variables):
  from resnet_v2_slim import resnet_utils
  units = collections.defaultdict(set)
  scope = version = None
  for name in names:
    match = _SLIM_UNIT.match(name)
    if match:
      scope, version = match.group(1), match.group(4)
      units[int(match.group(2))].add(int(match.group(3)))
  if not units:
    return None
  counts = tuple(len(units[b]) for b in sorted(units))
  depths = [d for d, table in resnet_utils.UNITS_PER_BLOCK.items()
            if table == counts]
  logits = '%s/logits/biases' % scope if scope else 'logits/biases'
  return Family('slim_v' + version, depths[0] if depths else None,
                _classes(variables, logits), scope)


def _recognise_classic(names, variables):
  from resnet_v1_graph import model as model_lib
  blocks = collections.defaultdict(set)
  convs = set()
  for name in names:
    match = _CLASSIC_CONV.match(name)
    if match:
      blocks[int(match.group(1))].add(int(match.group(2)))
      convs.add(int(match.group(3)))
  if not blocks:
    return None
  counts = tuple(len(blocks[s]) for s in sorted(blocks))
  bottleneck = len(convs) == CONVS_PER_BOTTLENECK
  depths = [d for d, table in model_lib.BLOCKS_PER_STACK.items()
            if table == counts and
            (d >= model_lib.BOTTLENECK_FROM_DEPTH) == bottleneck]
  return Family('resnet', depths[0] if depths else None,
                _classes(variables, 'dense/kernel'), None)


def _recognise_keras(names, variables):
  from resnet_v2_slim import resnet_utils
  blocks = collections.defaultdict(set)
  for name in names:
    match = _KERAS_UNIT.match(name)
    if match:
      blocks[int(match.group(1))].add(int(match.group(2)))
  if not blocks:
    return None
  counts = tuple(len(blocks[s]) for s in sorted(blocks))
  version = '2' if any('_preact_bn/' in n or n.startswith('post_bn/')
                       for n in names) else '1'
  depths = [d for d, table in resnet_utils.UNITS_PER_BLOCK.items()
            if table == counts]
  return Family('keras_v' + version, depths[0] if depths else None,
                _classes(variables, 'predictions/bias'), None)


def _recognise_keras3(names, variables):
  convs = [n for n in names if n.startswith('conv2d') and
           n.endswith('/kernel') and len(variables[n].shape) == 4]
  norms = [n for n in names if n.startswith('batch_normalization') and
           n.endswith('/gamma')]
  if not convs or not all(_KERAS3_LAYER.match(n) for n in names):
    return None
  units, extra = divmod(len(convs) - KERAS_CONVS_OUTSIDE_UNITS,
                        CONVS_PER_BOTTLENECK)
  if extra or units <= 0:
    return None
  if len(norms) == len(convs):
    kind = 'keras_v1'
  elif len(norms) == len(convs) - KERAS_V2_CONVS_WITHOUT_BN:
    kind = 'keras_v2'
  else:
    return None
  from resnet_v2_slim import resnet_utils
  depths = [d for d, table in resnet_utils.UNITS_PER_BLOCK.items()
            if sum(table) == units]
  dense = sorted((n for n in names if n.startswith('dense') and
                  n.endswith('/kernel')), key=_natural_key)
  return Family(kind, depths[0] if depths else None,
                variables[dense[-1]].shape[-1] if dense else None, None)


def describe_family(family):
  """A family in words, e.g. 'slim ResNet v2-50 (scope resnet_v2_50)'."""
  if family is None:
    return 'not recognised'
  text = FAMILY_TITLES[family.kind]
  if family.depth:
    text += ', depth %d' % family.depth
  if family.scope:
    text += ' (scope %s)' % family.scope
  if family.num_classes:
    text += ', %d classes' % family.num_classes
    if (family.num_classes == IMAGENET_CLASSES_WITH_BACKGROUND and
        family.kind.startswith('slim')):
      text += ' (class 0 is background)'
  else:
    text += ', no classification layer'
  return text


def _group_of(name):
  """The scope a variable is listed under."""
  optimizer = optimizer_of(name)
  if optimizer:
    return 'optimizer (%s)' % optimizer
  parts = name.split('/')
  for i, part in enumerate(parts[:-1]):
    if re.match(r'block\d+$', part):
      return '/'.join(parts[:i + 1])
  if len(parts) > 2 and re.match(r'resnet_v[12]_\d+$', parts[0]):
    return '/'.join(parts[:2])
  match = re.match(r'(stack_\d+|conv\d+)_block', parts[0])
  if match:
    return match.group(1)
  match = _KERAS3_LAYER.match(name)
  if match:
    return match.group(1)
  return re.sub(r'_BN$', '', parts[0])


def inspect(path):
  """Lists a checkpoint's variables by scope, with totals and its family.

  Args:
    path: A checkpoint prefix or directory, or a Keras weights file.

  Returns:
    An `Inspection`: `variables` ({name: Variable}), `groups` (a list of
    `Group(scope, variables, size, nbytes)` in order of first appearance),
    `family` (see `recognise`), total `size` (elements) and `nbytes`, and
    `model_size`, the elements without optimizer slots and global step.

  Raises:
    FileNotFoundError: If nothing readable is at `path`.
  """
  variables = read_variables(path)
  members = collections.OrderedDict()
  for name in sorted(variables, key=lambda n: (optimizer_of(n) is not None,
                                               _natural_key(n))):
    members.setdefault(_group_of(name), []).append(variables[name])
  groups = [Group(scope, items, sum(variable_size(v) for v in items),
                  sum(variable_bytes(v) for v in items))
            for scope, items in members.items()]
  return Inspection(
      path=str(path), variables=variables, groups=groups,
      family=recognise(variables),
      size=sum(g.size for g in groups), nbytes=sum(g.nbytes for g in groups),
      model_size=sum(variable_size(v) for v in variables.values()
                     if not is_training_state(v.name)))


def _human_bytes(count):
  for unit in ('B', 'KiB', 'MiB'):
    if count < 1024:
      return '%.1f %s' % (count, unit) if unit != 'B' else '%d B' % count
    count /= 1024.0
  return '%.1f GiB' % count


def format_inspection(inspection, list_variables=True):
  """Renders an `Inspection` as text: family, groups (and variables), totals.

  Args:
    inspection: From `inspect`.
    list_variables: List every variable under its group; else one line per
      group.
  """
  lines = ['checkpoint: %s' % inspection.path,
           'family: %s' % describe_family(inspection.family), '']
  width = max([len(v.name) for v in inspection.variables.values()] + [20])
  for group in inspection.groups:
    lines.append('%-*s %5d variables %14s elements %11s' % (
        width, group.scope, len(group.variables),
        '{:,}'.format(group.size), _human_bytes(group.nbytes)))
    if list_variables:
      for variable in group.variables:
        lines.append('  %-*s %-20s %-8s %12s' % (
            width - 2, variable.name, variable.shape, variable.dtype,
            '{:,}'.format(variable_size(variable))))
  lines.append('')
  lines.append('total: %d variables, %s elements (%s); model %s, '
               'optimizer and step %s' % (
                   len(inspection.variables), '{:,}'.format(inspection.size),
                   _human_bytes(inspection.nbytes),
                   '{:,}'.format(inspection.model_size),
                   '{:,}'.format(inspection.size - inspection.model_size)))
  return '\n'.join(lines)


def model_variables(name, num_classes=None, depth=None, height=64,
                    channel=3, arg_scope=True, training=False):
  """The variables of a model built by name, in a graph of its own.

  Args:
    name: 'resnet' (the classic class, with `depth`) or a slim network name
      such as 'resnet_v2_50'.
    num_classes: Classes of the classification layer; None (slim only) for
      none.
    depth: Depth of the classic class.
    height: Input height and width (shapes do not depend on it).
    channel: Input channels.
    arg_scope: Build a slim network inside `resnet_arg_scope`, as its
      checkpoints were; False shows what a graph without it looks like.
    training: Build the model as the trainer does, with Adam's slots and
      global_step; else the network's variables only, as in an inference
      graph or a published checkpoint.

  Returns:
    {name: `Variable`}.

  Raises:
    ValueError: On an unknown name or depth.
  """
  from resnet_v1_graph import config as config_lib
  from resnet_v1_graph import model as model_lib
  depth = depth or config_lib.DEFAULTS.depth
  if training:
    model = model_lib.build(name, depth=depth, height=height, width=height,
                            channel=channel,
                            num_classes=num_classes or
                            IMAGENET_CLASSES_WITH_BACKGROUND,
                            verbose=False)
    return _as_variables(model.graph.get_collection(
        tf.GraphKeys.GLOBAL_VARIABLES))
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, height, height, channel])
    if name == 'resnet':
      if depth not in config_lib.DEPTHS:
        raise ValueError('unknown depth %r; choose one of %s' %
                         (depth, list(config_lib.DEPTHS)))
      model_lib.resnet_logits(images, False, depth, num_classes or
                              IMAGENET_CLASSES_WITH_BACKGROUND)
      return _as_variables(tf.global_variables())
    import resnet_v2_slim
    import tf_slim
    network = resnet_v2_slim.get_network(name)
    if arg_scope:
      with tf_slim.arg_scope(resnet_v2_slim.resnet_arg_scope()):
        network(images, num_classes, is_training=False)
    else:
      network(images, num_classes, is_training=False)
    return _as_variables(tf.global_variables())


def diff(source, target):
  """What restoring `source` into `target` would miss, and why.

  Args:
    source: The checkpoint to restore: a path, or {name: Variable}.
    target: What it is restored into: a path, {name: Variable} (e.g. from
      `model_variables`) or a list of graph variables.

  Returns:
    A `Diff`: `missing` (in target, not source) and `unexpected` (in
    source, not target), model variables first, each sorted; `mismatched`
    `(name, source_shape, target_shape)`; `causes` (a list of `Cause(code, message)`; codes 'keras', 'version',
    'architecture', 'depth', 'scope', 'num_classes', 'arg_scope',
    'optimizer', 'unknown') and `families` (source's and target's).

  Raises:
    FileNotFoundError: If a path holds nothing readable.
  """
  source, target = _as_variables(source), _as_variables(target)

  def model_first(name):  # Optimizer slots follow from model variables.
    return is_training_state(name), _natural_key(name)

  missing = sorted(set(target) - set(source), key=model_first)
  unexpected = sorted(set(source) - set(target), key=model_first)
  mismatched = sorted(
      ((name, source[name].shape, target[name].shape)
       for name in set(source) & set(target)
       if source[name].shape != target[name].shape),
      key=lambda item: _natural_key(item[0]))
  families = (recognise(source), recognise(target))
  causes = _causes(source, target, missing, unexpected, mismatched, families)
  return Diff(missing, unexpected, mismatched, causes, families)


def _causes(source, target, missing, unexpected, mismatched, families):
  causes = []
  first, second = families
  kinds = {f.kind for f in families if f is not None}
  if first and second:
    keras = [f.kind.startswith('keras') for f in families]
    if keras[0] != keras[1]:
      side = 'A' if keras[0] else 'B'
      causes.append(Cause('keras', (
          '%s holds Keras applications weights, whose layer names '
          '(conv2_block1_1_conv/kernel, ...) no TensorFlow-1 graph uses; '
          'convert them with `resnet-tf1 convert`' % side)))
    elif first.kind != second.kind:
      versions = kinds in ({'slim_v1', 'slim_v2'}, {'keras_v1', 'keras_v2'})
      causes.append(Cause('version' if versions else 'architecture', (
          'A is %s but B is %s: %s' % (
              FAMILY_TITLES[first.kind], FAMILY_TITLES[second.kind],
              'v1 and v2 checkpoints do not mix (v2 normalizes before every '
              'convolution and ends in postnorm, v1 normalizes after); build '
              'the version the checkpoint was trained as' if versions else
              'different architectures, whose weights do not carry over'))))
    elif first.depth != second.depth:
      causes.append(Cause('depth', (
          'a different depth: A is depth %s but B is depth %s, so the blocks '
          'hold different numbers of units; build B with depth %s' %
          (first.depth, second.depth, first.depth))))
    elif first.scope != second.scope:
      causes.append(Cause('scope', (
          'the same network under different scopes (A: %s, B: %s); build B '
          'with scope=%r or map the names when restoring' %
          (first.scope, second.scope, first.scope))))
  head = [m for m in mismatched if is_head(m[0]) and
          not is_training_state(m[0])]
  body = [m for m in mismatched if not is_head(m[0])]
  if head and not body:
    classes = {m[1][-1] for m in head}, {m[2][-1] for m in head}
    if len(classes[0]) == len(classes[1]) == 1 and classes[0] != classes[1]:
      a, b = classes[0].pop(), classes[1].pop()
      message = ('a different number of classes: A has %d, B has %d; build B '
                 'with num_classes=%d, or fine-tune with the head excluded '
                 '(`train --init-from A --exclude logits`)' % (a, b, a))
      if {a, b} == {IMAGENET_CLASSES, IMAGENET_CLASSES_WITH_BACKGROUND}:
        message = ('1001 vs 1000 classes: slim\'s ImageNet checkpoints have '
                   '1001, class 0 being background, where Keras and most '
                   'code have 1000; build with num_classes=%d, or drop/add '
                   'the background row (`convert.adapt_classes`)' % a)
      causes.append(Cause('num_classes', message))
  bias_side = _arg_scope_side(source, target)
  if bias_side:
    other = 'B' if bias_side == 'A' else 'A'
    causes.append(Cause('arg_scope', (
        '%s was built without resnet_arg_scope: its convolutions have '
        'biases where %s has BatchNorm; build it inside '
        '`slim.arg_scope(resnet_arg_scope())`' % (bias_side, other))))
  states = [_training_state(source), _training_state(target)]
  if states[0] != states[1]:
    for side, mine, theirs in (('A', states[0], states[1]),
                               ('B', states[1], states[0])):
      only = sorted(mine - theirs)
      if only:
        causes.append(Cause('optimizer', (
            'training state only in %s: %s. %s' % (
                side, ', '.join(only),
                'Harmless when restoring A into B: a Saver of B\'s variables '
                'never reads it' if side == 'A' else
                'Restore A with a Saver over the model variables only (as '
                '`train --init-from` does) and initialise the rest'))))
  if not (first and second) and _only_whole_units_differ(missing,
                                                         unexpected):
    causes.append(Cause('depth', (
        'a different depth: only whole residual units differ; build B with '
        'the depth A was trained with')))
  if (missing or unexpected or mismatched) and not [
      c for c in causes if c.code != 'optimizer']:
    explained = all(is_training_state(n) for n in missing + unexpected) and (
        not mismatched)
    if not explained:
      causes.append(Cause('unknown', (
          'no usual cause recognised; compare the names and shapes above')))
  return causes


def _only_whole_units_differ(missing, unexpected):
  names = [n for n in missing + unexpected if not is_training_state(n)]
  return bool(names) and all('_block_' in n or '/unit_' in n for n in names)


def _training_state(variables):
  """The optimizers (and 'global_step') that left variables here."""
  found = {optimizer_of(n) for n in variables} - {None}
  if GLOBAL_STEP in variables:
    found.add(GLOBAL_STEP)
  return found


def _arg_scope_side(source, target):
  """'A' or 'B' if that side has conv biases where the other has BatchNorm."""
  def biased(variables):
    return {n[:-len('/biases')] for n in variables if n.endswith('/biases')}

  def normalized(variables):
    return {n.split('/BatchNorm/')[0] for n in variables if '/BatchNorm/' in n}

  if biased(source) & normalized(target):
    return 'A'
  if biased(target) & normalized(source):
    return 'B'
  return None


def _shown(names):
  text = ', '.join(names[:SHOWN_NAMES])
  if len(names) > SHOWN_NAMES:
    text += ' ... and %d more' % (len(names) - SHOWN_NAMES)
  return text


def format_diff(result, labels=('A', 'B')):
  """Renders a `Diff` as text: both families, the differences, the causes.

  Args:
    result: From `diff`.
    labels: What A and B stand for (paths or model names).
  """
  lines = ['A: %s\n   %s' % (labels[0], describe_family(result.families[0])),
           'B: %s\n   %s' % (labels[1], describe_family(result.families[1]))]
  if not (result.missing or result.unexpected or result.mismatched):
    lines.append('identical names and shapes: A restores into B')
  for title, names in (('missing from A (in B only)', result.missing),
                       ('unexpected in A (not in B)', result.unexpected)):
    if names:
      lines.append('%s: %d\n  %s' % (title, len(names), _shown(names)))
  if result.mismatched:
    lines.append('shape mismatches: %d' % len(result.mismatched))
    for name, first, second in result.mismatched[:SHOWN_NAMES]:
      lines.append('  %s: A %s, B %s' % (name, first, second))
  if result.causes:
    lines.append('likely causes:')
    lines.extend('  - [%s] %s' % cause for cause in result.causes)
  return '\n'.join(lines)
