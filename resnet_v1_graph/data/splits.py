"""What every data source fills: `Split`s of examples and a `DataSource`.

A `Split` hands out its examples as arrays in memory (`arrays()`), as an
unbatched `tf.data.Dataset` in the default graph (`as_dataset()`), or as the
staged training pipeline (`batched()`). `ArraySplit` holds pixels in memory;
`FileSplit` holds image paths and decodes them in the pipeline.
`split_arrays` and `stratified_split` hold out validation and test examples
class by class.

Typical use:

  from resnet_v1_graph import data
  from resnet_v1_graph.data import splits

  train, validation, test = splits.split_arrays(
      uint8_images, labels, scale=data.UINT8_MAX, validation_fraction=0.1,
      test_fraction=0.2, seed=0)
  with tf.Graph().as_default():
    images, labels = tf.compat.v1.data.make_one_shot_iterator(
        train.batched(128, shuffle_buffer=10000)).get_next()
"""

import abc
import dataclasses

import numpy as np
import tensorflow as tf

from resnet_v1_graph.data import images as images_lib

# Arrays up to this size go into the graph as constants. Larger ones are
# streamed from Python instead: a constant is serialised with the GraphDef into
# every `.meta` checkpoint file, and a GraphDef cannot exceed 2 GB.
MAX_EMBEDDED_ARRAY_BYTES = 64 * 2**20
# Streamed arrays cross into the pipeline this many examples at a time, so the
# per-call Python overhead is paid once per chunk rather than once per image.
STREAM_CHUNK_EXAMPLES = 1024


def integer_labels(labels):
  """Labels as int64, refusing what a cast would silently change.

  Raises:
    ValueError: If float labels are not whole numbers (1.7 would become 1)
      or are NaN, or the labels are not numbers.
  """
  labels = np.asarray(labels)
  if labels.dtype.kind == 'f':
    whole = np.isfinite(labels) & (labels == np.round(labels))
    if not whole.all():
      raise ValueError(
          'labels must be whole numbers (class indices); got %s' %
          ', '.join('%g' % v for v in labels[~whole][:5]))
  elif labels.size and labels.dtype.kind not in 'iub':
    raise ValueError('labels must be integer class indices, got dtype %s'
                     % labels.dtype)
  return labels.astype(np.int64)


class Split(abc.ABC):
  """One split of a dataset."""

  @property
  @abc.abstractmethod
  def num_examples(self):
    """The number of examples, an int."""

  @property
  def labels(self):
    """The labels, int64 `[num_examples]`, without loading any image."""
    return self._labels.copy()

  @property
  @abc.abstractmethod
  def image_size(self):
    """(height, width) of the images the pipeline gives."""

  @abc.abstractmethod
  def arrays(self):
    """Returns every example in memory.

    Returns:
      images: float32 array `[num_examples, height, width, channels]` in
        [0, 1]. A new array on each call.
      labels: int64 array `[num_examples]`.
    """

  def as_dataset(self):
    """Returns the examples as a pipeline in the default graph.

    Works eagerly and inside `with tf.Graph().as_default():`.

    Returns:
      An unbatched `tf.data.Dataset` of (image float32 `[height, width,
      channels]` in [0, 1], label int64 scalar), in a fixed order.
    """
    dataset = self.raw_dataset()
    for stage in (self.decode, self.normalize):
      if stage is not None:
        dataset = dataset.map(stage, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset

  # The pipeline in stages, so that `batched` shuffles the cheapest form of
  # an example and runs elementwise work once per batch.

  @abc.abstractmethod
  def raw_dataset(self):
    """The examples as stored: what a shuffle buffer should hold.

    Returns:
      An unbatched `tf.data.Dataset` in a fixed order; `decode`, then
      `normalize`, turn its elements into `as_dataset()`'s.
    """

  def training_records(self):
    """`raw_dataset()` as a shuffled pipeline reads it.

    A source whose fixed order is slow to read (several files) may return
    the same examples in another order here.
    """
    return self.raw_dataset()

  decode = None
  """Per-example work (reading and decoding a file), or None."""

  decode_stored = None
  """`decode` without the resize to `image_size`: images of their stored
  size as float32 in [0, 1], for preprocessing that crops before it
  resizes; None where the split holds its images at `image_size`."""

  normalize = None
  """Elementwise work that runs as well on a batch as on one example (uint8
  to [0, 1]), or None."""

  def batched(self, batch_size, shuffle_buffer=0, seed=None, shard=None,
              repeat=False, drop_remainder=False, preprocess=None):
    """The input pipeline a trainer wants, in the default graph.

    Shuffles raw examples (uint8 arrays stay uint8 in the buffer; files are
    shuffled as paths, before they are read), decodes in parallel, batches,
    normalizes each batch in one vectorised op, and prefetches.

    Args:
      batch_size: Examples per batch; the last batch may be smaller.
      shuffle_buffer: 0 for the fixed order; otherwise the shuffle buffer,
        reshuffled on every pass.
      seed: Shuffle seed, an int or an int64 scalar tensor (e.g. a
        placeholder fed with the epoch number when an initializable
        iterator is initialised, since re-initialising with a fixed seed
        repeats the same order).
      shard: None, or `(count, index)`: keep only every `count`-th example
        from the `index`-th on, so that `count` workers read disjoint
        parts (taken before shuffling, so the parts stay fixed).
      repeat: Pass over the examples again and again, reshuffled each time.
      drop_remainder: Leave out a last batch smaller than `batch_size`.
      preprocess: None, or a function `(image, size)` from one image
        [height, width, channels] in [0, 1] to the network's input of
        `size` = `image_size` (see `preprocessing.PIPELINES`), applied to
        every example after it is decoded and scaled. Files and records
        are then decoded at their stored size, so that crops start from
        the image as stored, as slim's do.

    Returns:
      A `tf.data.Dataset` of (images float32 `[batch, height, width,
      channels]` in [0, 1], labels int64 `[batch]`).
    """
    dataset = self.training_records() if shuffle_buffer else self.raw_dataset()
    if shard is not None:
      dataset = dataset.shard(*shard)
    if shuffle_buffer:
      dataset = dataset.shuffle(shuffle_buffer, seed=seed,
                                reshuffle_each_iteration=True)
    if repeat:
      dataset = dataset.repeat()
    decode, normalize = self.decode, self.normalize
    if preprocess is not None and self.decode_stored is not None:
      decode, normalize = self.decode_stored, None
    if decode is not None:
      dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if preprocess is not None:
      size = self.image_size

      # Preprocessing takes images in [0, 1]: each is scaled first.
      def prepare(image, label):
        if normalize is not None:
          image, label = normalize(image, label)
        return preprocess(image, size), label

      dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
      normalize = None
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if normalize is not None:
      dataset = dataset.map(normalize, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


class ArraySplit(Split):
  """A split held in memory as integer or float pixel arrays."""

  def __init__(self, images, labels, scale):
    """Wraps arrays without copying them.

    Args:
      images: Array `[num_examples, height, width, channels]`, uint8 or
        float32. Not modified; callers must not modify it afterwards either.
      labels: Integer array `[num_examples]`.
      scale: Pixel value that maps to 1.0: 255 for uint8 images, 1 for images
        already in [0, 1].

    Raises:
      ValueError: If `images` is not rank 4, `labels` is not rank 1, or their
        lengths differ.
    """
    if images.ndim != 4:
      raise ValueError(
          'images must be [num_examples, height, width, channels], got shape '
          '%s' % (images.shape,))
    if labels.ndim != 1 or len(labels) != len(images):
      raise ValueError(
          'labels must be [num_examples] = [%d], got shape %s'
          % (len(images), labels.shape))
    self._images = images
    self._labels = integer_labels(labels)
    self._scale = float(scale)

  @property
  def num_examples(self):
    return len(self._labels)

  @property
  def image_size(self):
    return tuple(self._images.shape[1:3])

  def arrays(self):
    images = images_lib.scale_array(self._images, self._scale)
    return images, self._labels.copy()

  def raw_dataset(self):
    images, labels = self._images, self._labels
    if images.nbytes <= MAX_EMBEDDED_ARRAY_BYTES:
      dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    else:
      def chunks():
        for start in range(0, len(labels), STREAM_CHUNK_EXAMPLES):
          stop = start + STREAM_CHUNK_EXAMPLES
          yield images[start:stop], labels[start:stop]

      dataset = tf.data.Dataset.from_generator(
          chunks,
          output_signature=(
              tf.TensorSpec((None,) + images.shape[1:],
                            tf.as_dtype(images.dtype)),
              tf.TensorSpec((None,), tf.int64))).unbatch()
    return dataset

  def normalize(self, images, labels):
    return images_lib.scale_batch(images, self._scale), labels

  def uint8_images(self):
    """The pixels as uint8: as stored, or floats rounded to 8 bits."""
    if self._images.dtype == np.uint8 and self._scale == images_lib.UINT8_MAX:
      return self._images
    unit = np.clip(images_lib.scale_array(self._images, self._scale), 0., 1.)
    return np.round(unit * images_lib.UINT8_MAX).astype(np.uint8)


class DecodedSplit(Split):
  """A split whose images exist only once the pipeline decodes them.

  Subclasses set `_labels`, `_image_size` (height, width) and `_channels`.
  """

  @property
  def num_examples(self):
    return len(self._labels)

  @property
  def image_size(self):
    return self._image_size

  def arrays(self):
    height, width = self._image_size
    images = np.zeros((0, height, width, self._channels), np.float32)
    if self.num_examples:
      # A private graph and session: this works whether or not eager
      # execution is on, and adds nothing to the caller's default graph.
      with tf.Graph().as_default() as graph:
        batch = tf.compat.v1.data.make_one_shot_iterator(
            self.as_dataset().batch(self.num_examples)).get_next()
        with tf.compat.v1.Session(graph=graph) as session:
          images, _ = session.run(batch)
    return images, self._labels.copy()


class FileSplit(DecodedSplit):
  """A split of JPEG/PNG files decoded inside the tf.data pipeline."""

  def __init__(self, paths, labels, image_size, channels):
    """Records the files; nothing is read until the pipeline runs.

    Args:
      paths: Sequence of `num_examples` image file paths (JPEG or PNG).
      labels: Integer array `[num_examples]`.
      image_size: (height, width) every image is resized to.
      channels: Channels every image is converted to: 1 or 3.

    Raises:
      ValueError: If `paths` and `labels` differ in length.
    """
    if len(paths) != len(labels):
      raise ValueError('got %d paths but %d labels; they must pair up'
                       % (len(paths), len(labels)))
    self._paths = tuple(str(path) for path in paths)
    self._labels = integer_labels(labels).reshape(len(paths))
    self._image_size = tuple(image_size)
    self._channels = channels

  @property
  def paths(self):
    """The image files, in order."""
    return list(self._paths)

  def raw_dataset(self):
    return tf.data.Dataset.from_tensor_slices(
        (list(self._paths), self._labels))

  def decode(self, path, label):
    return images_lib.decode_image_file(path, self._image_size,
                                        self._channels), label

  def decode_stored(self, path, label):
    return images_lib.decode_image_file(path, None, self._channels), label


@dataclasses.dataclass(frozen=True)
class DataSource:
  """A dataset: its image shape, classes and train/validation/test splits.

  Attributes:
    name: One of `DATASETS`.
    image_shape: (height, width, channels) of every image.
    num_classes: Number of classes; labels lie in [0, num_classes).
    class_names: `num_classes` names, indexed by label.
    train: Training split.
    validation: Held out from training; empty only when requested with
      `validation_fraction=0`.
    test: Test split.
  """
  name: str
  image_shape: tuple
  num_classes: int
  class_names: list
  train: Split
  validation: Split
  test: Split

  def __post_init__(self):
    if len(self.class_names) != self.num_classes:
      raise ValueError('%s: %d class names for %d classes'
                       % (self.name, len(self.class_names), self.num_classes))


# Stratified splitting ---------------------------------------------------------


def split_arrays(images, labels, scale, validation_fraction, test_fraction,
                 seed):
  """Splits arrays into train, validation and test, stratified by class.

  Args:
    images: Array `[num_examples, height, width, channels]`, uint8 or float32.
    labels: Integer array `[num_examples]`.
    scale: Pixel value that maps to 1.0, as `ArraySplit` takes it.
    validation_fraction: Fraction of the examples held out for validation.
    test_fraction: Fraction of the examples held out for testing.
    seed: Seed of the stratified split.

  Returns:
    [train, validation, test] `ArraySplit`s.

  Raises:
    ValueError: As `stratified_split`.
  """
  train, validation, test = stratified_split(
      labels, (validation_fraction, test_fraction), seed)
  return [ArraySplit(images[index], labels[index], scale=scale)
          for index in (train, validation, test)]


def _check_fractions(fractions):
  for fraction in fractions:
    if not 0. <= fraction < 1.:
      raise ValueError('split fractions must be in [0, 1), got %r'
                       % (fraction,))
  if sum(fractions) >= 1.:
    raise ValueError('split fractions %s leave no training examples; their '
                     'sum must be below 1' % (list(fractions),))


def _largest_remainder(weights, total, rng):
  """Splits the int `total` into integer parts proportional to `weights`."""
  quotas = weights * total / weights.sum()
  counts = np.floor(quotas).astype(np.int64)
  # A seeded random order breaks ties, so no class is always the one rounded
  # down.
  order = rng.permutation(len(weights))
  order = order[np.argsort(-(quotas - counts)[order], kind='stable')]
  counts[order[:total - counts.sum()]] += 1
  return counts


def stratified_split(labels, fractions, seed):
  """Splits example indices by class-preserving fractions.

  Args:
    labels: Integer array `[num_examples]`.
    fractions: Fractions of `num_examples` for each held-out split. A
      non-zero fraction always yields at least one example.
    seed: Seed of the random assignment.

  Returns:
    Sorted index arrays: the remainder (training) first, then one per
    fraction.

  Raises:
    ValueError: If a fraction is outside [0, 1), they sum to 1 or more, or
      there are too few examples to give every split one.
  """
  _check_fractions(fractions)
  num_examples = len(labels)
  sizes = [max(1, round(f * num_examples)) if f > 0 else 0 for f in fractions]
  if sum(sizes) >= num_examples:
    raise ValueError(
        '%d examples are too few for held-out splits of %s examples and a '
        'non-empty training split; use more data or smaller fractions'
        % (num_examples, sizes))
  rng = np.random.default_rng(seed)
  classes, class_of = np.unique(labels, return_inverse=True)
  members = [rng.permutation(np.flatnonzero(class_of == c))
             for c in range(len(classes))]
  remaining = np.array([len(m) for m in members])
  held_out = []
  for size in sizes:
    counts = _largest_remainder(remaining, size, rng)
    split = []
    for c, count in enumerate(counts):
      start = len(members[c]) - remaining[c]
      split.append(members[c][start:start + count])
    remaining = remaining - counts
    held_out.append(np.sort(np.concatenate(split)).astype(np.int64))
  train = np.sort(np.concatenate(
      [m[len(m) - r:] for m, r in zip(members, remaining)])).astype(np.int64)
  return [train] + held_out
