"""CIFAR-10 [1], read from the python or binary version, folder or archive.

Nothing is downloaded or extracted: archives are read in memory, one
sequential pass, and only the members CIFAR-10 has. The python version's
pickles go through `_CifarUnpickler`, which builds numpy arrays and nothing
else, so a tampered file cannot run code.

[1] A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images.
    Technical report, University of Toronto, 2009.

Typical use:

  from resnet_v1_graph import data

  source = data.load_cifar10('~/datasets/cifar-10-python.tar.gz')
  images, labels = source.test.arrays()   # float32 [10000, 32, 32, 3]
"""

import io
import os
import pickle
import tarfile

import numpy as np

from resnet_v1_graph.data import checks
from resnet_v1_graph.data import images as images_lib
from resnet_v1_graph.data import splits

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
  train, validation, _ = splits.split_arrays(
      train_images, train_labels, scale=images_lib.UINT8_MAX,
      validation_fraction=validation_fraction, test_fraction=0., seed=seed)
  test = splits.ArraySplit(*parse(files, test_name, num_classes),
                           scale=images_lib.UINT8_MAX)
  return splits.DataSource(
      name='cifar10', image_shape=CIFAR_IMAGE_SHAPE, num_classes=num_classes,
      class_names=class_names, train=train, validation=validation, test=test)


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
  path = checks.expand_path(path)
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
  checks.check_labels(labels, num_classes, 'cifar10: ' + name)
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
  checks.check_labels(labels, num_classes, 'cifar10: ' + name)
  return _channel_major_to_nhwc(records[:, 1:]), labels
