"""The hand-signs dataset (SIGNS): 64x64 RGB photos of hands showing 0 to 5.

It ships as two HDF5 files, `train_signs.h5` and `test_signs.h5`, each with
uint8 images, integer labels and the class list; nothing is downloaded.

Typical use:

  from resnet_v1_graph import data

  source = data.load_signs('~/datasets/signs', validation_fraction=0.1)
"""

import os

import h5py
import numpy as np

from resnet_v1_graph.data import checks
from resnet_v1_graph.data import images as images_lib
from resnet_v1_graph.data import splits

SIGNS_TRAIN_FILE = 'train_signs.h5'
SIGNS_TEST_FILE = 'test_signs.h5'


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
  path = checks.expand_path(path)
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
  checks.check_labels(train_labels, num_classes, SIGNS_TRAIN_FILE)
  checks.check_labels(test_labels, num_classes, SIGNS_TEST_FILE)
  train, validation, _ = splits.split_arrays(
      train_images, train_labels, scale=images_lib.UINT8_MAX,
      validation_fraction=validation_fraction, test_fraction=0., seed=seed)
  test = splits.ArraySplit(test_images, test_labels,
                           scale=images_lib.UINT8_MAX)
  return splits.DataSource(
      name='signs', image_shape=train_images.shape[1:],
      num_classes=num_classes, class_names=train_classes, train=train,
      validation=validation, test=test)


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
