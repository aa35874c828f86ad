"""Command line: train, evaluate and predict with the graph-mode ResNets;
inspect, diff, convert and export their checkpoints.

  resnet-tf1 train --dataset digits --depth 18 --epoch 15
  resnet-tf1 evaluate --model-path runs/model
  resnet-tf1 evaluate --model-path runs/model --watch --timeout 600
  resnet-tf1 predict --model-path runs/model --images a.png b.png
  resnet-tf1 train --model resnet_v2_50 --init-from resnet_v2_50.ckpt
  resnet-tf1 checkpoint inspect resnet_v2_50.ckpt
  resnet-tf1 checkpoint diff resnet_v2_50.ckpt --model resnet_v2_50
  resnet-tf1 export --model-path runs/model --saved-model sm --frozen m.pb
  resnet-tf1 convert resnet50v2.h5 out/resnet_v2_50.ckpt --model resnet_v2_50
  resnet-tf1 cluster --ps 1 --workers 2 -- train --dataset digits
  resnet-tf1 data to-tfrecord --dataset digits --output shards/ --shards 4
  resnet-tf1 train --dataset tfrecord --data-path shards/
  resnet-tf1 train --recipe he2015-cifar10 --model cifar_resnet56 \
      --dataset cifar10 --data-path cifar-10-python.tar.gz

`train` plays its part in a cluster when TF_CONFIG is set or the TF 1 flags
`--worker-hosts --job-name --task-index` (and `--ps-hosts`) are given: a ps
task serves variables until it is stopped, worker 0 (the chief) writes the
run directory and reports the test accuracy; without ps tasks the workers
train by all-reduce (see `training.replicas`).

Every `config.Config` field is a flag (`--model`, `--batch-size`,
`--learning-rate`, ...); `--config FILE` reads them from JSON or YAML first,
flags win. The input shape and class count come from the dataset. `train`
writes the configuration, network name included, to
`<model_path>/config.json`; `evaluate`, `predict` and `export` start from it,
so `--model-path` alone rebuilds the same network.
"""

import argparse
import dataclasses
import os
import signal
import sys

# Before TensorFlow loads: keep its C++ start-up chatter off the console.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top
import tensorflow as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import classifier
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import export
from resnet_v1_graph import model as model_lib
from resnet_v1_graph import recipes
from resnet_v1_graph.nets import registry
from resnet_v1_graph.tools import commands
from resnet_v1_graph.tools import watch
from resnet_v1_graph.training import cluster
from resnet_v1_graph.training import finetune
from resnet_v1_graph.training import replicas
from resnet_v1_graph.training import rundir
from resnet_v1_graph.training import session as session_lib
from resnet_v1_graph.training import saving
# pylint: enable=g-import-not-at-top

# Fields that describe the data; they follow the dataset unless given.
SHAPE_FIELDS = ('height', 'width', 'channel', 'num_classes')


def _flag(name):
  return '--' + name.replace('_', '-')


def _parse_bool(text):
  if text.lower() in ('1', 'true', 'yes', 'on'):
    return True
  if text.lower() in ('0', 'false', 'no', 'off'):
    return False
  raise argparse.ArgumentTypeError('expected true or false, got %r' % text)


def _xla_parser(text):
  try:
    return config_lib.parse_xla(text)
  except ValueError as error:
    raise argparse.ArgumentTypeError(str(error)) from None


def _list_parser(name):
  def parse(text):
    try:
      return config_lib.parse_list(name, text)
    except ValueError as error:
      raise argparse.ArgumentTypeError(str(error)) from None
  return parse


def _add_config_flags(parser):
  group = parser.add_argument_group('configuration (defaults in config.py)')
  for field in dataclasses.fields(config_lib.Config):
    if field.name in config_lib.LIST_FIELDS:
      kind = _list_parser(field.name)
    elif field.name == 'xla':
      kind = _xla_parser
    elif field.type in (bool, 'bool'):
      kind = _parse_bool
    else:
      kind = type(field.default)
    # The network is named from the registry's table; say so in --help.
    choices = registry.names() if field.name == 'model' else None
    group.add_argument(_flag(field.name), dest=field.name, type=kind,
                       default=None, choices=choices,
                       metavar=field.name.upper(),
                       help='default %r%s' % (field.default, (
                           '; one of ' + ', '.join(choices)) if choices
                                              else ''))


def build_parser():
  parser = argparse.ArgumentParser(
      prog='resnet-tf1', description=__doc__.split('\n\n')[0])
  parser.add_argument('--debug', action='store_true',
                      help='on an error, show the traceback as well as the '
                           'message')
  subcommands = parser.add_subparsers(dest='command', required=True)
  for name, text in (('train', 'train, then report test accuracy'),
                     ('evaluate', 'loss and accuracy on a split'),
                     ('predict', 'labels for image files or a split')):
    command = subcommands.add_parser(name, help=text)
    command.add_argument('--config', help='JSON or YAML file of settings')
    commands.add_data_flags(command)
    _add_config_flags(command)
    if name != 'train':
      command.add_argument('--split', default='test',
                           choices=('train', 'validation', 'test'))
      command.add_argument(
          '--weights', metavar='CHECKPOINT',
          help='use the network weights of this checkpoint (one without '
               'training state, e.g. written by convert) instead of '
               "--model-path's best")
    if name == 'evaluate':
      command.add_argument(
          '--watch', action='store_true',
          help='evaluate each new checkpoint of --model-path as training '
               'writes it (top-1, top-5, TensorBoard under summary_path/'
               'evaluation) until --timeout seconds pass without one')
      command.add_argument('--timeout', type=float, default=600.,
                           metavar='SECONDS', help='with --watch (default '
                                                   '600)')
      command.add_argument('--interval', type=float, default=0.,
                           metavar='SECONDS',
                           help='with --watch: at least this long between '
                                'evaluations (default 0)')
    if name == 'predict':
      command.add_argument(
          '--runtime', choices=('tensorflow', 'onnxruntime'),
          default='tensorflow',
          help='onnxruntime: run the checkpoint exported to ONNX (once, '
               'kept under model_path/onnx; needs the [onnx] extra)')
      command.add_argument('--images', nargs='+',
                           help='image files (JPEG/PNG); default: the split')
      command.add_argument('--limit', type=int, default=10,
                           help='how many examples of the split to show')
    if name == 'train':
      command.add_argument(
          '--init-from', metavar='CHECKPOINT',
          help='start from this checkpoint (fine-tuning); ignored once '
               'model_path holds checkpoints, so a rerun resumes')
      command.add_argument(
          '--exclude', nargs='*', metavar='SCOPE',
          help='scopes --init-from leaves as initialised (default: the '
               'classification layer; optimizer slots and global_step are '
               'never restored)')
      command.add_argument(
          '--recipe', choices=sorted(recipes.RECIPES),
          help="a paper's training recipe (optimizer, schedule, weight "
               "decay, batch, epochs); --config and flags override it")
      _add_cluster_flags(command)
  commands.add_tool_commands(subcommands)
  return parser


def _add_cluster_flags(parser):
  group = parser.add_argument_group(
      'cluster (or TF_CONFIG; --sync-replicas false for asynchronous '
      'training)')
  group.add_argument('--ps-hosts', help='comma-separated host:port of the '
                                        'parameter servers (none: the '
                                        'workers train by all-reduce)')
  group.add_argument('--worker-hosts', help='comma-separated host:port of '
                                            'the workers; the first is chief')
  group.add_argument('--job-name', help='this task\'s job: ps or worker')
  group.add_argument('--task-index', type=int, help='this task\'s index in '
                                                    'its job')
  group.add_argument('--ps-wait', type=float, default=30.0, metavar='SECONDS',
                     help='how long a worker waits for an unreachable ps '
                          '(with all-reduce, another worker) before it '
                          'stops (default 30)')


def _settings(args, source, saved, recipe=None):
  """Config: saved run < recipe < --config file < flags; shape from the
  data."""
  cfg = (saved or config_lib.DEFAULTS).replace(**(recipe or {}))
  if args.config:
    cfg = config_lib.Config.from_file(args.config, cfg)
  flags = {f: getattr(args, f) for f in config_lib.field_names()
           if getattr(args, f) is not None}
  if source is not None:
    height, width, channel = source.image_shape
    shape = dict(height=height, width=width, channel=channel,
                 num_classes=source.num_classes)
    cfg = cfg.replace(**{k: v for k, v in shape.items() if k not in flags})
  return cfg.replace(**flags)


def _model_path(args):
  """The run directory: --model-path, else the --config file's, else the
  default."""
  return args.model_path or (
      config_lib.Config.from_file(args.config).model_path if args.config
      else config_lib.DEFAULTS.model_path)


def _saved_config(args):
  """The saved run's config for evaluate/predict, or None before training."""
  return rundir.RunDir.read_config(_model_path(args))


def _initialize_from(model, checkpoint, exclude):
  """Applies --init-from unless model_path already holds checkpoints."""
  report = finetune.initialize_from(
      model, checkpoint,
      exclude=finetune.DEFAULT_EXCLUDE if exclude is None else exclude)
  if report is None:
    print('%s holds checkpoints: resuming from them, --init-from not applied'
          % model.config.model_path)
  else:
    print(finetune.format_report(report))


# Errors whose message says what is wrong and what to do: the command
# prints the message alone (--debug shows the traceback too). ClusterError
# and CheckpointMismatchError are ValueErrors.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, ImportError,
               NotADirectoryError, PermissionError, FloatingPointError,
               rundir.RunLockedError)


def main(argv=None):
  args = build_parser().parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  try:
    return _main(args)
  except USER_ERRORS as error:
    if args.debug:
      raise
    print('resnet-tf1 %s: %s' % (args.command, error), file=sys.stderr)
    return 2
  except saving.TrainingStopped as stopped:
    print('resnet-tf1 %s: %s' % (args.command, stopped), file=sys.stderr)
    # The shell's convention: 128 + the signal's number.
    return 128 + getattr(signal, stopped.signal_name)


def _main(args):
  if args.command in commands.TOOL_COMMANDS:
    return commands.run_tool(args)
  role = _cluster_role(args)
  if role is not None and role.job == 'ps':
    _serve(args, role)
  if args.command == 'evaluate' and args.watch:
    return _watch(args)
  saved = _saved_config(args) if args.command != 'train' else None
  source = None
  if args.command != 'predict' or not args.images:
    source = commands.load_data(args, saved)
  cfg = _settings(args, source, saved)
  if args.command == 'train':
    cfg = _train_settings(args, cfg, source)
  if role is not None:
    return _train_in_cluster(args, role, cfg, source)
  if args.command == 'predict' and args.runtime == 'onnxruntime':
    _predict(args, export.OnnxPredictor(cfg, args.weights), source)
    return 0
  model = classifier.Classifier(cfg)
  if getattr(args, 'weights', None):
    model.load_weights(args.weights)
  if args.command == 'train':
    _train(args, model, source)
  elif args.command == 'evaluate':
    metrics = model.evaluate(getattr(source, args.split))
    print('%s accuracy: %.4f (loss %.4f, top-5 %.4f)' % (
        args.split, metrics['accuracy'], metrics['loss'], metrics['top5']))
  else:
    _predict(args, model, source)
  model.close()
  return 0


def _train_settings(args, cfg, source):
  """`cfg` with the --recipe's fields and the --init-from checkpoint's
  preprocessing under whatever the user set explicitly."""
  changes = {}
  if args.recipe:
    # The recipe sees the network, batch and towers the user chose.
    changes = recipes.apply(args.recipe, cfg, source.train.num_examples)
  expected = (finetune.expected_preprocessing(args.init_from)
              if args.init_from else None)
  defaults = {} if expected is None else {'preprocessing_name': expected[1]}
  changed = _settings(args, source, None, {**defaults, **changes})
  if args.recipe:
    print('recipe %s: %s' % (args.recipe, ', '.join(
        '%s=%s' % (name, getattr(changed, name)) for name in sorted(changes))))
  if (expected is not None and
      _settings(args, source, None, changes).preprocessing_name
      != changed.preprocessing_name):
    print('preprocessing: %s, as the --init-from weights (%s) expect; '
          '--preprocessing-name chooses another' % (
              expected[1], checkpoints.describe_family(expected[0])))
  return changed


def _watch(args):
  """evaluate --watch: follows a training run's checkpoints."""
  model_path = _model_path(args)
  print('waiting for checkpoints in %s (stops after %g s without one)'
        % (model_path, args.timeout), flush=True)
  # Training writes config.json before its first checkpoint; until then the
  # network and its input size are unknown.
  saved = watch.wait_for_config(model_path, args.timeout)
  if saved is None:
    print('no training run appeared in %s within %g s' % (model_path,
                                                          args.timeout))
    return 1
  source = commands.load_data(args, saved)
  cfg = _settings(args, source, saved)
  results = watch.watch(cfg, getattr(source, args.split), args.timeout,
                        interval=args.interval,
                        report=lambda line: print(line, flush=True))
  print('evaluated %d checkpoint%s; none new for %g s' % (
      len(results), 's' * (len(results) != 1), args.timeout))
  return 0 if results else 1


def _train(args, model, source):
  """Trains, then reports the best checkpoint's test accuracy."""
  cfg = model.config
  if cfg.verbose:
    print('training %s on %s: %d train, %d validation, %d test images of %s'
          % (model.title, source.name,
             source.train.num_examples, source.validation.num_examples,
             source.test.num_examples, source.image_shape))
  if args.init_from:
    _initialize_from(model, args.init_from, args.exclude)
  model.fit(source.train, source.validation)
  model.restore()  # The best checkpoint, by validation accuracy.
  metrics = model.evaluate(source.test)
  print('test accuracy: %.4f (loss %.4f)' % (metrics['accuracy'],
                                             metrics['loss']))
  print('checkpoints: %s  summaries and curves: %s' %
        (cfg.model_path, cfg.summary_path))


def _cluster_role(args):
  """This task's `cluster.Role` for `train`, or None outside a cluster."""
  if args.command != 'train':
    return None
  return cluster.resolve(args.ps_hosts, args.worker_hosts, args.job_name,
                         args.task_index)


def _serve(args, role):
  """A ps task: serves the variables until the process is stopped."""
  cfg = _settings(args, None, None)
  # A ps runs no training step, so there is nothing for xla='auto' to time.
  server = cluster.start_server(role, session_lib.session_config(
      cfg.replace(xla=cfg.xla is True)))
  print('%s serving' % role.describe(), flush=True)
  server.join()


def _train_in_cluster(args, role, cfg, source):
  """A worker: trains its part; the chief then reports test accuracy."""
  if role.is_chief and args.init_from:
    # The chief writes the step-0 checkpoint in one process; its session
    # then restores it like any checkpoint, and the others get it from the
    # ps tasks or the all-reduce broadcast.
    model = classifier.Classifier(cfg)
    _initialize_from(model, args.init_from, args.exclude)
    model.close()
  print('%s: training %s on %s, %s' % (
      role.describe(), model_lib.title(cfg),
      source.name, 'by all-reduce' if role.all_reduce else
      'synchronous' if cfg.sync_replicas else 'asynchronous'),
        flush=True)
  trainer = replicas.ClusterTrainer(cfg, role, ps_wait=args.ps_wait)
  report = trainer.fit(source.train, source.validation)
  print('%s ran %d steps; global step %d of %d%s' % (
      role.describe(), report['steps'], report['global_step'],
      report['last_step'], '' if report['finished'] else
      "; not finished: start every task again to resume from the chief's "
      "latest checkpoint"), flush=True)
  if role.is_chief:
    model = classifier.Classifier(cfg)
    model.restore()  # The best checkpoint, by validation accuracy.
    metrics = model.evaluate(source.test)
    model.close()
    print('test accuracy: %.4f (loss %.4f)' % (metrics['accuracy'],
                                               metrics['loss']))
  return 0


def _predict(args, model, source):
  """Prints a label per image file, or predicted and true labels of a split
  (`model`: anything with `config` and `predict`)."""
  cfg = model.config
  if args.images:
    labels = model.predict(data.read_images(args.images, cfg.height,
                                            cfg.width, cfg.channel))
    for path, label in zip(args.images, labels):
      print('%s\t%d' % (path, label))
    return
  images, truth = getattr(source, args.split).arrays()
  images, truth = images[:args.limit], truth[:args.limit]
  labels = model.predict(images)
  names = source.class_names
  print('index\tpredicted\ttrue')
  for i, (label, true) in enumerate(zip(labels, truth)):
    print('%d\t%s\t%s' % (i, names[label], names[true]))


if __name__ == '__main__':
  sys.exit(main())
