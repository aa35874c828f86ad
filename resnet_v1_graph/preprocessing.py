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

The input pipeline's preprocessing is named by `config.preprocessing_name`
(`PIPELINES`, after slim's `preprocessing_factory`). Each has a training and
an evaluation form, from images in [0, 1] (decoded at the data's size) to
network inputs of the same size:

| name | training | evaluation | inputs |
|---|---|---|---|
| none | as they are | as they are | [0, 1] |
| cifar | pad 4, random crop back, random flip (He et al. 2015, 4.2) | as they are | [0, 1] |
| inception | distorted box crop (at least 10% covered, aspect 3/4..4/3, area 5..100%), resize, flip, brightness/saturation/hue/contrast jitter | central crop of 87.5%, resize | [-1, 1] |
| vgg | resize the short side to a random length in [256, 512] x size/224, random crop, flip | resize the short side to 256 x size/224, central crop | 0..255 minus the ImageNet means |

slim applies the crops to the image as stored; here they apply to the
image as the data source decodes it (at `--image-size`).

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
# He et al. 2015: "4 pixels are padded on each side".
CIFAR_PAD = 4
# slim's inception_preprocessing: the distorted box and the colour jitter.
INCEPTION_MIN_COVERED = 0.1
INCEPTION_ASPECT_RATIOS = (0.75, 1.33)
INCEPTION_AREAS = (0.05, 1.0)
INCEPTION_ATTEMPTS = 100
INCEPTION_BRIGHTNESS = 32. / 255.
INCEPTION_SATURATION = (0.5, 1.5)
INCEPTION_HUE = 0.2
INCEPTION_CONTRAST = (0.5, 1.5)
INCEPTION_CENTRAL_FRACTION = 0.875
# slim's vgg_preprocessing: short sides for 224-pixel crops.
VGG_SIDE_MIN = 256
VGG_SIDE_MAX = 512
VGG_OUTPUT_SIZE = 224
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



def _with_batch(function):
  """Lets a function of one image [h, w, c] take a batch [n, h, w, c]."""
  def apply(images, *args):
    if images.shape.rank == 4:
      return tf.map_fn(lambda image: function(image, *args), images,
                       fn_output_signature=tf.float32)
    return function(images, *args)
  return apply


def _float(image):
  return tf.cast(image, tf.float32)


def _static_size(image):
  return image.shape[0], image.shape[1]


def _flip(image):
  return tf.image.random_flip_left_right(image)


def cifar_train(image):
  """Pad 4, random crop back to the image's size, random left-right flip.

  Args:
    image: Tensor [height, width, channels] (the padding is 0).

  Returns:
    float32, the same shape.
  """
  image = _float(image)
  padded = tf.pad(image, [[CIFAR_PAD, CIFAR_PAD], [CIFAR_PAD, CIFAR_PAD],
                          [0, 0]])
  cropped = tf.image.random_crop(padded, tf.shape(image))
  return tf.ensure_shape(_flip(cropped), image.shape)


def _to_inception_range(image):
  return image * 2. - 1.


def _jitter_colour(image):
  """slim's fast colour distortion: brightness, saturation, hue, contrast
  (saturation and hue only for RGB)."""
  image = tf.image.random_brightness(image, max_delta=INCEPTION_BRIGHTNESS)
  if image.shape[-1] == RGB_CHANNELS:
    image = tf.image.random_saturation(image, *INCEPTION_SATURATION)
    image = tf.image.random_hue(image, INCEPTION_HUE)
  image = tf.image.random_contrast(image, *INCEPTION_CONTRAST)
  return tf.clip_by_value(image, 0., 1.)


def inception_train(image):
  """A distorted box of the image, resized back, flipped, colour-jittered,
  in [-1, 1]."""
  image = _float(image)
  size = _static_size(image)
  begin, box_size, _ = tf.image.sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.constant([[[0., 0., 1., 1.]]]),
      min_object_covered=INCEPTION_MIN_COVERED,
      aspect_ratio_range=INCEPTION_ASPECT_RATIOS,
      area_range=INCEPTION_AREAS, max_attempts=INCEPTION_ATTEMPTS,
      use_image_if_no_bounding_boxes=True)
  box = tf.slice(image, begin, box_size)
  image = tf.image.resize(box, size, method=tf.image.ResizeMethod.BILINEAR)
  image = _jitter_colour(_flip(image))
  return tf.ensure_shape(_to_inception_range(image),
                         size + (image.shape[-1],))


def inception_eval(image):
  """The central 87.5% of the image, resized back, in [-1, 1]."""
  image = _float(image)
  size = _static_size(image)
  image = tf.image.central_crop(image, INCEPTION_CENTRAL_FRACTION)
  image = tf.image.resize(image, size, method=tf.image.ResizeMethod.BILINEAR)
  return _to_inception_range(image)


def _vgg_means(channels):
  means = np.asarray(VGG_MEANS_RGB, np.float32)
  # A grey image takes the mean of the three.
  return means if channels == RGB_CHANNELS else means.mean(keepdims=True)


def _resize_short_side(image, short_side):
  """Resizes so that the shorter side is `short_side`, keeping the aspect."""
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = tf.cast(short_side, tf.float32) / tf.reduce_min(shape)
  new_size = tf.cast(tf.round(shape * scale), tf.int32)
  return tf.image.resize(image, new_size,
                         method=tf.image.ResizeMethod.BILINEAR)


def vgg_side(size, side):
  """slim's side lengths (for 224 crops) scaled to `size`."""
  return max(size, int(round(side * size / VGG_OUTPUT_SIZE)))


def vgg_train(image):
  """Short side to a random length, random crop, flip, minus the means
  (on 0..255)."""
  image = _float(image)
  size = _static_size(image)
  side = tf.random.uniform([], vgg_side(min(size), VGG_SIDE_MIN),
                           vgg_side(min(size), VGG_SIDE_MAX) + 1, tf.int32)
  image = _resize_short_side(image, side)
  image = tf.image.random_crop(image, size + (image.shape[-1],))
  image = _flip(image) * PIXEL_MAX
  return image - _vgg_means(image.shape[-1])


def vgg_eval(image):
  """Short side to 256 x size / 224, central crop, minus the means."""
  image = _float(image)
  size = _static_size(image)
  resized = _resize_short_side(image, vgg_side(min(size), VGG_SIDE_MIN))
  shape = tf.shape(resized)
  top, left = (shape[0] - size[0]) // 2, (shape[1] - size[1]) // 2
  image = tf.slice(resized, [top, left, 0], [size[0], size[1], -1])
  image = tf.ensure_shape(image, size + (resized.shape[-1],)) * PIXEL_MAX
  return image - _vgg_means(image.shape[-1])


Pipeline = collections.namedtuple('Pipeline', ['train', 'eval'])
Pipeline.__doc__ = """A named preprocessing: per-image functions from
[height, width, channels] in [0, 1] to network inputs of that shape; `eval`
also takes a batch. None where the images pass as they are."""

PIPELINES = {
    'none': Pipeline(None, None),
    'cifar': Pipeline(cifar_train, None),
    'inception': Pipeline(inception_train, _with_batch(inception_eval)),
    'vgg': Pipeline(vgg_train, _with_batch(vgg_eval)),
}


def pipeline(name):
  """The `Pipeline` `config.preprocessing_name` names.

  Raises:
    ValueError: If `name` is unknown; the message lists the known ones.
  """
  if name not in PIPELINES:
    raise ValueError('unknown preprocessing_name %r; choose one of %s'
                     % (name, ', '.join(PIPELINES)))
  return PIPELINES[name]


def apply(function, images):
  """Runs a batch-capable `Pipeline.eval` on numpy images, in a private
  graph; the images as they are when `function` is None."""
  if function is None or not len(images):
    return images
  with tf.Graph().as_default() as graph:
    batch = tf.compat.v1.placeholder(tf.float32, images.shape)
    output = function(batch)
    with tf.compat.v1.Session(graph=graph) as session:
      return session.run(output, {batch: images})
