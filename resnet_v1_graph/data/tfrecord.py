"""TFRecord shards in research/slim's image format: reading and writing.

slim's `download_and_convert_*` scripts store a dataset as shards of
`tf.train.Example` records, one image each, with these features:

  image/encoded      the PNG or JPEG file's bytes
  image/format       b'png' or b'jpeg' (slim's decoders assume png when absent)
  image/class/label  int64
  image/height       int64
  image/width        int64

and name the shards `<name>_<split>_<index>-of-<count>.tfrecord` (flowers:
`flowers_train_00000-of-00005.tfrecord`), or `<name>_<split>.tfrecord` when a
split is one file (cifar10). `labels.txt` beside them holds `<label>:<class
name>` lines. Writing adds `image/channels`, which slim's readers ignore and
ours uses to pick the channel count.

`load_tfrecord` reads such a directory. It reads every record once when it
loads, through TensorFlow's reader, which checks each record's checksums; that
pass counts the records, collects the labels, and finds a damaged record
before training does. A damaged record is an error naming its shard and
position, unless the caller asks to skip: then the shard is read up to the
damage, and every image is test-decoded so that undecodable ones are left out
as well, each counted. In the training pipeline the shards are read in
parallel (interleaved), decoded in parallel, and split between workers.

`write_tfrecord` writes any `DataSource` the project reads (digits, CIFAR-10,
hand-signs, an image folder) in that format. Images held as pixels are
written as PNG; an image folder's files keep their own bytes and format.

Typical use:

  from resnet_v1_graph import data
  from resnet_v1_graph.data import tfrecord

  tfrecord.write_tfrecord(data.load_digits(image_size=32), 'shards/',
                          name='digits', num_shards=4)
  source = data.load('tfrecord', 'shards/')
"""

import collections
import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from resnet_v1_graph.data import checks
from resnet_v1_graph.data import images as images_lib
from resnet_v1_graph.data import splits

LABELS_FILE = 'labels.txt'
SPLIT_NAMES = ('train', 'validation', 'test')
# slim's shard names; the index and count are five digits.
SHARD_PATTERN = re.compile(
    r'^(?P<name>.+)_(?P<split>%s)(?:_(?P<index>\d{5})-of-(?P<count>\d{5}))?'
    r'\.tfrecord$' % '|'.join(SPLIT_NAMES))
SHARD_NAME = '%s_%s_%05d-of-%05d.tfrecord'
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# The feature keys slim's converters write and its readers parse.
ENCODED_KEY = 'image/encoded'
FORMAT_KEY = 'image/format'
LABEL_KEY = 'image/class/label'
HEIGHT_KEY = 'image/height'
WIDTH_KEY = 'image/width'
CHANNELS_KEY = 'image/channels'
# Channels when the records do not say: slim's readers decode 3.
DEFAULT_CHANNELS = 3
# Records parsed per batch by the loading pass.
_SCAN_BATCH = 1024
# Shards read at once by the training pipeline.
_PARALLEL_SHARDS = 8

_SCAN_FEATURES = {
    LABEL_KEY: tf.io.FixedLenFeature((), tf.int64, default_value=-1),
    FORMAT_KEY: tf.io.FixedLenFeature((), tf.string, default_value='png'),
    HEIGHT_KEY: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    WIDTH_KEY: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    CHANNELS_KEY: tf.io.FixedLenFeature((), tf.int64, default_value=0),
}
_DECODE_FEATURES = {
    ENCODED_KEY: tf.io.FixedLenFeature((), tf.string, default_value=''),
    LABEL_KEY: tf.io.FixedLenFeature((), tf.int64, default_value=-1),
}


# Reading ----------------------------------------------------------------------


@dataclasses.dataclass
class _Shard:
  """One file of records and what the loading pass found in it."""
  path: str
  labels: np.ndarray = None      # int64, one per readable record
  sizes: np.ndarray = None       # int64 [records, 3]: height, width, channels
  readable: int = 0              # records before any damage
  damage: str = None             # why reading stopped early, or None


def load_tfrecord(path, image_size=None, channels=None, name=None,
                  validation_fraction=0.1, test_fraction=0.2, seed=0,
                  skip_corrupt=False):
  """Loads a directory of TFRecord shards in slim's format.

  Splits: `train` is required. Without a `validation` split, validation is
  held out of train (stratified, `validation_fraction`). Without a `test`
  split, evaluation falls back to `validation`, and when that is missing
  too, test is held out of train (`test_fraction`).

  Args:
    path: The directory holding the shards and, optionally, `labels.txt`.
    image_size: (height, width) or one int. Default: the size every record
      states; required when the records' sizes differ. Images of another
      size are resized bilinearly.
    channels: 1 or 3. Default: the `image/channels` every record states,
      else 3.
    name: The dataset name in the shard names, when the directory holds
      shards of several datasets.
    validation_fraction: As above.
    test_fraction: As above.
    seed: Seed of the held-out splits.
    skip_corrupt: Leave out damaged records and undecodable images (counted
      and reported) instead of failing. Test-decodes every image while
      loading.

  Returns:
    A `DataSource` named 'tfrecord'.

  Raises:
    FileNotFoundError: If `path` is not a directory or holds no shards.
    ValueError: If shards are missing from a set, the directory holds
      several datasets and `name` is not given, `labels.txt` is malformed, a
      record lacks its label or has a label outside the classes, a record
      is damaged (named by shard and position; skipped with
      `skip_corrupt`), or records of different sizes come without
      `image_size`. Images are decoded in the pipeline, where one that is
      no image at all (empty, text) fails naming its shard and position (with
      `skip_corrupt`, undecodable images are found and left out here).
  """
  path = checks.expand_path(path)
  split_shards = _find_shards(path, name)
  shards = {split: [_scan(f) for f in files]
            for split, files in split_shards.items()}
  skipped = {}
  for split, split_list in shards.items():
    for shard in split_list:
      if shard.damage is not None:
        if not skip_corrupt:
          raise ValueError(
              '%s: record %d cannot be read (%s); re-create the shard, or '
              'skip what cannot be read with skip_corrupt=True '
              '(--skip-corrupt)' % (shard.path, shard.readable, shard.damage))
        skipped[shard.path] = 'records from %d on: %s' % (shard.readable,
                                                         shard.damage)
  class_names = _read_class_names(path, shards)
  num_classes = len(class_names)
  for split_list in shards.values():
    for shard in split_list:
      if shard.labels.size and shard.labels.min() < 0:
        raise ValueError('%s: record %d has no %s; slim\'s records store the '
                         'class there' % (shard.path, int(np.argmin(
                             shard.labels)), LABEL_KEY))
      checks.check_labels(shard.labels, num_classes, shard.path)
  image_size = _image_size(image_size, shards)
  channels = _channels(channels, shards)
  bad_images = {}
  if skip_corrupt:
    for split_list in shards.values():
      for shard in split_list:
        bad = _undecodable(shard, channels)
        if bad:
          bad_images[shard.path] = bad
          skipped.setdefault(shard.path, '')
          skipped[shard.path] = '; '.join(filter(None, (
              skipped[shard.path], 'undecodable images at records %s'
              % ', '.join(map(str, bad)))))
  for shard_path, what in sorted(skipped.items()):
    print('tfrecord: skipped in %s: %s' % (shard_path, what))

  def split_of(split, keep=None):
    return TFRecordSplit(shards[split], image_size, channels,
                         exclude=bad_images, keep=keep)

  train = split_of('train')
  have = set(shards)
  need_validation = 'validation' not in have
  need_test = not have & {'validation', 'test'}
  if need_validation or need_test:
    index = splits.stratified_split(
        train.labels, (validation_fraction if need_validation else 0.,
                       test_fraction if need_test else 0.), seed)
    train = split_of('train', index[0])
    held_out = [split_of('train', i) for i in index[1:]]
  validation = (split_of('validation') if 'validation' in have
                else held_out[0])
  if 'test' in have:
    test = split_of('test')
  elif 'validation' in have:
    test = validation
  else:
    test = held_out[1]
  return splits.DataSource(
      name='tfrecord', image_shape=image_size + (channels,),
      num_classes=num_classes, class_names=class_names, train=train,
      validation=validation, test=test)


def _find_shards(path, name):
  """{split: sorted shard paths} of the one dataset in `path`."""
  if not os.path.isdir(path):
    raise FileNotFoundError(
        'tfrecord: no directory %r; pass the directory holding the '
        '<name>_<split>_NNNNN-of-NNNNN.tfrecord shards' % (path,))
  found = collections.defaultdict(lambda: collections.defaultdict(list))
  for entry in sorted(os.listdir(path)):
    match = SHARD_PATTERN.match(entry)
    if match and (name is None or match['name'] == name):
      found[match['name']][match['split']].append(match)
  if not found:
    raise FileNotFoundError(
        'tfrecord: %r holds no shards%s named <name>_<split>_NNNNN-of-NNNNN.'
        'tfrecord or <name>_<split>.tfrecord with split %s; write them with '
        '`resnet-tf1 data to-tfrecord`' % (
            path, '' if name is None else ' of dataset %r' % name,
            '/'.join(SPLIT_NAMES)))
  if len(found) > 1:
    raise ValueError('tfrecord: %r holds shards of several datasets (%s); '
                     'pass name=... or keep one dataset per directory'
                     % (path, ', '.join(sorted(found))))
  (dataset_name, by_split), = found.items()
  if 'train' not in by_split:
    raise FileNotFoundError('tfrecord: %r has %s shards of %s but no train '
                            'split' % (path, '/'.join(sorted(by_split)),
                                       dataset_name))
  shards = {}
  for split, matches in by_split.items():
    counts = {m['count'] for m in matches}
    whole = [m for m in matches if m['count'] is None]
    if whole and len(matches) > 1 or len(counts) > 1:
      raise ValueError('tfrecord: %s split %s mixes shard sets (%s); keep '
                       'one' % (dataset_name, split,
                                ', '.join(m.string for m in matches)))
    if not whole:
      count = int(matches[0]['count'])
      indices = {int(m['index']) for m in matches}
      missing = sorted(set(range(count)) - indices)
      if missing or max(indices) >= count:
        raise ValueError(
            'tfrecord: %s split %s is missing shards %s of %d (%s); copy '
            'every shard of the set' % (
                dataset_name, split,
                ', '.join(SHARD_NAME % (dataset_name, split, i, count)
                          for i in missing[:3]) or 'beyond the count',
                count, os.path.join(path, '')))
    shards[split] = [os.path.join(path, m.string) for m in matches]
  return shards


def _scan(path):
  """Reads a shard once: labels and sizes, and where damage stops it."""
  shard = _Shard(path)
  labels, sizes, shard.damage = _read_features(path, _SCAN_BATCH)
  if shard.damage is not None:
    # A batch fails whole at its first bad record: find that one.
    labels, sizes, _ = _read_features(path, 1)
  shard.labels = (np.concatenate(labels) if labels
                  else np.zeros(0, np.int64)).astype(np.int64)
  shard.sizes = (np.concatenate(sizes) if sizes
                 else np.zeros((0, 3), np.int64))
  shard.readable = len(shard.labels)
  return shard


def _read_features(path, batch_size):
  """Labels and [height, width, channels] of a shard's records, a batch at
  a time, up to the first batch that fails, and why it failed (or None)."""
  labels, sizes = [], []
  with tf.Graph().as_default() as graph:
    dataset = tf.data.TFRecordDataset(path).batch(batch_size).map(
        lambda records: tf.io.parse_example(records, _SCAN_FEATURES))
    batch = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
    with tf.compat.v1.Session(graph=graph) as session:
      while True:
        try:
          values = session.run(batch)
        except tf.errors.OutOfRangeError:
          return labels, sizes, None
        except (tf.errors.DataLossError,
                tf.errors.InvalidArgumentError) as error:
          return labels, sizes, images_lib.error_reason(error.message)
        labels.append(values[LABEL_KEY])
        sizes.append(np.stack([values[HEIGHT_KEY], values[WIDTH_KEY],
                               values[CHANNELS_KEY]], axis=1))


def _read_class_names(path, shards):
  """Class names from `labels.txt`, or the label numbers without it."""
  labels_path = os.path.join(path, LABELS_FILE)
  largest = max((int(s.labels.max()) for split_list in shards.values()
                 for s in split_list if s.labels.size), default=-1)
  if not os.path.isfile(labels_path):
    return [str(label) for label in range(largest + 1)]
  names = {}
  with open(labels_path, encoding='utf-8') as lines:
    for number, line in enumerate(lines, 1):
      line = line.rstrip('\n')
      label, colon, class_name = line.partition(':')
      if not line.strip():
        continue
      if not colon or not label.strip().isdigit():
        raise ValueError('%s line %d: expected <label>:<class name>, got %r'
                         % (labels_path, number, line))
      if int(label) in names:
        raise ValueError('%s line %d: label %s is named twice'
                         % (labels_path, number, label))
      names[int(label)] = class_name
  count = max(max(names, default=-1), largest) + 1
  return [names.get(label, str(label)) for label in range(count)]


def _image_size(image_size, shards):
  if image_size is not None:
    return checks.image_size(image_size)
  sizes = np.concatenate([s.sizes[:, :2] for split_list in shards.values()
                          for s in split_list])
  if not len(sizes):
    raise ValueError('tfrecord: the shards hold no readable records')
  distinct = np.unique(sizes, axis=0)
  if distinct.min() < 1:
    raise ValueError('tfrecord: some records state no image/height and '
                     'image/width; give image_size= (--image-size)')
  if len(distinct) != 1:
    raise ValueError(
        'tfrecord: the records hold %d different image sizes, e.g. %s; give '
        'image_size= (--image-size) to resize them to one' % (
            len(distinct), ', '.join('%dx%d' % tuple(d)
                                     for d in distinct[:3])))
  return tuple(int(side) for side in distinct[0])


def _channels(channels, shards):
  if channels is None:
    stated = np.unique(np.concatenate([
        s.sizes[:, 2] for split_list in shards.values() for s in split_list]))
    channels = (int(stated[0]) if len(stated) == 1 and stated[0] in (1, 3)
                else DEFAULT_CHANNELS)
  if channels not in (1, 3):
    raise ValueError('channels must be 1 or 3, got %r' % (channels,))
  return channels


def _undecodable(shard, channels):
  """Positions of the readable records whose image does not decode."""
  bad = []
  with tf.Graph().as_default() as graph:
    dataset = tf.data.TFRecordDataset(shard.path).take(shard.readable)
    record = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
    encoded = tf.io.parse_single_example(record, _DECODE_FEATURES)[
        ENCODED_KEY]
    decoded = tf.io.decode_image(encoded, channels=channels,
                                 expand_animations=False)
    with tf.compat.v1.Session(graph=graph) as session:
      for position in range(shard.readable):
        try:
          session.run(decoded)
        except tf.errors.InvalidArgumentError:
          bad.append(position)
  return bad


class TFRecordSplit(splits.DecodedSplit):
  """A split read from TFRecord shards, decoded inside the pipeline."""

  def __init__(self, shards, image_size, channels, exclude=None, keep=None):
    """Records which records belong to the split; reads nothing.

    Args:
      shards: The split's `_Shard`s, in order.
      image_size: (height, width) of every output image.
      channels: 1 or 3.
      exclude: {shard path: positions} of records to leave out.
      keep: None for every record, or sorted indices into the records that
        remain after `exclude` (for splits held out of another).
    """
    exclude = exclude or {}
    self._paths = [s.path for s in shards]
    self._counts = [s.readable for s in shards]
    self._offsets = np.cumsum([0] + self._counts[:-1]).astype(np.int64)
    self._image_size = tuple(image_size)
    self._channels = channels
    total = sum(self._counts)
    member = np.ones(total, bool)
    for shard, offset in zip(shards, self._offsets):
      for position in exclude.get(shard.path, ()):
        member[offset + position] = False
    if keep is not None:
      members = np.flatnonzero(member)
      member[:] = False
      member[members[keep]] = True
    self._member = None if member.all() else member
    labels = (np.concatenate([s.labels for s in shards]) if shards
              else np.zeros(0, np.int64))
    self._labels = labels[member]
    # Decoding at the stored size keeps uint8 to the batch (exact pixels);
    # other sizes are resized as the image folder's files are.
    sizes = (np.concatenate([s.sizes[:, :2] for s in shards]) if shards
             else np.zeros((0, 2), np.int64))
    self._resize = bool((sizes[member] != self._image_size).any())

  @property
  def shard_paths(self):
    """The shard files, in reading order."""
    return list(self._paths)

  def raw_dataset(self, parallel=False):
    """(global record index, serialized record), shard after shard.

    Args:
      parallel: Read several shards at once, interleaving their records
        (the order is still fixed, but no longer shard after shard).
    """
    def records(path, offset, count):
      return tf.data.TFRecordDataset(path).take(count).enumerate().map(
          lambda index, record: (index + offset, record))

    dataset = tf.data.Dataset.from_tensor_slices(
        (self._paths, self._offsets, np.asarray(self._counts, np.int64)))
    if parallel:
      dataset = dataset.interleave(
          records, cycle_length=min(_PARALLEL_SHARDS, len(self._paths)),
          block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
          deterministic=True)
    else:
      dataset = dataset.interleave(records, cycle_length=1)
    if self._member is not None:
      member = tf.constant(self._member)
      dataset = dataset.filter(lambda index, _: tf.gather(member, index))
    return dataset

  def training_records(self):
    # A shuffled pipeline reads several shards at once: the order the
    # shuffle buffer sees matters less than keeping every reader busy.
    return self.raw_dataset(parallel=True)

  def decode(self, index, record):
    return self._decode(index, record, resize=self._resize)

  def decode_stored(self, index, record):
    return self._decode(index, record, resize=None)

  def _decode(self, index, record, resize):
    """One record's image and label.

    Args:
      resize: False: uint8 at `image_size` (every stored image has it);
        True: float32 in [0, 1] resized to `image_size`; None: float32 in
        [0, 1] at the stored size.
    """
    features = tf.io.parse_single_example(record, _DECODE_FEATURES)
    encoded = features[ENCODED_KEY]
    shard = tf.searchsorted(self._offsets, [index], side='right')[0] - 1
    where = ['tfrecord', tf.gather(self._paths, shard), 'record',
             index - tf.gather(self._offsets, shard)]
    if resize is False:
      image = images_lib.checked_decode(encoded, self._channels, where)
      image.set_shape(self._image_size + (self._channels,))
    else:
      image = images_lib.checked_decode(encoded, self._channels, where,
                                        dtype=tf.float32)
      image.set_shape((None, None, self._channels))
      if resize:
        image = tf.clip_by_value(tf.image.resize(
            image, self._image_size,
            method=tf.image.ResizeMethod.BILINEAR), 0., 1.)
    return image, features[LABEL_KEY]

  @property
  def normalize(self):
    if self._resize:
      return None
    return lambda images, labels: (
        tf.cast(images, tf.float32) / np.float32(255), labels)
