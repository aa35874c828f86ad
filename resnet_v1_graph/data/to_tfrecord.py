"""Writes any `DataSource` as TFRecord shards in research/slim's format.

The format, the shard names and `labels.txt` are those `tfrecord.py` reads
(see its docstring). Each split's examples are shuffled once with a fixed
seed, as slim's converters do, so that every shard holds a mix of classes,
and are then cut into shards whose sizes differ by at most one.

Images held as pixels (digits, CIFAR-10, hand-signs) are written as PNG,
which is lossless for 8-bit pixels: float pixels (the resized digits) are
rounded to 8 bits first. An image folder's files are copied byte for byte,
with their own format and size, so a JPEG is not re-compressed.

Each shard is written under a temporary name and renamed when complete, so
an interrupted conversion leaves no shard that looks whole. Shards and
`labels.txt` that exist already are replaced only when asked (`force`).

Typical use:

  from resnet_v1_graph import data
  from resnet_v1_graph.data import to_tfrecord

  written = to_tfrecord.write_tfrecord(
      data.load('folder', 'photos/'), 'shards/', name='photos', num_shards=4)
"""

import os

import numpy as np
import tensorflow as tf

from resnet_v1_graph.data import checks
from resnet_v1_graph.data import splits
from resnet_v1_graph.data import tfrecord

JPEG_SIGNATURE = b'\xff\xd8\xff'
# slim's converters shuffle with this seed before sharding.
DEFAULT_SEED = 0


def write_tfrecord(source, output, name=None, num_shards=1,
                   seed=DEFAULT_SEED, force=False):
  """Writes `source`'s train, validation and test splits as shards.

  Args:
    source: A `DataSource` whose splits hold pixels (`ArraySplit`) or image
      files (`FileSplit`).
    output: The directory to write into; created if missing.
    name: The dataset name in the shard names; default `source.name`.
    num_shards: Shards per split (fewer when a split has fewer examples).
    seed: Seed of the order within each split; None keeps the split's own
      order.
    force: Replace the shards of `name` and `labels.txt` if they exist.

  Returns:
    {split: [shard paths]} for the non-empty splits.

  Raises:
    FileExistsError: If `output` already holds shards of `name` or a
      `labels.txt`, and `force` is not set. Nothing is written then.
    ValueError: If `name` does not make valid shard names, `num_shards` is
      not a positive int, a split is of a kind that cannot be written, or an
      image file is neither PNG nor JPEG.
  """
  name = source.name if name is None else name
  num_shards = checks.positive_int(num_shards, 'num_shards')
  if not tfrecord.SHARD_PATTERN.match(
      tfrecord.SHARD_NAME % (name, 'train', 0, 1)) or os.sep in name:
    raise ValueError('name %r cannot name shards; use letters, digits, - '
                     'and _' % (name,))
  output = checks.expand_path(output)
  os.makedirs(output, exist_ok=True)
  existing = _existing(output, name)
  if existing and not force:
    raise FileExistsError(
        '%s already holds %s; pass force=True (--force) to replace them, or '
        'write elsewhere' % (output, ', '.join(existing[:3]) + (
            ' and %d more' % (len(existing) - 3) if len(existing) > 3
            else '')))
  for entry in existing:
    os.remove(os.path.join(output, entry))
  channels = source.image_shape[2]
  written = {}
  for split_name in tfrecord.SPLIT_NAMES:
    split = getattr(source, split_name)
    if not split.num_examples:
      continue
    order = (np.arange(split.num_examples) if seed is None else
             np.random.default_rng(seed).permutation(split.num_examples))
    build = _example_builder(split, channels)
    count = min(num_shards, split.num_examples)
    written[split_name] = []
    for index, part in enumerate(np.array_split(order, count)):
      path = os.path.join(output, tfrecord.SHARD_NAME % (
          name, split_name, index, count))
      _write_shard(path, (build(i) for i in part))
      written[split_name].append(path)
  with open(os.path.join(output, tfrecord.LABELS_FILE), 'w',
            encoding='utf-8') as labels_file:
    for label, class_name in enumerate(source.class_names):
      labels_file.write('%d:%s\n' % (label, class_name))
  return written


def _existing(output, name):
  entries = [entry for entry in sorted(os.listdir(output))
             if (tfrecord.SHARD_PATTERN.match(entry) and
                 tfrecord.SHARD_PATTERN.match(entry)['name'] == name)]
  if os.path.exists(os.path.join(output, tfrecord.LABELS_FILE)):
    entries.append(tfrecord.LABELS_FILE)
  return entries


def _write_shard(path, examples):
  partial = path + '.partial'
  with tf.io.TFRecordWriter(partial) as writer:
    for example in examples:
      writer.write(example.SerializeToString())
  os.replace(partial, path)


def example_proto(encoded, image_format, label, height, width, channels):
  """One record as slim's converters build it, plus `image/channels`."""
  def int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

  def data(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

  return tf.train.Example(features=tf.train.Features(feature={
      tfrecord.ENCODED_KEY: data(encoded),
      tfrecord.FORMAT_KEY: data(image_format.encode()),
      tfrecord.LABEL_KEY: int64(label),
      tfrecord.HEIGHT_KEY: int64(height),
      tfrecord.WIDTH_KEY: int64(width),
      tfrecord.CHANNELS_KEY: int64(channels),
  }))


def _example_builder(split, channels):
  """A function from an example's index in `split` to its record."""
  labels = split.labels
  if isinstance(split, splits.ArraySplit):
    pixels = split.uint8_images()
    encoder = _PngEncoder()
    height, width = pixels.shape[1:3]
    return lambda i: example_proto(encoder(pixels[i]), 'png', labels[i],
                                   height, width, channels)
  if isinstance(split, splits.FileSplit):
    paths = split.paths
    sizer = _ImageSizer()

    def from_file(i):
      with open(paths[i], 'rb') as image_file:
        encoded = image_file.read()
      if encoded.startswith(tfrecord.PNG_SIGNATURE):
        image_format = 'png'
      elif encoded.startswith(JPEG_SIGNATURE):
        image_format = 'jpeg'
      else:
        raise ValueError('%s is neither PNG nor JPEG; slim\'s records hold '
                         'only these' % (paths[i],))
      height, width = sizer(encoded, paths[i])
      return example_proto(encoded, image_format, labels[i], height, width,
                           channels)

    return from_file
  raise ValueError('cannot write a %s: only splits of pixels or of image '
                   'files' % type(split).__name__)


class _PngEncoder:
  """uint8 `[height, width, channels]` -> PNG bytes, in a private graph."""

  def __init__(self):
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._pixels = tf.compat.v1.placeholder(tf.uint8, [None, None, None])
      self._png = tf.io.encode_png(self._pixels)
    self._session = tf.compat.v1.Session(graph=self._graph)

  def __call__(self, pixels):
    return self._session.run(self._png, {self._pixels: pixels})


class _ImageSizer:
  """An encoded image's (height, width), decoding it in a private graph."""

  def __init__(self):
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._encoded = tf.compat.v1.placeholder(tf.string, [])
      self._shape = tf.shape(tf.io.decode_image(self._encoded,
                                                expand_animations=False))
    self._session = tf.compat.v1.Session(graph=self._graph)

  def __call__(self, encoded, path):
    try:
      height, width, _ = self._session.run(self._shape,
                                           {self._encoded: encoded})
    except tf.errors.InvalidArgumentError as error:
      raise ValueError('%s cannot be decoded: %s' % (path, error.message)
                       ) from error
    return height, width
