"""Image classification datasets for training ResNets in graph mode.

Every loader returns a `DataSource`: the dataset's shape and class names plus
three `Split`s (train, validation, test). A split hands out its examples two
ways:

  * `arrays()`: all images float32 `[N, height, width, channels]` scaled to
    [0, 1] and labels int64 `[N]`, in memory;
  * `as_dataset()`: an unbatched `tf.data.Dataset` of (image float32
    `[height, width, channels]`, label int64 scalar), built in whatever graph
    is the default, so a trainer can create its input pipeline inside the graph
    it owns;
  * `batched(batch_size, shuffle_buffer, seed)`: the training pipeline, in
    stages: shuffle the raw examples (uint8, or file paths), decode in
    parallel, batch, scale each batch in one vectorised op, prefetch.

Supported sources (`DATASETS`), none of which is ever downloaded:

  * 'digits': scikit-learn's bundled 8x8 handwritten digits, resized.
  * 'cifar10': CIFAR-10 in its python (pickle) or binary version, as the
    folder or the `.tar.gz` archive, read without extracting anything.
  * 'signs': the hand-signs `train_signs.h5` / `test_signs.h5` files.
  * 'folder': one sub-folder of JPEG/PNG files per class, decoded lazily in the
    tf.data pipeline.

Typical use:

  from resnet_v1_graph import data

  source = data.load('cifar10', path='~/datasets/cifar-10-python.tar.gz')
  with tf.Graph().as_default():
    dataset = source.train.as_dataset().shuffle(10000).batch(128)
    images, labels = tf.compat.v1.data.make_one_shot_iterator(
        dataset).get_next()
    ...

  images, labels = data.load_digits(image_size=32).test.arrays()
"""

import abc
import dataclasses
import io
import operator
import os
import pickle
import tarfile

import h5py
import numpy as np
import sklearn.datasets
import tensorflow as tf

DATASETS = ('digits', 'cifar10', 'signs', 'folder')

# Arrays up to this size go into the graph as constants. Larger ones are
# streamed from Python instead: a constant is serialised with the GraphDef into
# every `.meta` checkpoint file, and a GraphDef cannot exceed 2 GB.
MAX_EMBEDDED_ARRAY_BYTES = 64 * 2**20
# Streamed arrays cross into the pipeline this many examples at a time, so the
# per-call Python overhead is paid once per chunk rather than once per image.
STREAM_CHUNK_EXAMPLES = 1024

UINT8_MAX = 255.

DIGITS_SOURCE_SIZE = 8
DIGITS_MAX_VALUE = 16.
DIGITS_NUM_CLASSES = 10

CIFAR_IMAGE_SHAPE = (32, 32, 3)
CIFAR_IMAGE_BYTES = 32 * 32 * 3
CIFAR_RECORD_BYTES = 1 + CIFAR_IMAGE_BYTES
CIFAR_NUM_TRAIN_BATCHES = 5
CIFAR_PYTHON_FOLDER = 'cifar-10-batches-py'
CIFAR_PYTHON_ARCHIVE = 'cifar-10-python.tar.gz'
CIFAR_PYTHON_TRAIN_FILES = tuple(
    'data_batch_%d' % i for i in range(1, CIFAR_NUM_TRAIN_BATCHES + 1))
CIFAR_PYTHON_TEST_FILE = 'test_batch'
CIFAR_PYTHON_META_FILE = 'batches.meta'
CIFAR_BINARY_FOLDER = 'cifar-10-batches-bin'
CIFAR_BINARY_ARCHIVE = 'cifar-10-binary.tar.gz'
CIFAR_BINARY_TRAIN_FILES = tuple(
    'data_batch_%d.bin' % i for i in range(1, CIFAR_NUM_TRAIN_BATCHES + 1))
CIFAR_BINARY_TEST_FILE = 'test_batch.bin'
CIFAR_BINARY_META_FILE = 'batches.meta.txt'

SIGNS_TRAIN_FILE = 'train_signs.h5'
SIGNS_TEST_FILE = 'test_signs.h5'

FOLDER_TRAIN_SUBDIR = 'train'
FOLDER_TEST_SUBDIR = 'test'
FOLDER_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
# JPEG has no alpha and its decoder refuses 4 channels, so RGBA output would
# fail mid-training on the first JPEG; PNG alpha is dropped instead.
FOLDER_CHANNELS = (1, 3)

# The only globals the CIFAR-10 pickles reference: numpy's array
# reconstruction. numpy 2 moved `numpy.core` to `numpy._core`, so pickles
# written by either major version name one of the two modules. The function is
# taken from `ndarray.__reduce__` so that neither module path is imported here.
_NUMPY_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_CIFAR_PICKLE_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): _NUMPY_RECONSTRUCT,
    ('numpy._core.multiarray', '_reconstruct'): _NUMPY_RECONSTRUCT,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}


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

  decode = None
  """Per-example work (reading and decoding a file), or None."""

  normalize = None
  """Elementwise work that runs as well on a batch as on one example (uint8
  to [0, 1]), or None."""

  def batched(self, batch_size, shuffle_buffer=0, seed=None):
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

    Returns:
      A `tf.data.Dataset` of (images float32 `[batch, height, width,
      channels]` in [0, 1], labels int64 `[batch]`).
    """
    dataset = self.raw_dataset()
    if shuffle_buffer:
      dataset = dataset.shuffle(shuffle_buffer, seed=seed,
                                reshuffle_each_iteration=True)
    if self.decode is not None:
      dataset = dataset.map(self.decode, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size)
    if self.normalize is not None:
      dataset = dataset.map(self.normalize,
                            num_parallel_calls=tf.data.AUTOTUNE)
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
    self._labels = labels.astype(np.int64)
    self._scale = float(scale)

  @property
  def num_examples(self):
    return len(self._labels)

  def arrays(self):
    # The same float32 cast-then-divide as `_to_unit_range`, so both paths
    # return identical values.
    images = self._images.astype(np.float32) / np.float32(self._scale)
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
    return tf.cast(images, tf.float32) / self._scale, labels


class FileSplit(Split):
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
    self._labels = np.asarray(labels, dtype=np.int64).reshape(len(paths))
    self._image_size = tuple(image_size)
    self._channels = channels

  @property
  def num_examples(self):
    return len(self._labels)

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

  def raw_dataset(self):
    return tf.data.Dataset.from_tensor_slices(
        (list(self._paths), self._labels))

  def decode(self, path, label):
    # dtype=float32 scales 8- and 16-bit PNGs alike into [0, 1]; the channel
    # count makes the decoders convert grayscale, RGB and RGBA to `channels`.
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=self._channels, dtype=tf.float32,
        expand_animations=False)
    image = tf.image.resize(image, self._image_size,
                            method=tf.image.ResizeMethod.BILINEAR)
    # Interpolation is a convex combination, but float rounding can still
    # land a hair outside [0, 1].
    return tf.clip_by_value(image, 0., 1.), label


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


def load_digits(image_size=32, validation_fraction=0.1, test_fraction=0.2,
                seed=0):
  """Loads scikit-learn's bundled handwritten digits (1797 images).

  The 8x8 images (values 0..16) are scaled to [0, 1] and resized with bilinear
  interpolation (half-pixel centres, as `tf.image.resize`) in numpy, so loading
  adds no ops to any graph.

  Args:
    image_size: Side of the square output images, a positive int.
    validation_fraction: Fraction of all images held out for validation.
    test_fraction: Fraction of all images held out for testing.
    seed: Seed of the stratified split.

  Returns:
    A `DataSource` with image_shape (image_size, image_size, 1), 10 classes
    named '0'..'9'.

  Raises:
    ValueError: If `image_size` is not a positive int or the fractions are not
      in [0, 1) with a sum below 1.
  """
  image_size = _positive_int(image_size, 'image_size')
  digits = sklearn.datasets.load_digits()
  images = digits.images / DIGITS_MAX_VALUE
  images = _resize_bilinear(images, image_size, image_size)
  images = images[..., np.newaxis].astype(np.float32)
  labels = digits.target.astype(np.int64)
  class_names = [str(i) for i in range(DIGITS_NUM_CLASSES)]
  train, validation, test = _split_arrays(
      images, labels, scale=1., validation_fraction=validation_fraction,
      test_fraction=test_fraction, seed=seed)
  return DataSource(name='digits', image_shape=(image_size, image_size, 1),
                    num_classes=DIGITS_NUM_CLASSES, class_names=class_names,
                    train=train, validation=validation, test=test)


def load_cifar10(path, validation_fraction=0.1, seed=0):
  """Loads CIFAR-10 from its python or binary version, folder or archive.

  `path` may be the folder `cifar-10-batches-py` or `cifar-10-batches-bin`,
  the archive `cifar-10-python.tar.gz` or `cifar-10-binary.tar.gz`, or a
  directory holding one of those. Archives are read in memory, never
  extracted. The pickles are read by an unpickler that builds numpy arrays and
  nothing else, so a tampered file cannot run code.

  Args:
    path: Where the data is, as above.
    validation_fraction: Fraction of the 50000 training images held out
      (stratified) for validation.
    seed: Seed of the validation split.

  Returns:
    A `DataSource` with image_shape (32, 32, 3) and the 10 CIFAR classes.

  Raises:
    FileNotFoundError: If `path` or one of the files it must contain is
      missing.
    pickle.UnpicklingError: If a pickle references anything but numpy arrays.
    ValueError: If a file is truncated or corrupt, a label is out of range,
      an archive member is not a regular file, or `validation_fraction` is
      not in [0, 1).
  """
  files, is_python = _open_cifar(path)
  if is_python:
    meta = _unpickle_cifar(files, CIFAR_PYTHON_META_FILE)
    class_names = [name.decode('utf-8')
                   for name in _pickle_key(meta, b'label_names',
                                           CIFAR_PYTHON_META_FILE)]
    parse, train_names, test_name = (_parse_cifar_python,
                                     CIFAR_PYTHON_TRAIN_FILES,
                                     CIFAR_PYTHON_TEST_FILE)
  else:
    meta_text = files(CIFAR_BINARY_META_FILE).decode('utf-8')
    class_names = [line.strip() for line in meta_text.splitlines()
                   if line.strip()]
    parse, train_names, test_name = (_parse_cifar_binary,
                                     CIFAR_BINARY_TRAIN_FILES,
                                     CIFAR_BINARY_TEST_FILE)
  num_classes = len(class_names)
  batches = [parse(files, name, num_classes) for name in train_names]
  train_images = np.concatenate([images for images, _ in batches])
  train_labels = np.concatenate([labels for _, labels in batches])
  del batches
  train, validation, _ = _split_arrays(
      train_images, train_labels, scale=UINT8_MAX,
      validation_fraction=validation_fraction, test_fraction=0., seed=seed)
  test = ArraySplit(*parse(files, test_name, num_classes), scale=UINT8_MAX)
  return DataSource(name='cifar10', image_shape=CIFAR_IMAGE_SHAPE,
                    num_classes=num_classes, class_names=class_names,
                    train=train, validation=validation, test=test)


def load_signs(path, validation_fraction=0.1, seed=0):
  """Loads the hand-signs dataset from its two HDF5 files.

  Args:
    path: Directory holding `train_signs.h5` (datasets `train_set_x` uint8
      `[N, height, width, channels]`, `train_set_y` int `[N]`, `list_classes`)
      and `test_signs.h5` (`test_set_x`, `test_set_y`, `list_classes`).
    validation_fraction: Fraction of the training images held out
      (stratified) for validation.
    seed: Seed of the validation split.

  Returns:
    A `DataSource` whose class names are the `list_classes` values as strings.

  Raises:
    FileNotFoundError: If `path` or either file is missing.
    ValueError: If a dataset is missing or has the wrong rank or dtype, the
      two files disagree on image shape or classes, a label is out of range,
      or `validation_fraction` is not in [0, 1).
  """
  path = _expand(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        'signs: no directory %r; pass the directory holding %s and %s'
        % (path, SIGNS_TRAIN_FILE, SIGNS_TEST_FILE))
  train_images, train_labels, train_classes = _read_signs_file(
      os.path.join(path, SIGNS_TRAIN_FILE), 'train')
  test_images, test_labels, test_classes = _read_signs_file(
      os.path.join(path, SIGNS_TEST_FILE), 'test')
  if train_images.shape[1:] != test_images.shape[1:]:
    raise ValueError(
        'signs: train images are %s but test images are %s; both files must '
        'hold images of one shape'
        % (train_images.shape[1:], test_images.shape[1:]))
  if train_classes != test_classes:
    raise ValueError(
        'signs: list_classes differ between %s %s and %s %s; both files must '
        'come from the same release'
        % (SIGNS_TRAIN_FILE, train_classes, SIGNS_TEST_FILE, test_classes))
  num_classes = len(train_classes)
  _check_labels(train_labels, num_classes, SIGNS_TRAIN_FILE)
  _check_labels(test_labels, num_classes, SIGNS_TEST_FILE)
  train, validation, _ = _split_arrays(
      train_images, train_labels, scale=UINT8_MAX,
      validation_fraction=validation_fraction, test_fraction=0., seed=seed)
  test = ArraySplit(test_images, test_labels, scale=UINT8_MAX)
  return DataSource(name='signs', image_shape=train_images.shape[1:],
                    num_classes=num_classes, class_names=train_classes,
                    train=train, validation=validation, test=test)


def load_folder(path, image_size=(64, 64), channels=3, validation_fraction=0.1,
                test_fraction=0.2, seed=0):
  """Loads JPEG/PNG images sorted into one sub-folder per class.

  Class names are the sorted sub-folder names; files ending in .jpg, .jpeg or
  .png (any case) are images and everything else, like hidden entries, is
  skipped. When `path` holds `train/` and `test/`, each with the same class
  sub-folders, those are the train and test splits and validation is held out
  from train; otherwise all images are split stratified by the fractions.
  Images are decoded in the tf.data pipeline, converted to `channels` and
  resized (bilinear) to `image_size`.

  Args:
    path: The root folder.
    image_size: (height, width) of the output images, or one int for both.
    channels: 1 (grayscale) or 3 (RGB); alpha is dropped.
    validation_fraction: Fraction held out for validation: of all images, or
      of `train/` when the folder is already split.
    test_fraction: Fraction of all images held out for testing; unused when
      the folder has `train/` and `test/`.
    seed: Seed of the stratified split.

  Returns:
    A `DataSource` with image_shape (height, width, channels).

  Raises:
    FileNotFoundError: If `path` is not a directory.
    ValueError: If there are no class sub-folders, a class sub-folder holds
      no images, `train/` and `test/` hold different classes, `image_size` or
      `channels` is invalid, the fractions are not in [0, 1) with a sum below
      1, or there are too few images to give every split one.
  """
  path = _expand(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        'folder: no directory %r; pass a directory with one sub-folder of '
        '%s images per class (optionally under train/ and test/)'
        % (path, '/'.join(FOLDER_IMAGE_EXTENSIONS)))
  if np.ndim(image_size) == 0:
    image_size = (image_size, image_size)
  if len(image_size) != 2:
    raise ValueError('image_size must be (height, width) or one int, got %r'
                     % (image_size,))
  image_size = tuple(_positive_int(side, 'image_size') for side in image_size)
  if channels not in FOLDER_CHANNELS:
    raise ValueError('channels must be one of %s, got %r'
                     % (FOLDER_CHANNELS, channels))

  def file_split(paths, labels):
    return FileSplit(paths, labels, image_size, channels)

  train_dir = os.path.join(path, FOLDER_TRAIN_SUBDIR)
  test_dir = os.path.join(path, FOLDER_TEST_SUBDIR)
  if os.path.isdir(train_dir) and os.path.isdir(test_dir):
    class_names, train_paths, train_labels = _list_class_folders(train_dir)
    test_names, test_paths, test_labels = _list_class_folders(test_dir)
    if test_names != class_names:
      raise ValueError(
          'folder: %s has classes %s but %s has %s; give both the same class '
          'sub-folders' % (train_dir, class_names, test_dir, test_names))
    train_index, validation_index = _stratified_split(
        train_labels, (validation_fraction,), seed)
    test = file_split(test_paths, test_labels)
  else:
    class_names, train_paths, train_labels = _list_class_folders(path)
    train_index, validation_index, test_index = _stratified_split(
        train_labels, (validation_fraction, test_fraction), seed)
    test = file_split([train_paths[i] for i in test_index],
                      train_labels[test_index])
  train = file_split([train_paths[i] for i in train_index],
                     train_labels[train_index])
  validation = file_split([train_paths[i] for i in validation_index],
                          train_labels[validation_index])
  return DataSource(name='folder', image_shape=image_size + (channels,),
                    num_classes=len(class_names), class_names=class_names,
                    train=train, validation=validation, test=test)


def load(name, path=None, **kwargs):
  """Loads a dataset by name.

  Args:
    name: One of `DATASETS`.
    path: Where the data is; required by every dataset but 'digits', which is
      bundled and takes none.
    **kwargs: Passed to the dataset's `load_<name>` function.

  Returns:
    A `DataSource`.

  Raises:
    ValueError: If `name` is unknown, or `path` is missing for a dataset that
      needs it or given for 'digits'.
    Also whatever the `load_<name>` function raises for bad data.
  """
  if name not in _LOADERS:
    raise ValueError('unknown dataset %r; choose one of %s'
                     % (name, ', '.join(DATASETS)))
  if name == 'digits':
    if path is not None:
      raise ValueError('dataset digits is bundled with scikit-learn and takes '
                       'no path, got path=%r' % (path,))
    return load_digits(**kwargs)
  if path is None:
    raise ValueError('dataset %s needs path=...: see load_%s'
                     % (name, name))
  return _LOADERS[name](path, **kwargs)


def _expand(path):
  return os.path.expanduser(os.fspath(path))


def _positive_int(value, name):
  try:
    if isinstance(value, bool):
      raise TypeError
    value = operator.index(value)
  except TypeError:
    raise ValueError('%s must be a positive int, got %r'
                     % (name, value)) from None
  if value < 1:
    raise ValueError('%s must be a positive int, got %r' % (name, value))
  return value


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


def _stratified_split(labels, fractions, seed):
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


def _split_arrays(images, labels, scale, validation_fraction, test_fraction,
                  seed):
  """Returns train, validation and test `ArraySplit`s, stratified."""
  train, validation, test = _stratified_split(
      labels, (validation_fraction, test_fraction), seed)
  return [ArraySplit(images[index], labels[index], scale=scale)
          for index in (train, validation, test)]


def _resize_bilinear(images, height, width):
  """Resizes `[N, h, w]` images like `tf.image.resize(method='bilinear')`.

  Half-pixel centres and edge clamping, without antialiasing.

  Args:
    images: Float array `[num_images, in_height, in_width]`.
    height: Output height.
    width: Output width.

  Returns:
    Float64 array `[num_images, height, width]`.
  """
  def axis_weights(in_size, out_size):
    centres = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    centres = np.clip(centres, 0, in_size - 1)
    lower = np.floor(centres).astype(np.int64)
    upper = np.minimum(lower + 1, in_size - 1)
    return lower, upper, centres - lower

  top, bottom, row_frac = axis_weights(images.shape[1], height)
  left, right, col_frac = axis_weights(images.shape[2], width)
  rows = (images[:, top, :] * (1 - row_frac)[:, np.newaxis]
          + images[:, bottom, :] * row_frac[:, np.newaxis])
  return rows[:, :, left] * (1 - col_frac) + rows[:, :, right] * col_frac


def _check_labels(labels, num_classes, where):
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(
        '%s: labels span [%d, %d] but there are %d classes, so they must lie '
        'in [0, %d); the file is corrupt or belongs to another dataset'
        % (where, labels.min(), labels.max(), num_classes, num_classes))


class _ForbiddenGlobalError(pickle.UnpicklingError):
  """A pickle asked for a global outside `_CIFAR_PICKLE_GLOBALS`."""


class _CifarUnpickler(pickle.Unpickler):
  """Unpickles numpy arrays, lists, dicts, bytes and numbers, nothing else."""

  def find_class(self, module, name):
    try:
      return _CIFAR_PICKLE_GLOBALS[(module, name)]
    except KeyError:
      raise _ForbiddenGlobalError(
          'forbidden global %s.%s in a CIFAR-10 pickle: only numpy array '
          'reconstruction is allowed; the file is not an original CIFAR-10 '
          'batch, so re-download it' % (module, name)) from None


def _open_cifar(path):
  """Finds the CIFAR-10 files under `path`.

  Returns:
    read: Function from a file name (e.g. 'data_batch_1') to its bytes.
    is_python: True for the python version, False for the binary one.

  Raises:
    FileNotFoundError: If no CIFAR-10 folder or archive is found.
  """
  path = _expand(path)
  expected = ('the folder %s or %s, the archive %s or %s, or a directory '
              'holding one of them'
              % (CIFAR_PYTHON_FOLDER, CIFAR_BINARY_FOLDER, CIFAR_PYTHON_ARCHIVE,
                 CIFAR_BINARY_ARCHIVE))
  if os.path.isfile(path):
    return _cifar_archive_reader(path)
  if not os.path.isdir(path):
    raise FileNotFoundError('cifar10: no file or directory %r; expected %s'
                            % (path, expected))
  if os.path.isfile(os.path.join(path, CIFAR_PYTHON_TRAIN_FILES[0])):
    return _cifar_folder_reader(path), True
  if os.path.isfile(os.path.join(path, CIFAR_BINARY_TRAIN_FILES[0])):
    return _cifar_folder_reader(path), False
  for folder, is_python in ((CIFAR_PYTHON_FOLDER, True),
                            (CIFAR_BINARY_FOLDER, False)):
    if os.path.isdir(os.path.join(path, folder)):
      return _cifar_folder_reader(os.path.join(path, folder)), is_python
  for archive in (CIFAR_PYTHON_ARCHIVE, CIFAR_BINARY_ARCHIVE):
    if os.path.isfile(os.path.join(path, archive)):
      return _cifar_archive_reader(os.path.join(path, archive))
  raise FileNotFoundError(
      'cifar10: %r holds no CIFAR-10 data; expected %s' % (path, expected))


def _cifar_folder_reader(folder):
  def read(name):
    file_path = os.path.join(folder, name)
    if not os.path.isfile(file_path):
      raise FileNotFoundError(
          'cifar10: %r is missing from %r; the folder is incomplete, '
          're-download CIFAR-10' % (name, folder))
    with open(file_path, 'rb') as f:
      return f.read()

  return read


def _cifar_archive_reader(archive):
  """Reads the expected members of a CIFAR-10 archive into memory.

  Only members named `<version folder>/<expected file>` are read; nothing is
  written to disk, so odd member paths elsewhere in the archive are inert.

  Raises:
    FileNotFoundError: If the archive holds neither version's folder.
    ValueError: If the file is not a tar archive, or an expected member is
      not a regular file (a link could point anywhere on this machine).
  """
  python_names = CIFAR_PYTHON_TRAIN_FILES + (CIFAR_PYTHON_TEST_FILE,
                                             CIFAR_PYTHON_META_FILE)
  binary_names = CIFAR_BINARY_TRAIN_FILES + (CIFAR_BINARY_TEST_FILE,
                                             CIFAR_BINARY_META_FILE)
  wanted = {}
  for folder, names in ((CIFAR_PYTHON_FOLDER, python_names),
                        (CIFAR_BINARY_FOLDER, binary_names)):
    for name in names:
      wanted[folder + '/' + name] = (folder, name)
  contents = {CIFAR_PYTHON_FOLDER: {}, CIFAR_BINARY_FOLDER: {}}
  try:
    tar = tarfile.open(archive, mode='r:*')
  except tarfile.TarError as e:
    raise ValueError('cifar10: %r is not a readable tar archive (%s); pass '
                     '%s or %s as downloaded'
                     % (archive, e, CIFAR_PYTHON_ARCHIVE,
                        CIFAR_BINARY_ARCHIVE)) from e
  with tar:
    # One sequential pass: a .tar.gz cannot seek backwards cheaply.
    for member in tar:
      if member.name not in wanted:
        continue
      if not member.isfile():
        raise ValueError(
            'cifar10: archive member %r in %r is not a regular file; '
            'refusing to follow it, re-download the archive'
            % (member.name, archive))
      folder, name = wanted[member.name]
      contents[folder][name] = tar.extractfile(member).read()
  for folder, is_python in ((CIFAR_PYTHON_FOLDER, True),
                            (CIFAR_BINARY_FOLDER, False)):
    if contents[folder]:
      files = contents[folder]
      break
  else:
    raise FileNotFoundError(
        'cifar10: archive %r holds no %s/ or %s/ folder; pass %s or %s as '
        'downloaded' % (archive, CIFAR_PYTHON_FOLDER, CIFAR_BINARY_FOLDER,
                        CIFAR_PYTHON_ARCHIVE, CIFAR_BINARY_ARCHIVE))

  def read(name):
    if name not in files:
      raise FileNotFoundError(
          'cifar10: %s/%s is missing from archive %r; the archive is '
          'incomplete, re-download it' % (folder, name, archive))
    return files[name]

  return read, is_python


def _unpickle_cifar(read, name):
  raw = read(name)
  try:
    batch = _CifarUnpickler(io.BytesIO(raw), encoding='bytes').load()
  except _ForbiddenGlobalError:
    raise
  except Exception as e:  # A truncated pickle fails with assorted errors.
    raise ValueError('cifar10: cannot unpickle %r (%s: %s); the file is '
                     'truncated or corrupt, re-download CIFAR-10'
                     % (name, type(e).__name__, e)) from e
  if not isinstance(batch, dict):
    raise ValueError('cifar10: %r holds a %s, not a CIFAR-10 dict'
                     % (name, type(batch).__name__))
  return batch


def _pickle_key(batch, key, name):
  if key not in batch:
    raise ValueError('cifar10: %r has no %r entry (keys: %s); it is not a '
                     'CIFAR-10 python batch' % (name, key, sorted(batch)))
  return batch[key]


def _channel_major_to_nhwc(data):
  """`[N, 3072]` rows of R, G then B planes -> `[N, 32, 32, 3]`."""
  height, width, channels = CIFAR_IMAGE_SHAPE
  return np.ascontiguousarray(
      data.reshape(-1, channels, height, width).transpose(0, 2, 3, 1))


def _parse_cifar_python(read, name, num_classes):
  batch = _unpickle_cifar(read, name)
  data = np.asarray(_pickle_key(batch, b'data', name))
  labels = np.asarray(_pickle_key(batch, b'labels', name), dtype=np.int64)
  if data.dtype != np.uint8 or data.ndim != 2 or (
      data.shape[1] != CIFAR_IMAGE_BYTES):
    raise ValueError('cifar10: %r data is %s %s, expected uint8 [N, %d]; '
                     're-download CIFAR-10'
                     % (name, data.dtype, data.shape, CIFAR_IMAGE_BYTES))
  if labels.shape != (len(data),):
    raise ValueError('cifar10: %r has %d images but labels of shape %s'
                     % (name, len(data), labels.shape))
  _check_labels(labels, num_classes, 'cifar10: ' + name)
  return _channel_major_to_nhwc(data), labels


def _parse_cifar_binary(read, name, num_classes):
  raw = read(name)
  if len(raw) % CIFAR_RECORD_BYTES:
    raise ValueError(
        'cifar10: %r is %d bytes, not a multiple of the %d-byte record (1 '
        'label byte + %d pixel bytes); the file is truncated or corrupt, '
        're-download CIFAR-10'
        % (name, len(raw), CIFAR_RECORD_BYTES, CIFAR_IMAGE_BYTES))
  records = np.frombuffer(raw, np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
  labels = records[:, 0].astype(np.int64)
  _check_labels(labels, num_classes, 'cifar10: ' + name)
  return _channel_major_to_nhwc(records[:, 1:]), labels


def _read_signs_file(file_path, prefix):
  """Reads one hand-signs file: uint8 images, int64 labels, class names."""
  if not os.path.isfile(file_path):
    raise FileNotFoundError(
        'signs: %r is missing; the directory must hold %s and %s'
        % (file_path, SIGNS_TRAIN_FILE, SIGNS_TEST_FILE))
  x_key, y_key = prefix + '_set_x', prefix + '_set_y'
  with h5py.File(file_path, 'r') as f:
    missing = [key for key in (x_key, y_key, 'list_classes') if key not in f]
    if missing:
      raise ValueError('signs: %r lacks datasets %s (it has %s); it is not a '
                       'hand-signs file' % (file_path, missing, sorted(f)))
    images, labels, classes = f[x_key][()], f[y_key][()], f['list_classes'][()]
  if images.ndim != 4:
    raise ValueError(
        'signs: %s in %r has shape %s; expected rank 4 [N, height, width, '
        'channels]' % (x_key, file_path, images.shape))
  if images.dtype != np.uint8:
    raise ValueError('signs: %s in %r is %s; expected uint8 pixels'
                     % (x_key, file_path, images.dtype))
  if labels.shape != (len(images),) or labels.dtype.kind not in 'iu':
    raise ValueError(
        'signs: %s in %r is %s %s; expected integer labels [%d] to match %s'
        % (y_key, file_path, labels.dtype, labels.shape, len(images), x_key))
  if classes.ndim != 1:
    raise ValueError('signs: list_classes in %r has shape %s; expected rank 1'
                     % (file_path, classes.shape))
  class_names = [c.decode('utf-8') if isinstance(c, bytes) else str(c)
                 for c in classes.tolist()]
  return images, labels.astype(np.int64), class_names


def _list_images(folder):
  return sorted(
      os.path.join(folder, entry) for entry in os.listdir(folder)
      if not entry.startswith('.')
      and entry.lower().endswith(FOLDER_IMAGE_EXTENSIONS)
      and os.path.isfile(os.path.join(folder, entry)))


def _list_class_folders(root):
  """Lists `root/<class>/<image>`.

  Returns:
    class_names: Sorted class folder names.
    paths: Image paths, class by class.
    labels: int64 array `[len(paths)]`, indices into `class_names`.

  Raises:
    ValueError: If `root` has no class folders or one of them no images.
  """
  class_names = sorted(
      entry for entry in os.listdir(root)
      if not entry.startswith('.') and os.path.isdir(os.path.join(root, entry)))
  if not class_names:
    raise ValueError(
        'folder: %r has no class sub-folders; put the images of each class in '
        'a sub-folder named after it' % (root,))
  paths, labels = [], []
  for label, class_name in enumerate(class_names):
    images = _list_images(os.path.join(root, class_name))
    if not images:
      raise ValueError(
          'folder: class folder %r has no images; add %s files or remove it'
          % (os.path.join(root, class_name),
             '/'.join(FOLDER_IMAGE_EXTENSIONS)))
    paths.extend(images)
    labels.extend([label] * len(images))
  return class_names, paths, np.array(labels, dtype=np.int64)


_LOADERS = {
    'digits': load_digits,
    'cifar10': load_cifar10,
    'signs': load_signs,
    'folder': load_folder,
}
