"""Whether a checkpoint fits a graph, and if not, why.

A plain `Saver.restore` of a checkpoint that does not fit fails deep inside
TensorFlow with one key at a time. `compare` lists every difference at once,
`check` raises `CheckpointMismatchError` with them, and `diff` names the
usual causes in plain words: Keras weights, v1 against v2, another depth or
scope, 1001 against 1000 classes, a graph built without `resnet_arg_scope`,
optimizer slots on one side.

Typical use:

  from resnet_v1_graph import checkpoints

  checkpoints.check('model.ckpt', tf.global_variables())  # Raises on misfit.
  result = checkpoints.diff('resnet_v2_50.ckpt',
                            checkpoints.model_variables('resnet_v2_50',
                                                        num_classes=1000))
  print(checkpoints.format_diff(result))
"""

import collections

from resnet_v1_graph.checkpoints import family as family_lib
from resnet_v1_graph.checkpoints import reading
from resnet_v1_graph.nets import registry

# Listing limits of `check` and `format_diff`.
SHOWN_IN_ERROR = 10
SHOWN_NAMES = 20

Comparison = collections.namedtuple(
    'Comparison', ['missing', 'unexpected', 'mismatched'])
Cause = collections.namedtuple('Cause', ['code', 'message'])
Diff = collections.namedtuple(
    'Diff', ['missing', 'unexpected', 'mismatched', 'causes', 'families'])


class CheckpointMismatchError(ValueError):
  """A checkpoint that does not match the graph it is restored into."""


def compare(path, variables):
  """Compares checkpoint `path` with `variables` of a graph.

  Args:
    path: A checkpoint prefix.
    variables: The variables a `Saver` would restore.

  Returns:
    A `Comparison` of sorted lists: `missing` (in the graph, not the
    checkpoint), `unexpected` (in the checkpoint, not the graph) and
    `mismatched` `(name, checkpoint_shape, graph_shape)` triples.

  Raises:
    FileNotFoundError: If there is no checkpoint at `path`.
  """
  stored = reading.checkpoint_variables(path)
  wanted = {v.op.name: v.shape.as_list() for v in variables}
  return Comparison(
      missing=sorted(set(wanted) - set(stored)),
      unexpected=sorted(set(stored) - set(wanted)),
      mismatched=sorted((name, stored[name], wanted[name])
                        for name in set(stored) & set(wanted)
                        if stored[name] != wanted[name]))


def check(path, variables, what='this model'):
  """Raises if `path` cannot restore `variables`; extra entries are fine.

  Returns:
    The `Comparison`, if the checkpoint fits.

  Raises:
    FileNotFoundError: If there is no checkpoint at `path`.
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
      shown = sorted(names, key=lambda n: (reading.is_training_state(n), n))
      lines.append('  %s (%d): %s' % (
          title, len(names), ', '.join(shown[:SHOWN_IN_ERROR]) +
          (' ...' if len(names) > SHOWN_IN_ERROR else '')))
  for name, stored, wanted in comparison.mismatched[:SHOWN_IN_ERROR]:
    lines.append('  shape of %s: checkpoint %s, model %s' %
                 (name, stored, wanted))
  causes = diff(path, variables).causes
  # Optimizer state is never the reason a restore fails; name it only alone.
  causes = [c for c in causes if c.code != 'optimizer'] or causes
  lines.append('  A is the checkpoint, B is %s' % what)
  lines += ['  likely cause: ' + cause.message for cause in causes]
  raise CheckpointMismatchError('\n'.join(lines))


def diff(source, target):
  """What restoring `source` into `target` would miss, and why.

  Args:
    source: The checkpoint to restore: a path, or {name: Variable}.
    target: What it is restored into: a path, {name: Variable} (e.g. from
      `model_variables`) or a list of graph variables.

  Returns:
    A `Diff`: `missing` (in target, not source) and `unexpected` (in
    source, not target), model variables first, each sorted; `mismatched`
    `(name, source_shape, target_shape)`; `causes` (a list of
    `Cause(code, message)`; codes 'keras', 'version', 'architecture',
    'depth', 'scope', 'num_classes', 'arg_scope', 'optimizer', 'unknown')
    and `families` (source's and target's).

  Raises:
    FileNotFoundError: If a path holds nothing readable.
  """
  source = reading.as_variables(source)
  target = reading.as_variables(target)

  def model_first(name):  # Optimizer slots follow from model variables.
    return reading.is_training_state(name), reading.natural_key(name)

  missing = sorted(set(target) - set(source), key=model_first)
  unexpected = sorted(set(source) - set(target), key=model_first)
  mismatched = sorted(
      ((name, source[name].shape, target[name].shape)
       for name in set(source) & set(target)
       if source[name].shape != target[name].shape),
      key=lambda item: reading.natural_key(item[0]))
  families = (family_lib.recognise(source), family_lib.recognise(target))
  causes = (_family_causes(*families) +
            _class_causes(mismatched) +
            _arg_scope_causes(source, target) +
            _optimizer_causes(source, target))
  if not all(families) and _only_whole_units_differ(missing, unexpected):
    causes.append(Cause('depth', (
        'a different depth: only whole residual units differ; build B with '
        'the depth A was trained with')))
  if (missing or unexpected or mismatched) and not [
      c for c in causes if c.code != 'optimizer']:
    explained = not mismatched and all(
        reading.is_training_state(n) for n in missing + unexpected)
    if not explained:
      causes.append(Cause('unknown', (
          'no usual cause recognised; compare the names and shapes above')))
  return Diff(missing, unexpected, mismatched, causes, families)


def format_diff(result, labels=('A', 'B')):
  """Renders a `Diff` as text: both families, the differences, the causes.

  Args:
    result: From `diff`.
    labels: What A and B stand for (paths or model names).
  """
  describe = family_lib.describe_family
  lines = ['A: %s\n   %s' % (labels[0], describe(result.families[0])),
           'B: %s\n   %s' % (labels[1], describe(result.families[1]))]
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


# The causes, each from one kind of evidence.

def _family_causes(first, second):
  """Keras weights, another version or architecture, depth or scope."""
  if not (first and second):
    return []
  keras = [f.kind in family_lib.KERAS_FAMILIES for f in (first, second)]
  if keras[0] != keras[1]:
    side = 'A' if keras[0] else 'B'
    return [Cause('keras', (
        '%s holds Keras applications weights, whose layer names '
        '(conv2_block1_1_conv/kernel, ...) no TensorFlow-1 graph uses; '
        'convert them with `resnet-tf1 convert`' % side))]
  if first.kind != second.kind:
    kinds = {first.kind, second.kind}
    versions = kinds in (set(family_lib.SLIM_FAMILIES),
                         set(family_lib.KERAS_FAMILIES))
    titles = family_lib.FAMILY_TITLES
    return [Cause('version' if versions else 'architecture', (
        'A is %s but B is %s: %s' % (
            titles[first.kind], titles[second.kind],
            'v1 and v2 checkpoints do not mix (v2 normalizes before every '
            'convolution and ends in postnorm, v1 normalizes after); build '
            'the version the checkpoint was trained as' if versions else
            'different architectures, whose weights do not carry over')))]
  if first.depth != second.depth:
    return [Cause('depth', (
        'a different depth: A is depth %s but B is depth %s, so the blocks '
        'hold different numbers of units; build B with depth %s' %
        (first.depth, second.depth, first.depth)))]
  if first.scope != second.scope:
    return [Cause('scope', (
        'the same network under different scopes (A: %s, B: %s); build B '
        'with scope=%r or map the names when restoring' %
        (first.scope, second.scope, first.scope)))]
  return []


def _class_causes(mismatched):
  """Another class count, when only the classification layer differs."""
  head = [m for m in mismatched if reading.is_head(m[0]) and
          not reading.is_training_state(m[0])]
  body = [m for m in mismatched if not reading.is_head(m[0])]
  if not head or body:
    return []
  classes = {m[1][-1] for m in head}, {m[2][-1] for m in head}
  if not (len(classes[0]) == len(classes[1]) == 1 and
          classes[0] != classes[1]):
    return []
  a, b = classes[0].pop(), classes[1].pop()
  message = ('a different number of classes: A has %d, B has %d; build B '
             'with num_classes=%d, or fine-tune with the head excluded '
             '(`train --init-from A --exclude logits`)' % (a, b, a))
  if {a, b} == {registry.IMAGENET_CLASSES,
                registry.IMAGENET_CLASSES_WITH_BACKGROUND}:
    message = ('%d vs %d classes: slim\'s ResNet v2 (and Inception, '
               'MobileNet) ImageNet checkpoints have %d, class 0 being '
               'background, where Keras, slim\'s ResNet v1 and VGG ones '
               '(converted from Caffe) and most code have %d; build with '
               'num_classes=%d, or drop/add the background row '
               '(`convert.adapt_classes`)' % (
                   registry.IMAGENET_CLASSES_WITH_BACKGROUND,
                   registry.IMAGENET_CLASSES,
                   registry.IMAGENET_CLASSES_WITH_BACKGROUND,
                   registry.IMAGENET_CLASSES, a))
  return [Cause('num_classes', message)]


def _arg_scope_causes(source, target):
  """Conv biases on one side where the other has BatchNorm."""
  def biased(variables):
    return {n[:-len('/biases')] for n in variables if n.endswith('/biases')}

  def normalized(variables):
    return {n.split('/BatchNorm/')[0] for n in variables if '/BatchNorm/' in n}

  if biased(source) & normalized(target):
    side, other = 'A', 'B'
  elif biased(target) & normalized(source):
    side, other = 'B', 'A'
  else:
    return []
  return [Cause('arg_scope', (
      '%s was built without resnet_arg_scope: its convolutions have '
      'biases where %s has BatchNorm; build it inside '
      '`slim.arg_scope(resnet_arg_scope())`' % (side, other)))]


def _optimizer_causes(source, target):
  """Optimizer slots or a global step on one side only."""
  states = [_training_state(source), _training_state(target)]
  causes = []
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
  return causes


def _training_state(variables):
  """The optimizers (and 'global_step') that left variables here."""
  found = {reading.optimizer_of(n) for n in variables} - {None}
  if reading.GLOBAL_STEP in variables:
    found.add(reading.GLOBAL_STEP)
  return found


def _only_whole_units_differ(missing, unexpected):
  names = [n for n in missing + unexpected if not reading.is_training_state(n)]
  return bool(names) and all('_block_' in n or '/unit_' in n for n in names)


def _shown(names):
  text = ', '.join(names[:SHOWN_NAMES])
  if len(names) > SHOWN_NAMES:
    text += ' ... and %d more' % (len(names) - SHOWN_NAMES)
  return text
