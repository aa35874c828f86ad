"""Fine-tuning: start a model from another model's checkpoint.

A checkpoint trained on one task (ImageNet's 1001 classes, say) carries a
backbone worth keeping and a classification layer that fits nothing else.
`restore` loads every variable except the excluded scopes (the head by
default), skips the optimizer's slots and the global step (a new run starts
its own), and reports what it restored, what it skipped and what did not fit.
`initialize_from` does that for a `GraphModel` and writes the result as the
step-0 checkpoint of its `model_path`, so `fit` starts from it and a later
run of `fit` resumes from its own checkpoints instead.

Typical use:

  from resnet_v1_graph import build
  from resnet_v1_graph.training import finetune

  net = build('resnet_v2_50', height=224, width=224, channel=3,
                    num_classes=10, model_path='runs/flowers')
  report = finetune.initialize_from(net, 'resnet_v2_50.ckpt')
  print(finetune.format_report(report))
  net.fit(train, validation)

or from the command line:

  resnet-tf1 train --model resnet_v2_50 --init-from resnet_v2_50.ckpt \
      --exclude logits --dataset folder --data-path photos/
"""

import collections

import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import preprocessing
from resnet_v1_graph.nets import registry
from resnet_v1_graph.training import session as session_lib

# The classification layers of every family; their shape follows the task.
DEFAULT_EXCLUDE = registry.HEAD_SCOPES
# How many names of each kind `format_report` lists.
SHOWN_NAMES = 10

Report = collections.namedtuple(
    'Report', ['checkpoint', 'restored', 'excluded', 'training_state',
               'mismatched', 'missing', 'unused'])
Report.__doc__ = """What `restore` did, as sorted lists of variable names.

  checkpoint: The checkpoint prefix read.
  restored: Model variables loaded from the checkpoint.
  excluded: Model variables under an excluded scope; left as initialised.
  training_state: Optimizer slots and global_step; left as initialised.
  mismatched: `(name, checkpoint_shape, model_shape)` of variables whose
    shapes differ; left as initialised.
  missing: Model variables the checkpoint lacks; left as initialised.
  unused: Checkpoint entries the model has no variable for.
"""


def expected_preprocessing(checkpoint):
  """The input preprocessing a checkpoint's weights were trained with.

  Args:
    checkpoint: A checkpoint prefix or directory.

  Returns:
    (family, name): the checkpoint's `checkpoints.Family` and the
    `preprocessing.PIPELINES` name that gives its inputs, or None when the
    family is not recognised or no named preprocessing fits it (this
    project's own runs train on [0, 1]).

  Raises:
    FileNotFoundError: If there is no checkpoint at `checkpoint`.
  """
  family = checkpoints.inspect(checkpoints.resolve_checkpoint(
      checkpoint)).family
  if family is None:
    return None
  name = preprocessing.for_family(family).pipeline
  return None if name is None else (family, name)


def is_excluded(name, exclude):
  """True if variable `name` falls under one of the scopes in `exclude`.

  A scope matches a name that starts with it ('stack_3' matches
  'stack_3_block_0_conv_0/kernel') or holds it between slashes ('logits'
  matches 'resnet_v2_50/logits/weights').
  """
  wrapped = '/%s/' % name
  return any(name.startswith(scope) or '/%s/' % scope.strip('/') in wrapped
             for scope in exclude)


def plan(checkpoint, variables, exclude=DEFAULT_EXCLUDE):
  """Decides which of `variables` to restore from `checkpoint`.

  Args:
    checkpoint: A checkpoint prefix or directory.
    variables: The graph variables to initialise.
    exclude: Scopes to leave as initialised (see `is_excluded`).

  Returns:
    (report, var_list): a `Report` and the {checkpoint name: variable} dict
    a `tf.train.Saver` restores.

  Raises:
    FileNotFoundError: If there is no checkpoint at `checkpoint`.
  """
  checkpoint = checkpoints.resolve_checkpoint(checkpoint)
  stored = checkpoints.read_variables(checkpoint)
  kinds = collections.defaultdict(list)
  var_list = {}
  for variable in variables:
    name = variable.op.name
    shape = variable.shape.as_list()
    if checkpoints.is_training_state(name):
      kinds['training_state'].append(name)
    elif is_excluded(name, exclude):
      kinds['excluded'].append(name)
    elif name not in stored:
      kinds['missing'].append(name)
    elif stored[name].shape != shape:
      kinds['mismatched'].append((name, stored[name].shape, shape))
    else:
      kinds['restored'].append(name)
      var_list[name] = variable
  names = {v.op.name for v in variables}
  kinds['unused'] = [n for n in stored if n not in names]
  report = Report(checkpoint=checkpoint,
                  **{field: sorted(kinds[field])
                     for field in Report._fields if field != 'checkpoint'})
  return report, var_list


def restore(session, checkpoint, variables, exclude=DEFAULT_EXCLUDE):
  """Restores `variables` from `checkpoint` except the excluded scopes.

  Run the variables' initializer first: whatever is not restored keeps its
  initial value.

  Args:
    session: A session on the variables' graph.
    checkpoint: A checkpoint prefix or directory.
    variables: The graph variables to initialise (e.g. all global ones).
    exclude: Scopes to leave as initialised (see `is_excluded`); optimizer
      slots and global_step are always left.

  Returns:
    A `Report`.

  Raises:
    FileNotFoundError: If there is no checkpoint at `checkpoint`.
    checkpoints.CheckpointMismatchError: If not one variable could be
      restored; the message says why (see `checkpoints.diff`).
  """
  variables = list(variables)
  report, var_list = plan(checkpoint, variables, exclude)
  if not var_list:
    result = checkpoints.diff(report.checkpoint, variables)
    raise checkpoints.CheckpointMismatchError(
        'nothing in %s fits this model outside the excluded scopes %s\n%s' %
        (report.checkpoint, list(exclude),
         checkpoints.format_diff(result, (report.checkpoint, 'this model'))))
  with session.graph.as_default():
    tf.train.Saver(var_list=var_list).restore(session, report.checkpoint)
  return report


def initialize_from(model, checkpoint, exclude=DEFAULT_EXCLUDE):
  """Starts `model`'s training from `checkpoint`, head excluded.

  Initialises the model's variables, restores the rest from `checkpoint`
  (see `restore`) and saves the result as the step-0 checkpoint of
  `model_path`, which `fit` then resumes from. If `model_path` already holds
  a checkpoint, training has begun: nothing is done, so resuming is never
  overwritten.

  Args:
    model: A `classifier.Classifier` (a graph model with its trainer).
    checkpoint: A checkpoint prefix or directory.
    exclude: Scopes to leave as initialised.

  Returns:
    A `Report`, or None if `model_path` already held a checkpoint.

  Raises:
    FileNotFoundError: If there is no checkpoint at `checkpoint`.
    checkpoints.CheckpointMismatchError: If nothing could be restored.
  """
  trainer = model.trainer
  if trainer.latest_checkpoint():
    return None
  with model.graph.as_default(), session_lib.open_session(
      model.graph, model.config) as session:
    session.run(trainer.init_op)
    report = restore(session, checkpoint,
                     model.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES),
                     exclude)
    trainer.run.make_checkpoint_dirs()
    trainer.saver.save(session, trainer.run.checkpoint_prefix,
                       global_step=session.run(model.global_step))
  return report


def format_report(report):
  """A `Report` as text: counts, with the first names of each kind."""
  lines = ['initialised from %s:' % report.checkpoint]
  for title, names in (
      ('restored', report.restored),
      ('excluded (left as initialised)', report.excluded),
      ('optimizer slots and global_step (left as initialised)',
       report.training_state),
      ('missing from the checkpoint (left as initialised)', report.missing),
      ('in the checkpoint, not in the model', report.unused)):
    if names:
      shown = ', '.join(names[:SHOWN_NAMES])
      if len(names) > SHOWN_NAMES:
        shown += ' ... and %d more' % (len(names) - SHOWN_NAMES)
      lines.append('  %s: %d (%s)' % (title, len(names), shown))
  if report.mismatched:
    lines.append('  shape differs (left as initialised): %d' %
                 len(report.mismatched))
    for name, stored, wanted in report.mismatched[:SHOWN_NAMES]:
      lines.append('    %s: checkpoint %s, model %s' % (name, stored, wanted))
  return '\n'.join(lines)
