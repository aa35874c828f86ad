"""What is in a checkpoint, and what a network built by name would hold.

`inspect` lists every variable of a checkpoint or Keras weights file with
shape, dtype and size, grouped by scope with totals, and the family it
belongs to (see `family.recognise`). `model_variables` builds a network of
`nets.registry` in a graph of its own and returns its variables in the same
form, so `matching.diff` can hold a checkpoint against a network that was
never trained.

Typical use:

  from resnet_v1_graph import checkpoints

  print(checkpoints.format_inspection(checkpoints.inspect('model.ckpt')))
  wanted = checkpoints.model_variables('resnet_v2_50', num_classes=1000)
"""

import collections
import re

import tensorflow.compat.v1 as tf

from resnet_v1_graph import config as config_lib
from resnet_v1_graph import model as model_lib
from resnet_v1_graph.checkpoints import family as family_lib
from resnet_v1_graph.checkpoints import reading
from resnet_v1_graph.nets import registry

# The class count of a network built without one: slim's ImageNet one.
DEFAULT_CLASSES = registry.IMAGENET_CLASSES_WITH_BACKGROUND
# Slim networks open a scope named after themselves ('resnet_v2_50/').
_SLIM_SCOPES = frozenset(name for name, network in registry.NETWORKS.items()
                         if network.family in family_lib.SLIM_FAMILIES)
_SLIM_BLOCK = re.compile(r'block\d+$')
_CLASSIC_OR_KERAS_STAGE = re.compile(r'(stack_\d+|conv\d+)_block')

Group = collections.namedtuple('Group',
                               ['scope', 'variables', 'size', 'nbytes'])
Inspection = collections.namedtuple(
    'Inspection', ['path', 'variables', 'groups', 'family', 'size', 'nbytes',
                   'model_size'])


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
  variables = reading.read_variables(path)
  members = collections.OrderedDict()
  for name in sorted(variables,
                     key=lambda n: (reading.optimizer_of(n) is not None,
                                    reading.natural_key(n))):
    members.setdefault(_group_of(name), []).append(variables[name])
  groups = [Group(scope, items,
                  sum(reading.variable_size(v) for v in items),
                  sum(reading.variable_bytes(v) for v in items))
            for scope, items in members.items()]
  return Inspection(
      path=str(path), variables=variables, groups=groups,
      family=family_lib.recognise(variables),
      size=sum(g.size for g in groups), nbytes=sum(g.nbytes for g in groups),
      model_size=sum(reading.variable_size(v) for v in variables.values()
                     if not reading.is_training_state(v.name)))


def format_inspection(inspection, list_variables=True):
  """Renders an `Inspection` as text: family, groups (and variables), totals.

  Args:
    inspection: From `inspect`.
    list_variables: List every variable under its group; else one line per
      group.
  """
  lines = ['checkpoint: %s' % inspection.path,
           'family: %s' % family_lib.describe_family(inspection.family), '']
  width = max([len(v.name) for v in inspection.variables.values()] + [20])
  for group in inspection.groups:
    lines.append('%-*s %5d variables %14s elements %11s' % (
        width, group.scope, len(group.variables),
        '{:,}'.format(group.size), _human_bytes(group.nbytes)))
    if list_variables:
      for variable in group.variables:
        lines.append('  %-*s %-20s %-8s %12s' % (
            width - 2, variable.name, variable.shape, variable.dtype,
            '{:,}'.format(reading.variable_size(variable))))
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
  """The variables of a network built by name, in a graph of its own.

  Args:
    name: A network of `nets.registry`: 'resnet' (the classic class, with
      `depth`), a slim network such as 'resnet_v2_50', or a degradation net.
    num_classes: Classes of the classification layer (default
      `DEFAULT_CLASSES`); None for a slim network builds none.
    depth: Depth of the classic class (default `config.DEFAULTS.depth`).
    height: Input height and width (shapes do not depend on it).
    channel: Input channels.
    arg_scope: Build a slim network inside `resnet_arg_scope`, as its
      checkpoints were; False shows what a graph without it looks like.
    training: Build the model as the trainer does, with Adam's slots and
      global_step; else the network's variables only, as in an inference
      graph or a published checkpoint.

  Returns:
    {name: `reading.Variable`}.

  Raises:
    ValueError: On an unknown name or depth; the message lists the choices.
  """
  depth = depth or config_lib.DEFAULTS.depth
  if training:
    model = model_lib.GraphModel(config_lib.DEFAULTS.replace(
        model=name, depth=depth, height=height, width=height,
        channel=channel, num_classes=num_classes or DEFAULT_CLASSES,
        verbose=False))
    return reading.as_variables(model.graph.get_collection(
        tf.GraphKeys.GLOBAL_VARIABLES))
  network = registry.get(name)
  slim = network.family in family_lib.SLIM_FAMILIES
  settings = {}
  if 'depth' in network.settings:  # Its depth comes from the configuration.
    if depth not in network.depths:
      raise ValueError('unknown depth %r; choose one of %s' %
                       (depth, list(network.depths)))
    settings['depth'] = depth
  if not slim:
    num_classes = num_classes or DEFAULT_CLASSES
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, height, height, channel])
    if slim and not arg_scope:
      # The slim function the registry wraps in `resnet_arg_scope`; bare,
      # its convolutions get biases and no batch norm.
      network.options['network'](images, num_classes, is_training=False)
    else:
      network.logits_fn(images, False, num_classes, **settings)
    return reading.as_variables(tf.global_variables())


def _group_of(name):
  """The scope a variable is listed under."""
  optimizer = reading.optimizer_of(name)
  if optimizer:
    return 'optimizer (%s)' % optimizer
  parts = name.split('/')
  for i, part in enumerate(parts[:-1]):
    if _SLIM_BLOCK.match(part):
      return '/'.join(parts[:i + 1])
  if len(parts) > 2 and parts[0] in _SLIM_SCOPES:
    return '/'.join(parts[:2])
  match = _CLASSIC_OR_KERAS_STAGE.match(parts[0])
  if match:
    return match.group(1)
  match = reading.KERAS3_LAYER.match(name)
  if match:
    return match.group(1)
  return re.sub(r'_BN$', '', parts[0])


def _human_bytes(count):
  for unit in ('B', 'KiB', 'MiB'):
    if count < 1024:
      return '%.1f %s' % (count, unit) if unit != 'B' else '%d B' % count
    count /= 1024.0
  return '%.1f GiB' % count
