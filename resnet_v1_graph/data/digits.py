"""scikit-learn's bundled handwritten digits, resized: no download, no files.

The 1797 8x8 images of the UCI optical recognition of handwritten digits
set [1], values 0..16, ten classes.

[1] E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten Digits. UCI
    Machine Learning Repository, 1998.

Typical use:

  from resnet_v1_graph import data

  source = data.load_digits(image_size=32)
  images, labels = source.test.arrays()   # float32 [N, 32, 32, 1], int64 [N]
"""

import numpy as np
import sklearn.datasets

from resnet_v1_graph.data import checks
from resnet_v1_graph.data import images as images_lib
from resnet_v1_graph.data import splits

DIGITS_SOURCE_SIZE = 8
DIGITS_MAX_VALUE = 16.
DIGITS_NUM_CLASSES = 10


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
  image_size = checks.positive_int(image_size, 'image_size')
  digits = sklearn.datasets.load_digits()
  images = digits.images / DIGITS_MAX_VALUE
  images = images_lib.resize_bilinear(images, image_size, image_size)
  images = images[..., np.newaxis].astype(np.float32)
  labels = digits.target.astype(np.int64)
  class_names = [str(i) for i in range(DIGITS_NUM_CLASSES)]
  train, validation, test = splits.split_arrays(
      images, labels, scale=1., validation_fraction=validation_fraction,
      test_fraction=test_fraction, seed=seed)
  return splits.DataSource(
      name='digits', image_shape=(image_size, image_size, 1),
      num_classes=DIGITS_NUM_CLASSES, class_names=class_names, train=train,
      validation=validation, test=test)
