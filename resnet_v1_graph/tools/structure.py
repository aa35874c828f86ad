"""A network's structure as data, read from the graph it builds.

`read_structure` builds a network of `nets.registry` in a fresh `tf.Graph`
(inference mode, one placeholder image) and reads back its stem, its stages
(slim calls them blocks, the classic class stacks), the residual units of
each stage, their layers and their shortcuts. Everything comes from op
names, op attributes and static shapes of that graph, not from a second
description of the architecture, so `drawing` cannot drift from the code:
change a network and its picture changes with it.

What is read from the graph:
  * The units: the scopes the network opens for them, one pattern per family
    in `UNIT_SCOPES` (`resnet_v2_50/block1/unit_1`, `stack_0/stack_0_block_0`,
    `stage_0_block_0`, `res2a_branch`). Those names are the checkpoints'
    contract, so they are stable.
  * A unit's input and output: the one feature map that enters its scope and
    the one that leaves it, following the data flow from the image.
  * Its shortcut: the addition in its scope whose two terms are feature maps
    of the same shape. The term with fewer convolutions behind it inside the
    unit is the shortcut; the ops only that term needs tell its kind (a
    convolution is a projection, a 1x1 max pool or strided slice subsamples,
    a pad adds zero channels). A unit without that addition has none: the
    plain twins of `nets.degradation`.
  * The layers: convolutions and poolings, with kernel, stride, atrous rate
    and output channels from their attributes and shapes.

Typical use:

  from resnet_v1_graph.tools import structure

  net = structure.read_structure('resnet_v2_50', image_size=224)
  [(u.name, u.output_shape, u.shortcut) for u in net.stages[0].units]
  # [('unit_1', (56, 56, 256), 'projection'), ('unit_2', ..., 'identity'),
  #  ('unit_3', (28, 28, 256), 'subsampled identity')]
"""

import dataclasses
import re
from typing import Tuple

import tensorflow.compat.v1 as tf

from resnet_v1_graph import config as config_lib
from resnet_v1_graph import model as model_lib
from resnet_v1_graph.nets import registry

# Where each family opens its residual units, as a pattern over op names: the
# `scope` group is the unit's scope, `stage` its stage, `unit` its name.
_SLIM_UNITS = r'(?P<scope>(?:[^/]+/)?(?P<stage>block\d+)/(?P<unit>unit_\d+))/'
_STAGE_BLOCKS = r'(?P<scope>(?P<unit>(?P<stage>stage_\d+)_block_\d+))/'
UNIT_SCOPES = {
    'resnet': r'(?P<scope>(?P<stage>stack_\d+)/(?P<unit>stack_\d+_block_\d+))/',
    'slim_v1': _SLIM_UNITS,
    'slim_v2': _SLIM_UNITS,
    'cifar': _STAGE_BLOCKS,
    'resnet30': _STAGE_BLOCKS,
    'course': r'(?P<scope>(?P<unit>(?P<stage>res\d+)[a-z]+)_branch)/',
}

IDENTITY = 'identity'
SUBSAMPLED = 'subsampled identity'
ZERO_PADDED = 'zero-padded identity'
PROJECTION = 'projection'
NO_SHORTCUT = 'none'
SHORTCUT_KINDS = (IDENTITY, SUBSAMPLED, ZERO_PADDED, PROJECTION, NO_SHORTCUT)

_CONVOLUTIONS = ('Conv2D', 'DepthwiseConv2dNative')
_POOLS = {'MaxPool': 'max pool', 'AvgPool': 'avg pool'}
_SUBSAMPLING = ('MaxPool', 'AvgPool', 'StridedSlice')
_PADS = ('Pad', 'PadV2')
_ADDS = ('Add', 'AddV2')
_VARIABLES = ('VarHandleOp', 'VariableV2')


@dataclasses.dataclass(frozen=True)
class Layer:
  """A convolution, pooling or dense layer.

  Attributes:
    kind: 'conv', 'max pool', 'avg pool', 'global avg pool' or 'dense'.
    op: The name of its op, e.g.
      'resnet_v2_50/block1/unit_1/bottleneck_v2/conv2/Conv2D'.
    kernel: The kernel's height and width; (1, 1) for global pooling and
      dense layers.
    stride: Its stride along height (and width).
    channels: Its output channels (units of a dense layer).
    rate: Its atrous rate (1: none).
  """
  kind: str
  op: str
  kernel: Tuple[int, int]
  stride: int
  channels: int
  rate: int = 1


@dataclasses.dataclass(frozen=True)
class Unit:
  """One residual unit (block, in the classic class's words).

  Attributes:
    name: Its own scope name: 'unit_1', 'stack_0_block_1', 'res2a'.
    scope: Its full scope, e.g. 'resnet_v2_50/block1/unit_1'.
    output_shape: [height, width, channels] of its output.
    stride: The product of the strides of its residual branch.
    shortcut: One of `SHORTCUT_KINDS`.
    layers: The residual branch's convolutions and poolings, in order.
    shortcut_layers: The shortcut's (a projection's convolution), in order.
  """
  name: str
  scope: str
  output_shape: Tuple[int, int, int]
  stride: int
  shortcut: str
  layers: Tuple[Layer, ...]
  shortcut_layers: Tuple[Layer, ...] = ()

  def same_as(self, other):
    """True if `other` differs from this unit in its names only."""
    def signature(unit):
      return (unit.output_shape, unit.stride, unit.shortcut,
              [_layer_signature(layer) for layer in unit.layers],
              [_layer_signature(layer) for layer in unit.shortcut_layers])
    return signature(self) == signature(other)


@dataclasses.dataclass(frozen=True)
class Stage:
  """Consecutive units at one width (slim's block, the classic stack)."""
  name: str
  units: Tuple[Unit, ...]

  @property
  def output_shape(self):
    return self.units[-1].output_shape


@dataclasses.dataclass(frozen=True)
class Structure:
  """A network from image to logits.

  Attributes:
    name: Its `nets.registry` name.
    title: Its name for people ('ResNet-18', 'resnet_v2_50').
    family: Its family in words.
    input_shape: [height, width, channels] of the image.
    stem: The layers before the first unit.
    stem_shape: [height, width, channels] after the stem.
    stages: The stages, in order.
    head: The layers after the last unit.
    output_shape: The logits' shape without the batch, e.g. (1001,).
  """
  name: str
  title: str
  family: str
  input_shape: Tuple[int, int, int]
  stem: Tuple[Layer, ...]
  stem_shape: Tuple[int, int, int]
  stages: Tuple[Stage, ...]
  head: Tuple[Layer, ...]
  output_shape: Tuple[int, ...]

  @property
  def units(self):
    """Every unit, stage after stage."""
    return [unit for stage in self.stages for unit in stage.units]


def _layer_signature(layer):
  return dataclasses.replace(layer, op='')


def read_structure(name, image_size=None, depth=None, channels=3):
  """Builds network `name` and reads its structure from the graph.

  Args:
    name: A `nets.registry` name ('resnet', 'resnet_v2_50', ...).
    image_size: Input height and width (default: the network's own).
    depth: Depth of the classic class 'resnet' (default
      `config.DEFAULTS.depth`); other networks have theirs in the name.
    channels: Input channels.

  Returns:
    A `Structure`.

  Raises:
    ValueError: On an unknown name or depth (the message lists the
      choices), `depth` for a network that has a fixed one, an image too
      small for the network, or a graph whose units do not have one input
      and one output each.
  """
  network = registry.get(name)
  if depth is not None and 'depth' not in network.settings:
    raise ValueError('depth applies to %r only; %s has depth %d' %
                     (registry.CLASSIC, name, network.depth))
  size = image_size or network.image_size
  cfg = config_lib.DEFAULTS.replace(
      model=name, depth=depth or config_lib.DEFAULTS.depth, height=size,
      width=size, channel=channels, num_classes=network.num_classes,
      verbose=False)
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, size, size, channels],
                            name='images')
    try:
      logits = network.logits(images, False, cfg)
    except ValueError as error:
      raise ValueError('cannot build %s on %dx%d images (%s); it was '
                       'designed for %dx%d' % (name, size, size, error,
                                               network.image_size,
                                               network.image_size)) from None
  stem, stem_shape, stages, head = read_graph(images, logits,
                                              UNIT_SCOPES[network.family])
  return Structure(name, model_lib.title(cfg), network.spec.title,
                   _shape(images), stem, stem_shape, stages, head,
                   tuple(logits.shape.as_list()[1:]))


def read_graph(images, logits, unit_scope):
  """The stem, stages and head of the network from `images` to `logits`.

  Args:
    images: The input tensor [1, height, width, channels].
    logits: The network's output.
    unit_scope: A pattern (see `UNIT_SCOPES`) matching the op names of the
      residual units.

  Returns:
    (stem layers, stem output shape, stages, head layers).

  Raises:
    ValueError: If no op matches `unit_scope`, or a unit does not have one
      input and one output.
  """
  ops = _path_ops(images, logits)
  scoped = {}
  for op in ops:
    match = re.match(unit_scope, op.name)
    if match:
      scoped.setdefault(match.groupdict()['scope'], (match, []))[1].append(op)
  if not scoped:
    raise ValueError('no op between %s and %s matches the unit scopes %r' %
                     (images.name, logits.name, unit_scope))
  live = set(ops)
  stages, reads = {}, []
  for scope, (match, members) in scoped.items():
    reads.append(_read_unit(scope, match, members, live))
    stages.setdefault(match.group('stage'), []).append(reads[-1][0])
  (_, first_input, _), (_, _, last_output) = reads[0], reads[-1]
  inside = {op for _, members in scoped.values() for op in members}
  stem = _ancestors(first_input.op, lambda op: op in live and op not in inside)
  head = [op for op in ops if op not in inside and op not in stem and
          _depends_on(op, last_output.op, live)]
  return (tuple(_layers([op for op in ops if op in stem])),
          _shape(first_input),
          tuple(Stage(name, tuple(units)) for name, units in stages.items()),
          tuple(_layers(head)))


def _path_ops(images, logits):
  """The ops on a path from `images` to `logits`, in the graph's order."""
  behind = _ancestors(logits.op, lambda op: True)
  after = {images.op}
  for op in images.graph.get_operations():
    if op in behind and any(t.op in after for t in op.inputs):
      after.add(op)
  return [op for op in images.graph.get_operations() if op in after]


def _ancestors(op, keep):
  """`op` and the ops it depends on, as far as `keep(op)` holds."""
  found, todo = set(), [op]
  while todo:
    current = todo.pop()
    if current in found or not keep(current):
      continue
    found.add(current)
    todo.extend(t.op for t in current.inputs)
  return found


def _depends_on(op, source, live):
  return source in _ancestors(op, lambda o: o in live)


def _read_unit(scope, match, members, live):
  """(`Unit`, its input tensor, its output tensor)."""
  inside = set(members)
  inputs = {t for op in members for t in op.inputs
            if t.op in live and t.op not in inside}
  outputs = {t for op in live - inside for t in op.inputs
             if t.op in inside}
  if len(inputs) != 1 or len(outputs) != 1:
    raise ValueError('unit %s has %d inputs and %d outputs (%s); a residual '
                     'unit has one of each' % (
                         scope, len(inputs), len(outputs),
                         ', '.join(sorted(t.name for t in inputs | outputs))))
  shortcut_ops, kind = _shortcut(members, inside, live)
  residual = [op for op in members if op not in shortcut_ops]
  branch = _layers(residual)
  stride = 1
  for layer in branch:
    stride *= layer.stride
  output = outputs.pop()
  unit = Unit(match.group('unit'), scope, _shape(output), stride, kind,
              tuple(branch),
              tuple(_layers([op for op in members if op in shortcut_ops])))
  return unit, inputs.pop(), output


def _shortcut(members, inside, live):
  """(the ops only the shortcut needs, its kind) of one unit."""
  adds = [op for op in members if op.type in _ADDS and len(op.inputs) == 2
          and all(t.op in live for t in op.inputs)
          and op.inputs[0].shape == op.inputs[1].shape]
  if not adds:
    return set(), NO_SHORTCUT

  def behind(tensor):
    return _ancestors(tensor.op, lambda op: op in inside)

  # The residual branch holds the unit's convolutions; the shortcut has none
  # or one (a projection). Ops both need, such as v2's shared `preact`, are
  # the residual branch's.
  branches = sorted((behind(t) for t in adds[-1].inputs),
                    key=lambda ops: (_count(ops, _CONVOLUTIONS), len(ops)))
  only = branches[0] - branches[1]
  if _count(only, _CONVOLUTIONS):
    return only, PROJECTION
  if _count(only, _PADS):
    return only, ZERO_PADDED
  if _count(only, _SUBSAMPLING):
    return only, SUBSAMPLED
  return only, IDENTITY


def _count(ops, types):
  return sum(op.type in types for op in ops)


def _layers(ops):
  """The `Layer`s among `ops` (convolutions, poolings, means, matmuls)."""
  layers = []
  for op in ops:
    channels = _shape(op.outputs[0])[-1] if op.outputs[0].shape.rank else 0
    if op.type in _CONVOLUTIONS:
      layers.append(Layer('conv', op.name, _kernel_size(op),
                          op.get_attr('strides')[1], channels,
                          op.get_attr('dilations')[1]))
    elif op.type in _POOLS:
      layers.append(Layer(_POOLS[op.type], op.name,
                          tuple(op.get_attr('ksize')[1:3]),
                          op.get_attr('strides')[1], channels))
    elif op.type == 'Mean':
      layers.append(Layer('global avg pool', op.name, (1, 1), 1, channels))
    elif op.type == 'MatMul':
      layers.append(Layer('dense', op.name, (1, 1), 1, channels))
  return layers


def _kernel_size(conv):
  """A convolution's kernel height and width, those of its variable.

  The filter the op sees can be smaller: `nets.layers.conv2d` convolves a
  1x1 map with the centre tap of its kernel alone.
  """
  variables = [op for op in _ancestors(conv.inputs[1].op, lambda op: True)
               if op.type in _VARIABLES]
  if len(variables) == 1:
    shape = tf.TensorShape(variables[0].get_attr('shape'))
    return tuple(shape.as_list()[:2])
  return tuple(conv.inputs[1].shape.as_list()[:2])


def _shape(tensor):
  """A tensor's static shape without the batch, as a tuple of ints."""
  return tuple(tensor.shape.as_list()[1:])

