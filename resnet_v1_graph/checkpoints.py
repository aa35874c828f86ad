"""Comparing a checkpoint with a graph before restoring it.

A plain `Saver.restore` of a checkpoint that does not fit fails deep inside
TensorFlow with one key at a time. `compare` lists every difference at once,
and `CheckpointMismatchError` explains the usual causes.
"""

import collections

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
      shown = sorted(names, key=lambda n: (_is_slot(n), n))[:10]
      lines.append('  %s (%d): %s' % (title, len(names), ', '.join(shown) +
                                      (' ...' if len(names) > 10 else '')))
  for name, stored, wanted in comparison.mismatched[:10]:
    lines.append('  shape of %s: checkpoint %s, model %s' %
                 (name, stored, wanted))
  lines.append('  likely cause: ' + _diagnose(comparison))
  raise CheckpointMismatchError('\n'.join(lines))


def _is_slot(name):
  return name.rsplit('/', 1)[-1] in ('Adam', 'Adam_1', 'Momentum')


def _diagnose(comparison):
  mismatched = [name for name, _, _ in comparison.mismatched]
  if mismatched and all(n.split('/')[0] in ('dense', 'logits') or
                        '/logits/' in n for n in mismatched):
    return ('a different number of classes (the classification layer '
            'differs); pass the num_classes the checkpoint was trained with')
  blocks = [n for n in comparison.missing + comparison.unexpected
            if '_block_' in n or '/unit_' in n]
  if blocks and len(blocks) == len(comparison.missing +
                                   comparison.unexpected):
    return ('a different depth (only whole blocks differ); build the model '
            'with the depth the checkpoint was trained with')
  if mismatched:
    return ('a different architecture or input channel count; compare the '
            'shapes above')
  return 'the checkpoint was written by a different model'
