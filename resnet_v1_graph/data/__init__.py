"""Image classification datasets for training ResNets in graph mode.

Every loader returns a `DataSource`: the dataset's shape and class names plus
three `Split`s (train, validation, test). A split hands out its examples three
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

Supported sources (`DATASETS`), one module each, none of which is ever
downloaded:

  * 'digits' (`digits.py`): scikit-learn's bundled 8x8 handwritten digits,
    resized.
  * 'cifar10' (`cifar10.py`): CIFAR-10 in its python (pickle) or binary
    version, as the folder or the `.tar.gz` archive, read without extracting
    anything.
  * 'signs' (`signs.py`): the hand-signs `train_signs.h5` / `test_signs.h5`
    files.
  * 'folder' (`folder.py`): one sub-folder of JPEG/PNG files per class, decoded
    lazily in the tf.data pipeline.
  * 'tfrecord' (`tfrecord.py`): TFRecord shards in research/slim's format
    (`<name>_<split>_NNNNN-of-NNNNN.tfrecord`, `labels.txt`), read in
    parallel; `to_tfrecord.py` writes any of the others in that format.

Underneath them, `splits.py` holds `Split`, `ArraySplit`, `FileSplit`,
`DataSource` and the stratified splitting; `images.py` all image decoding and
pixel scaling, also for images from outside a dataset (`read_images` reads
files for prediction, `to_unit_range` scales uint8 arrays as the splits do);
`checks.py` the argument checks the sources share. Imports point one way:
to_tfrecord -> sources -> splits -> images, and sources -> checks.

Typical use:

  from resnet_v1_graph import data

  source = data.load('cifar10', path='~/datasets/cifar-10-python.tar.gz')
  with tf.Graph().as_default():
    dataset = source.train.as_dataset().shuffle(10000).batch(128)
    images, labels = tf.compat.v1.data.make_one_shot_iterator(
        dataset).get_next()
    ...

  images, labels = data.load_digits(image_size=32).test.arrays()
  images = data.read_images(['cat.png'], height=32, width=32, channels=3)
"""

from resnet_v1_graph.data.cifar10 import (
    CIFAR_BINARY_ARCHIVE, CIFAR_BINARY_FOLDER, CIFAR_BINARY_META_FILE,
    CIFAR_BINARY_TEST_FILE, CIFAR_BINARY_TRAIN_FILES, CIFAR_IMAGE_BYTES,
    CIFAR_IMAGE_SHAPE, CIFAR_NUM_TRAIN_BATCHES, CIFAR_PYTHON_ARCHIVE,
    CIFAR_PYTHON_FOLDER, CIFAR_PYTHON_META_FILE, CIFAR_PYTHON_TEST_FILE,
    CIFAR_PYTHON_TRAIN_FILES, CIFAR_RECORD_BYTES, load_cifar10)
# Private, but the unpickler's tests reach it here, as before the split.
from resnet_v1_graph.data.cifar10 import _CifarUnpickler
from resnet_v1_graph.data.digits import (
    DIGITS_MAX_VALUE, DIGITS_NUM_CLASSES, DIGITS_SOURCE_SIZE, load_digits)
from resnet_v1_graph.data.folder import (
    FOLDER_CHANNELS, FOLDER_IMAGE_EXTENSIONS, FOLDER_TEST_SUBDIR,
    FOLDER_TRAIN_SUBDIR, load_folder)
from resnet_v1_graph.data.images import UINT8_MAX, error_reason, read_images
from resnet_v1_graph.data.images import to_unit_range
from resnet_v1_graph.data.signs import (
    SIGNS_TEST_FILE, SIGNS_TRAIN_FILE, load_signs)
from resnet_v1_graph.data.splits import (
    MAX_EMBEDDED_ARRAY_BYTES, STREAM_CHUNK_EXAMPLES, ArraySplit, DataSource,
    FileSplit, Split)
from resnet_v1_graph.data.tfrecord import load_tfrecord
from resnet_v1_graph.data.to_tfrecord import write_tfrecord

_LOADERS = {
    'digits': load_digits,
    'cifar10': load_cifar10,
    'signs': load_signs,
    'folder': load_folder,
    'tfrecord': load_tfrecord,
}
DATASETS = tuple(_LOADERS)

__all__ = [
    'ArraySplit', 'DATASETS', 'DataSource', 'FileSplit', 'Split', 'UINT8_MAX',
    'load', 'load_cifar10', 'load_digits', 'load_folder', 'load_signs',
    'error_reason', 'load_tfrecord', 'read_images', 'to_unit_range',
    'write_tfrecord',
    # The constants each part reads, for callers that name files or sizes.
    'CIFAR_BINARY_ARCHIVE', 'CIFAR_BINARY_FOLDER', 'CIFAR_BINARY_META_FILE',
    'CIFAR_BINARY_TEST_FILE', 'CIFAR_BINARY_TRAIN_FILES', 'CIFAR_IMAGE_BYTES',
    'CIFAR_IMAGE_SHAPE', 'CIFAR_NUM_TRAIN_BATCHES', 'CIFAR_PYTHON_ARCHIVE',
    'CIFAR_PYTHON_FOLDER', 'CIFAR_PYTHON_META_FILE', 'CIFAR_PYTHON_TEST_FILE',
    'CIFAR_PYTHON_TRAIN_FILES', 'CIFAR_RECORD_BYTES', 'DIGITS_MAX_VALUE',
    'DIGITS_NUM_CLASSES', 'DIGITS_SOURCE_SIZE', 'FOLDER_CHANNELS',
    'FOLDER_IMAGE_EXTENSIONS', 'FOLDER_TEST_SUBDIR', 'FOLDER_TRAIN_SUBDIR',
    'MAX_EMBEDDED_ARRAY_BYTES', 'SIGNS_TEST_FILE', 'SIGNS_TRAIN_FILE',
    'STREAM_CHUNK_EXAMPLES',
]


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
