"""Command line: train, evaluate and predict with the graph-mode ResNets.

  resnet-tf1 train --dataset digits --depth 18 --epoch 15
  resnet-tf1 evaluate --model-path runs/model
  resnet-tf1 predict --model-path runs/model --images a.png b.png

Every `config.Config` field is a flag (`--batch-size`, `--learning-rate`,
...); `--config FILE` reads them from JSON or YAML first, flags win. The
input shape and class count come from the dataset. `train` writes the
configuration to `<model_path>/config.json`, and `evaluate`/`predict` start
from it, so they rebuild the same network.
"""

import argparse
import dataclasses
import json
import os
import sys

# Before TensorFlow loads: keep its C++ start-up chatter off the console.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from resnet_v1_graph import config as config_lib  # pylint: disable=g-import-not-at-top

CONFIG_FILE = 'config.json'
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


def _add_config_flags(parser):
  group = parser.add_argument_group('configuration (defaults in config.py)')
  for field in dataclasses.fields(config_lib.Config):
    kind = _parse_bool if field.type in (bool, 'bool') else type(field.default)
    group.add_argument(_flag(field.name), dest=field.name, type=kind,
                       default=None, metavar=field.name.upper(),
                       help='default %r' % (field.default,))


def _add_data_flags(parser):
  from resnet_v1_graph import data
  parser.add_argument('--dataset', default='digits', choices=data.DATASETS,
                      help='digits is bundled; the others need --data-path')
  parser.add_argument('--data-path', help='dataset file or folder')
  parser.add_argument('--image-size', type=int,
                      help='resize digits/folder images to this square size')


def build_parser():
  parser = argparse.ArgumentParser(
      prog='resnet-tf1', description=__doc__.split('\n\n')[0])
  commands = parser.add_subparsers(dest='command', required=True)
  for name, text in (('train', 'train, then report test accuracy'),
                     ('evaluate', 'loss and accuracy on a split'),
                     ('predict', 'labels for image files or a split')):
    command = commands.add_parser(name, help=text)
    command.add_argument('--model', default='resnet',
                         help="'resnet' (the classic class, --depth) or a "
                              "slim network such as resnet_v2_50")
    command.add_argument('--config', help='JSON or YAML file of settings')
    _add_data_flags(command)
    _add_config_flags(command)
    if name != 'train':
      command.add_argument('--split', default='test',
                           choices=('train', 'validation', 'test'))
    if name == 'predict':
      command.add_argument('--images', nargs='+',
                           help='image files (JPEG/PNG); default: the split')
      command.add_argument('--limit', type=int, default=10,
                           help='how many examples of the split to show')
  return parser


def _load_data(args, shape_hint):
  from resnet_v1_graph import data
  options = {}
  if args.dataset in ('digits', 'folder'):
    size = args.image_size or shape_hint
    if size:
      options['image_size'] = (size if args.dataset == 'digits'
                               else (size, size))
  return data.load(args.dataset, args.data_path, **options)


def _settings(args, source, saved):
  """Config: saved run < --config file < flags; shape from the data."""
  cfg = config_lib.DEFAULTS
  if saved:
    cfg = config_lib.Config.from_dict(saved, cfg)
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


def _saved_settings(args):
  model_path = args.model_path or (
      config_lib.Config.from_file(args.config).model_path if args.config
      else config_lib.DEFAULTS.model_path)
  path = os.path.join(model_path, CONFIG_FILE)
  if not os.path.exists(path):
    return None, None
  with open(path, encoding='utf-8') as f:
    saved = json.load(f)
  return saved.pop('model', 'resnet'), saved


def _read_images(paths, cfg):
  """Decodes image files to [N, H, W, C] in [0, 1] at the model's shape."""
  import numpy as np
  import tensorflow as tf
  images = []
  for path in paths:
    if not os.path.isfile(path):
      raise FileNotFoundError('image file %s does not exist' % path)
    image = tf.io.decode_image(tf.io.read_file(path), channels=cfg.channel,
                               expand_animations=False, dtype=tf.float32)
    images.append(tf.image.resize(image, [cfg.height, cfg.width]).numpy())
  return np.clip(np.stack(images), 0.0, 1.0)


def main(argv=None):
  args = build_parser().parse_args(argv)
  import tensorflow as tf
  tf.get_logger().setLevel('ERROR')
  from resnet_v1_graph import model as model_lib

  saved_model, saved = (None, None)
  if args.command != 'train':
    saved_model, saved = _saved_settings(args)
  model_name = saved_model if (saved_model and args.model == 'resnet') else (
      args.model)
  shape_hint = (saved or {}).get('height')
  source = None
  if args.command != 'predict' or not args.images:
    source = _load_data(args, shape_hint)
  cfg = _settings(args, source, saved)
  model = model_lib.build(model_name, config=cfg)

  if args.command == 'train':
    os.makedirs(cfg.model_path, exist_ok=True)
    with open(os.path.join(cfg.model_path, CONFIG_FILE), 'w',
              encoding='utf-8') as f:
      json.dump(dict(cfg.to_dict(), model=model_name), f, indent=1)
    if cfg.verbose:
      print('training %s on %s: %d train, %d validation, %d test images of '
            '%s' % (model_name if model_name != 'resnet' else
                    'ResNet-%d' % cfg.depth, source.name,
                    source.train.num_examples,
                    source.validation.num_examples,
                    source.test.num_examples, source.image_shape))
    model.fit(source.train, source.validation)
    model.restore()  # The best checkpoint, by validation accuracy.
    metrics = model.evaluate(source.test)
    print('test accuracy: %.4f (loss %.4f)' % (metrics['accuracy'],
                                               metrics['loss']))
    print('checkpoints: %s  summaries and curves: %s' %
          (cfg.model_path, cfg.summary_path))
  elif args.command == 'evaluate':
    metrics = model.evaluate(getattr(source, args.split))
    print('%s accuracy: %.4f (loss %.4f)' % (args.split, metrics['accuracy'],
                                             metrics['loss']))
  else:
    if args.images:
      labels = model.predict(_read_images(args.images, cfg))
      for path, label in zip(args.images, labels):
        print('%s\t%d' % (path, label))
    else:
      images, truth = getattr(source, args.split).arrays()
      images, truth = images[:args.limit], truth[:args.limit]
      labels = model.predict(images)
      names = source.class_names
      print('index\tpredicted\ttrue')
      for i, (label, true) in enumerate(zip(labels, truth)):
        print('%d\t%s\t%s' % (i, names[label], names[true]))
  model.close()
  return 0


if __name__ == '__main__':
  sys.exit(main())
