"""Telling which network a set of variables belongs to.

A checkpoint does not say what wrote it, but its names and shapes do: slim's
`blockN/unit_M/bottleneck_vK/` scopes give the version and, counted, the
depth; the classic class's `stack_S_block_B_conv_C` names give its depth and
whether its blocks are bottlenecks; Keras applications' `convS_blockB_`
layers (or, in Keras 3 files, the numbers of convolutions and batch norms)
give theirs. Titles and depth tables are those of `nets.registry.FAMILIES`.

Typical use:

  from resnet_v1_graph.checkpoints import family, reading

  found = family.recognise(reading.read_variables('resnet_v2_50.ckpt'))
  found  # Family(kind='slim_v2', depth=50, num_classes=1001,
         #        scope='resnet_v2_50')
  print(family.describe_family(found))
"""

import collections
import re

from resnet_v1_graph.checkpoints import reading
from resnet_v1_graph.nets import classic
from resnet_v1_graph.nets import registry

# The families of slim's generators: their graphs take `resnet_arg_scope`
# and their ImageNet checkpoints have a background class 0.
SLIM_FAMILIES = ('slim_v1', 'slim_v2')
# Keras applications' weights, whose names no TensorFlow-1 graph uses.
KERAS_FAMILIES = ('keras_v1', 'keras_v2')
# A family in words, by `Family.kind`.
FAMILY_TITLES = {kind: spec.title for kind, spec in registry.FAMILIES.items()}
# Convolutions outside the bottleneck units of a Keras ResNet: conv1 and one
# projection shortcut per stage; v2 has no batch norm after either of them.
KERAS_CONVS_OUTSIDE_UNITS = 5
KERAS_V2_CONVS_WITHOUT_BN = 4
CONVS_PER_BOTTLENECK = 3

Family = collections.namedtuple('Family',
                                ['kind', 'depth', 'num_classes', 'scope'])
Family.__doc__ = """The network a checkpoint belongs to.

  kind: A key of `nets.registry.FAMILIES` ('slim_v2', 'resnet', 'keras_v1').
  depth: Its depth, or None if the units fit no depth of the family's table.
  num_classes: Classes of the classification layer, or None without one.
  scope: The slim scope ('resnet_v2_50'), else None.
"""

_SLIM_UNIT = re.compile(r'^(?:(.*)/)?block(\d+)/unit_(\d+)/bottleneck_v([12])/')
_CLASSIC_CONV = re.compile(r'^stack_(\d+)_block_(\d+)_conv_(\d+)/kernel$')
_KERAS_UNIT = re.compile(r'^conv(\d+)_block(\d+)_')


def recognise(variables):
  """The family of a set of variables, from their names and shapes.

  Args:
    variables: {name: `reading.Variable`}.

  Returns:
    A `Family(kind, depth, num_classes, scope)` with `kind` one of
    `FAMILY_TITLES`, depth and num_classes None where they cannot be told;
    None if no family is recognised.
  """
  names = [n for n in variables if not reading.is_training_state(n)]
  for recogniser in (_recognise_slim, _recognise_classic, _recognise_keras,
                     _recognise_keras3):
    family = recogniser(names, variables)
    if family is not None:
      return family
  return None


def describe_family(family):
  """A family in words, e.g. 'slim ResNet v2, depth 50 (scope resnet_v2_50)'."""
  if family is None:
    return 'not recognised'
  text = FAMILY_TITLES[family.kind]
  if family.depth:
    text += ', depth %d' % family.depth
  if family.scope:
    text += ' (scope %s)' % family.scope
  if family.num_classes:
    text += ', %d classes' % family.num_classes
    if (family.num_classes == registry.IMAGENET_CLASSES_WITH_BACKGROUND and
        family.kind in SLIM_FAMILIES):
      text += ' (class 0 is background)'
  else:
    text += ', no classification layer'
  return text


def _depth_of(kind, counts):
  """The depth whose row of `kind`'s table is `counts`, else None."""
  depths = [d for d, table in registry.FAMILIES[kind].depths.items()
            if table == counts]
  return depths[0] if depths else None


def _classes(variables, name):
  variable = variables.get(name)
  return variable.shape[-1] if variable is not None else None


def _recognise_slim(names, variables):
  units = collections.defaultdict(set)
  scope = version = None
  for name in names:
    match = _SLIM_UNIT.match(name)
    if match:
      scope, version = match.group(1), match.group(4)
      units[int(match.group(2))].add(int(match.group(3)))
  if not units:
    return None
  kind = 'slim_v' + version
  logits = '%s/logits/biases' % scope if scope else 'logits/biases'
  return Family(kind, _depth_of(kind, tuple(len(units[b])
                                            for b in sorted(units))),
                _classes(variables, logits), scope)


def _recognise_classic(names, variables):
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
  # Depths 34 and 50 have the same blocks; their convolutions differ.
  bottleneck = len(convs) == CONVS_PER_BOTTLENECK
  depths = [d for d, table in registry.FAMILIES['resnet'].depths.items()
            if table == counts and
            (d >= classic.BOTTLENECK_FROM_DEPTH) == bottleneck]
  return Family('resnet', depths[0] if depths else None,
                _classes(variables, 'dense/kernel'), None)


def _recognise_keras(names, variables):
  blocks = collections.defaultdict(set)
  for name in names:
    match = _KERAS_UNIT.match(name)
    if match:
      blocks[int(match.group(1))].add(int(match.group(2)))
  if not blocks:
    return None
  version = '2' if any('_preact_bn/' in n or n.startswith('post_bn/')
                       for n in names) else '1'
  kind = 'keras_v' + version
  return Family(kind, _depth_of(kind, tuple(len(blocks[s])
                                            for s in sorted(blocks))),
                _classes(variables, 'predictions/bias'), None)


def _recognise_keras3(names, variables):
  convs = [n for n in names if n.startswith('conv2d') and
           n.endswith('/kernel') and len(variables[n].shape) == 4]
  norms = [n for n in names if n.startswith('batch_normalization') and
           n.endswith('/gamma')]
  if not convs or not all(reading.KERAS3_LAYER.match(n) for n in names):
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
  # Layers numbered by class tell only the total number of units.
  depths = [d for d, table in registry.FAMILIES[kind].depths.items()
            if sum(table) == units]
  dense = sorted((n for n in names if n.startswith('dense') and
                  n.endswith('/kernel')), key=reading.natural_key)
  return Family(kind, depths[0] if depths else None,
                variables[dense[-1]].shape[-1] if dense else None, None)
