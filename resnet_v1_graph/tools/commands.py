"""The tool commands of `resnet-tf1` (checkpoint, export, convert, cluster,
data, draw: no model built from flags, no training), their arguments, and
the pieces the training commands share with them (data flags, loading the
data the flags name, a run's saved config).
"""

import argparse

from resnet_v1_graph import checkpoints
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import export
from resnet_v1_graph.checkpoints import convert
from resnet_v1_graph.nets import registry
from resnet_v1_graph.tools import drawing
from resnet_v1_graph.tools import launcher
from resnet_v1_graph.training import rundir

# Commands that need neither a dataset nor a model built from flags.
TOOL_COMMANDS = ('checkpoint', 'export', 'convert', 'cluster', 'data',
                 'draw')


def positive_int(text):
  """An argparse type: an integer >= 1 (0 would silently mean 'default')."""
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value < 1:
    raise argparse.ArgumentTypeError('must be an integer >= 1, got %r'
                                     % text)
  return value


def add_data_flags(parser):
  parser.add_argument('--dataset', default='digits', choices=data.DATASETS,
                      help='digits is bundled; the others need --data-path')
  parser.add_argument('--data-path', help='dataset file or folder')
  parser.add_argument('--image-size', type=positive_int,
                      help='resize digits/folder/tfrecord images to this '
                           'square size')
  parser.add_argument('--skip-corrupt', action='store_true',
                      help='folder, tfrecord: test-decode every image at '
                           'load and skip damaged records and undecodable '
                           'images (named and counted) instead of stopping')


def add_tool_commands(commands):
  """Checkpoint tools, export and conversion: no dataset, no training."""
  tools = commands.add_parser('checkpoint', help='inspect or diff checkpoints')
  actions = tools.add_subparsers(dest='action', required=True)
  inspect = actions.add_parser(
      'inspect', help='variables by scope with totals, and the family')
  inspect.add_argument('path', help='checkpoint prefix or directory, or a '
                                    'Keras .h5/.weights.h5 file')
  inspect.add_argument('--summary', action='store_true',
                       help='one line per scope instead of every variable')
  diff = actions.add_parser(
      'diff', help='what restoring A into B misses, and the likely causes; '
                   'exits 1 if A cannot restore B')
  diff.add_argument('a', help='the checkpoint to restore')
  diff.add_argument('b', nargs='?',
                    help='a checkpoint to compare with (or use --model)')
  diff.add_argument('--model', help="a model to compare with: 'resnet' "
                                    "(with --depth) or e.g. resnet_v2_50")
  diff.add_argument('--num-classes', type=int,
                    help='classes of --model (default: none for slim, '
                         '1001 for resnet)')
  diff.add_argument('--depth', type=int, help="depth of --model resnet")
  diff.add_argument('--channel', type=int, default=3,
                    help='input channels of --model')
  diff.add_argument('--no-arg-scope', dest='arg_scope', action='store_false',
                    help='build the slim --model without resnet_arg_scope')
  diff.add_argument('--training', action='store_true',
                    help='build --model with its optimizer and global_step, '
                         'as the trainer does')

  export = commands.add_parser(
      'export', help='SavedModel and frozen GraphDef for inference')
  export.add_argument('--model-path', required=True,
                      help='the training run (its config.json and '
                           'checkpoints)')
  export.add_argument('--checkpoint',
                      help='default: the best, else the latest, checkpoint')
  export.add_argument('--saved-model', help='SavedModel directory to create')
  export.add_argument('--frozen', help='frozen GraphDef file (.pb) to write')
  export.add_argument('--onnx', help='ONNX file (.onnx) to write, checked '
                                     "with ONNX Runtime (needs the [onnx] "
                                     'extra)')
  export.add_argument('--force', action='store_true',
                      help='replace outputs that exist')

  local = commands.add_parser(
      'cluster', help='run `train` as a local cluster of ps and worker '
                      'processes on 127.0.0.1')
  local.add_argument('--ps', type=int, default=1,
                     help='parameter servers (0: all-reduce among the '
                          'workers)')
  local.add_argument('--workers', type=int, default=2, help='workers')
  local.add_argument('task_args', nargs=argparse.REMAINDER,
                     help='-- train [flags]: what every task runs')

  data_tools = commands.add_parser('data', help='convert datasets')
  data_actions = data_tools.add_subparsers(dest='action', required=True)
  to_tfrecord = data_actions.add_parser(
      'to-tfrecord', help="write a dataset as TFRecord shards in slim's "
                          "format (<name>_<split>_NNNNN-of-NNNNN.tfrecord, "
                          "labels.txt)")
  add_data_flags(to_tfrecord)
  to_tfrecord.add_argument('--output', required=True,
                           help='directory to write the shards into')
  to_tfrecord.add_argument('--shards', type=int, default=1,
                           help='shards per split (default 1)')
  to_tfrecord.add_argument('--name', help='dataset name in the shard names '
                                          '(default: --dataset)')
  to_tfrecord.add_argument('--force', action='store_true',
                           help='replace shards of the same name')

  convert = commands.add_parser(
      'convert', help='Keras applications weights <-> checkpoints')
  convert.add_argument('source', help='a Keras .h5/.weights.h5 file, or a '
                                      'checkpoint prefix or directory')
  convert.add_argument('output', help='a checkpoint prefix, or a Keras '
                                      '.weights.h5 file')
  convert.add_argument('--model', required=True,
                       help="our side: a slim v2 network (resnet_v2_50, "
                            "..., Keras ResNet50V2 and deeper) or 'resnet' "
                            "with --depth (Keras ResNet50 and deeper)")
  convert.add_argument('--depth', type=int, help="depth of --model resnet")
  convert.add_argument('--force', action='store_true',
                       help='replace an output that exists')
  convert.add_argument('--num-classes', type=int,
                       help='classes of the output: 1001 adds the background '
                            'class, 1000 drops it (default: as the source)')

  draw = commands.add_parser(
      'draw', help="a picture of a network's structure: stem, stages, "
                   'units with their output shapes and shortcuts')
  draw.add_argument('--model', required=True, choices=registry.names(),
                    metavar='MODEL', help='the network; one of ' +
                    ', '.join(registry.names()))
  draw.add_argument('--output', required=True,
                    help='the picture to write, .png or .svg')
  draw.add_argument('--image-size', type=positive_int,
                    help="input height and width (default: the network's "
                         'own, e.g. 224)')
  draw.add_argument('--depth', type=int,
                    help='depth of --model resnet (default %d)'
                    % config_lib.DEFAULTS.depth)
  draw.add_argument('--channels', type=positive_int, default=3,
                    help='input channels (default 3; 1 for grey images)')
  draw.add_argument('--every-unit', action='store_true',
                    help='a row per unit; by default runs of more than %d '
                         'identical units are one row (unit_2 ... unit_35 '
                         'x34)' % drawing.COLLAPSE_OVER)
  draw.add_argument('--force', action='store_true',
                    help='replace an output that exists')


def run_tool(args):
  """Runs `checkpoint`, `export`, `convert`, `cluster`, `data` or `draw`;
  the exit code."""
  if args.command == 'draw':
    net = drawing.draw(args.model, args.output, image_size=args.image_size,
                       depth=args.depth, channels=args.channels,
                       force=args.force, collapse_over=None if args.every_unit
                       else drawing.COLLAPSE_OVER)
    print('wrote %s (%s: %d stages, %d units)' % (
        args.output, net.title, len(net.stages), len(net.units)))
    return 0
  if args.command == 'data':
    written = data.write_tfrecord(load_data(args, None), args.output,
                                  name=args.name or args.dataset,
                                  num_shards=args.shards, force=args.force)
    for split, paths in written.items():
      print('%s: %d shard%s, %s' % (split, len(paths),
                                     's' * (len(paths) > 1), paths[0]))
    return 0
  if args.command == 'cluster':
    return launcher.launch(args.task_args, ps=args.ps, workers=args.workers)
  if args.command == 'checkpoint':
    if args.action == 'inspect':
      print(checkpoints.format_inspection(
          checkpoints.inspect(args.path),
          list_variables=not args.summary))
      return 0
    if (args.b is None) == (args.model is None):
      raise SystemExit('checkpoint diff: give a second checkpoint B or '
                       '--model, not both')
    if args.model:
      target = checkpoints.model_variables(
          args.model, num_classes=args.num_classes, depth=args.depth,
          channel=args.channel, arg_scope=args.arg_scope,
          training=args.training)
      label = '%s%s, %s classes' % (
          args.model, ' depth %d' % args.depth if args.depth else '',
          args.num_classes or 'no')
    else:
      target, label = args.b, args.b
    result = checkpoints.diff(args.a, target)
    print(checkpoints.format_diff(result, (args.a, label)))
    return 1 if result.missing or result.mismatched else 0
  if args.command == 'export':
    if not (args.saved_model or args.frozen or args.onnx):
      raise SystemExit('export: give --saved-model DIR, --frozen FILE and/or '
                       '--onnx FILE')
    cfg = run_config(args.model_path)
    written = export.export_run(cfg.replace(verbose=False),
                                checkpoint=args.checkpoint,
                                saved_model=args.saved_model,
                                frozen=args.frozen, force=args.force,
                                onnx=args.onnx)
    print(export.format_written(written))
    return 0
  written = convert.convert(args.source, args.output, args.model,
                            depth=args.depth, num_classes=args.num_classes,
                            force=args.force)
  print('wrote %s (%s)' % (written, args.model))
  return 0


def load_data(args, saved):
  """The dataset the flags name; a saved run fixes its image shape."""
  options = {}
  if args.dataset in ('digits', 'folder', 'tfrecord'):
    size = args.image_size or (saved.height if saved else None)
    if size:
      options['image_size'] = (size if args.dataset == 'digits'
                               else (size, size))
  if args.dataset in ('folder', 'tfrecord'):
    options['skip_corrupt'] = args.skip_corrupt
  elif args.skip_corrupt:
    raise SystemExit('--skip-corrupt applies to --dataset folder and '
                     'tfrecord only')
  if args.dataset == 'tfrecord' and saved:
    options['channels'] = saved.channel
  return data.load(args.dataset, args.data_path, **options)


def run_config(model_path):
  """The config of the run in `model_path`; FileNotFoundError if none."""
  cfg = rundir.RunDir.read_config(model_path)
  if cfg is None:
    raise FileNotFoundError(
        'no %s in %s: not a training run (train one with `resnet-tf1 train '
        '--model-path %s`)' % (rundir.CONFIG_FILE, model_path, model_path))
  return cfg
