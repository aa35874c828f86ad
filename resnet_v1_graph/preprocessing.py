"""The input preprocessing each family's checkpoints were trained with.

Weights only give their accuracy on inputs prepared as in training, and the
ResNet families disagree:

| family | inputs | default size |
|---|---|---|
| `slim_v2` (slim's resnet_v2 checkpoints) | inception style: RGB scaled to [-1, 1] | 299 |
| `slim_v1` (slim's resnet_v1 checkpoints) | VGG style: RGB minus the ImageNet means (R 123.68, G 116.78, B 103.94) | 224 |
| `keras_v1` (Keras ResNet50/101/152) | caffe style: BGR minus the means (B 103.939, G 116.779, R 123.68) | 224 |
| `keras_v2` (Keras ResNet50V2/101V2/152V2) | RGB scaled to [-1, 1] | 224 |
| `resnet` (trained by this project's trainer) | RGB or grey scaled to [0, 1] | the training size |

Slim's ImageNet checkpoints have 1001 classes, class 0 being 'background':
their class k is class k - 1 of the 1000-class label sets (`label_offset`).

Family names are those `checkpoints.recognise` returns, so a checkpoint
tells its own preprocessing; a network name asks `nets.registry` which
preprocessing its weights expect:

  from resnet_v1_graph import checkpoints, preprocessing

  family = checkpoints.inspect('resnet_v2_50.ckpt').family
  images = preprocessing.preprocess(rgb_0_255, family)   # [-1, 1]
  labels = preprocessing.to_dataset_labels(predicted, family.num_classes)
"""

import collections

import numpy as np
import tensorflow as tf

from resnet_v1_graph.data import images as images_lib
from resnet_v1_graph.nets import registry

PIXEL_MAX = images_lib.UINT8_MAX
# x / 127.5 - 1 maps [0, 255] onto [-1, 1].
INCEPTION_HALF_RANGE = PIXEL_MAX / 2
VGG_MEANS_RGB = (123.68, 116.78, 103.94)
CAFFE_MEANS_BGR = (103.939, 116.779, 123.68)
SLIM_V1_IMAGE_SIZE = 224
SLIM_V2_IMAGE_SIZE = 299
KERAS_IMAGE_SIZE = 224
RGB_CHANNELS = 3
# Slim's ImageNet checkpoints put a 'background' class 0 before ImageNet's
# 1000 (`registry.IMAGENET_CLASSES_WITH_BACKGROUND`).
BACKGROUND_OFFSET = 1

Preprocessing = collections.namedtuple(
    'Preprocessing', ['family', 'image_size', 'normalize', 'description'])
Preprocessing.__doc__ = """How inputs of one family are prepared.

  family: The family name, as `checkpoints.recognise` gives it.
  image_size: The size the family's checkpoints were evaluated at (None
    where it is whatever the run trained at).
  normalize: A function from RGB images in [0, 255], float
    [..., height, width, 3] (a numpy array or a tensor), to network inputs.
  description: One line in words.
"""


def inception(images):
  """RGB in [0, 255] to [-1, 1], as slim's inception preprocessing."""
  return images / INCEPTION_HALF_RANGE - 1.0


def vgg(images):
  """RGB in [0, 255] minus slim's VGG means, still RGB."""
  return images - np.asarray(VGG_MEANS_RGB, np.float32)


def caffe(images):
  """RGB in [0, 255] to BGR minus the Caffe means, as Keras' ResNet50."""
  return images[..., ::-1] - np.asarray(CAFFE_MEANS_BGR, np.float32)


def unit_range(images):
  """[0, 255] to [0, 1], as this project's data loaders scale images."""
  return images / PIXEL_MAX


PREPROCESSING = {
    'slim_v1': Preprocessing('slim_v1', SLIM_V1_IMAGE_SIZE, vgg,
                             'VGG style: RGB minus the ImageNet means'),
    'slim_v2': Preprocessing('slim_v2', SLIM_V2_IMAGE_SIZE, inception,
                             'inception style: RGB scaled to [-1, 1]'),
    'keras_v1': Preprocessing('keras_v1', KERAS_IMAGE_SIZE, caffe,
                              'caffe style: BGR minus the ImageNet means'),
    'keras_v2': Preprocessing('keras_v2', KERAS_IMAGE_SIZE, inception,
                              'RGB scaled to [-1, 1]'),
    'resnet': Preprocessing('resnet', None, unit_range,
                            'scaled to [0, 1], as the trainer does'),
}


def for_family(family):
  """The `Preprocessing` of a family.

  Args:
    family: A family name (a key of `PREPROCESSING` or of
      `nets.registry.FAMILIES`), a `checkpoints.Family`, or a network name
      of `nets.registry` ('resnet_v2_50', 'cifar_resnet20', 'resnet').

  Raises:
    ValueError: If the family is unknown; the message lists the known ones.
  """
  kind = getattr(family, 'kind', family)
  if kind in registry.NETWORKS:
    kind = registry.get(kind).preprocessing
  elif kind in registry.FAMILIES:
    kind = registry.FAMILIES[kind].preprocessing
  if kind not in PREPROCESSING:
    raise ValueError('no preprocessing known for %r; choose one of %s' %
                     (family, ', '.join(sorted(PREPROCESSING))))
  return PREPROCESSING[kind]


def preprocess(images, family):
  """Prepares RGB images in [0, 255] for a family's network.

  Args:
    images: float or uint8 [..., height, width, 3], a numpy array or a
      tensor; never modified.
    family: See `for_family`.

  Returns:
    float32 network inputs of the same shape (a tensor for a tensor).

  Raises:
    ValueError: On an unknown family, or images that are not RGB for a
      family trained on RGB.
  """
  preprocessing = for_family(family)
  if tf.is_tensor(images):
    images = tf.cast(images, tf.float32)
  else:
    images = np.array(images, np.float32)
  channels = images.shape[-1]
  if preprocessing.family != 'resnet' and channels != RGB_CHANNELS:
    raise ValueError('%s inputs are RGB [..., height, width, 3], got shape '
                     '%s' % (preprocessing.family, images.shape))
  return preprocessing.normalize(images)


def label_offset(num_classes):
  """1 for slim's 1001-class checkpoints (class 0 is background), else 0."""
  return (BACKGROUND_OFFSET
          if num_classes == registry.IMAGENET_CLASSES_WITH_BACKGROUND else 0)


def to_dataset_labels(predictions, num_classes):
  """Model classes to 1000-class dataset labels (background becomes -1)."""
  return np.asarray(predictions) - label_offset(num_classes)


def to_model_labels(labels, num_classes):
  """1000-class dataset labels to the model's classes."""
  return np.asarray(labels) + label_offset(num_classes)
