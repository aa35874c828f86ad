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
an evaluation form, from images in [0, 1] to network inputs of the run's
image size:

| name | training | evaluation | inputs |
|---|---|---|---|
| none | as they are | as they are | [0, 1] |
| cifar | pad 4, random crop back, random flip (He et al. 2015, 4.2) | as they are | [0, 1] |
| inception | distorted box crop (at least 10% covered, aspect 3/4..4/3, area 5..100%), resize, flip, brightness/saturation/hue/contrast jitter | central crop of 87.5%, resize | [-1, 1] |
| vgg | resize the short side to a random length in [256, 512] x size/224, random crop, flip | resize the short side to 256 x size/224, central crop | 0..255 minus the ImageNet means |
| r1 | official r1 ResNet's ImageNet training: the inception box crop and flip, resize, no colour jitter | as vgg | 0..255 minus the ImageNet means |

As in slim, the crops start from the image as stored: with a named
preprocessing, image files and TFRecord images are decoded at their stored
size and only the preprocessing brings them to the run's size. Arrays held
in memory (digits, CIFAR-10, signs) are stored at the size they were loaded
at.

When `train --init-from` starts from a checkpoint of a family whose weights
expect other inputs, the family's `pipeline` is the default (slim_v2 and
keras_v2: inception; slim_v1: vgg), said aloud; a named preprocessing, from
a flag, a config file or a recipe, wins.

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
    'Preprocessing',
    ['family', 'image_size', 'normalize', 'description', 'pipeline'])
Preprocessing.__doc__ = """How inputs of one family are prepared.

  family: The family name, as `checkpoints.recognise` gives it.
  image_size: The size the family's checkpoints were evaluated at (None
    where it is whatever the run trained at).
  normalize: A function from RGB images in [0, 255], float
    [..., height, width, 3] (a numpy array or a tensor), to network inputs.
  description: One line in words.
  pipeline: The `PIPELINES` name that gives this family's inputs when
    fine-tuning from its checkpoints, or None where none does.
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
                             'VGG style: RGB minus the ImageNet means',
                             'vgg'),
    'slim_v2': Preprocessing('slim_v2', SLIM_V2_IMAGE_SIZE, inception,
                             'inception style: RGB scaled to [-1, 1]',
                             'inception'),
    # No pipeline gives Caffe's BGR: fine-tuning these weights on [0, 1]
    # inputs relearns the first layer's colours.
    'keras_v1': Preprocessing('keras_v1', KERAS_IMAGE_SIZE, caffe,
                              'caffe style: BGR minus the ImageNet means',
                              None),
    'keras_v2': Preprocessing('keras_v2', KERAS_IMAGE_SIZE, inception,
                              'RGB scaled to [-1, 1]', 'inception'),
    'resnet': Preprocessing('resnet', None, unit_range,
                            'scaled to [0, 1], as the trainer does', None),
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
  def apply(images, size=None):
    if images.shape.rank == 4:
      size = _output_size(images[0], size)
      return tf.map_fn(lambda image: function(image, size), images,
                       fn_output_signature=tf.float32)
    return function(images, size)
  return apply


def _float(image):
  return tf.cast(image, tf.float32)


def _output_size(image, size):
  """`size` as a tuple, or the image's own (static) size when None."""
  if size is None:
    size = image.shape[0], image.shape[1]
    if None in size:
      raise ValueError('an image of unknown size %s needs the output size'
                       % (image.shape,))
  return tuple(int(side) for side in size)


def _resize(image, size):
  return tf.image.resize(image, size, method=tf.image.ResizeMethod.BILINEAR)


def _flip(image):
  return tf.image.random_flip_left_right(image)


def _distorted_box(image):
  """A random box of the image: at least 10% covered, aspect 3/4..4/3,
  5..100% of the area (slim's inception and official r1's training)."""
  begin, box_size, _ = tf.image.sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.constant([[[0., 0., 1., 1.]]]),
      min_object_covered=INCEPTION_MIN_COVERED,
      aspect_ratio_range=INCEPTION_ASPECT_RATIOS,
      area_range=INCEPTION_AREAS, max_attempts=INCEPTION_ATTEMPTS,
      use_image_if_no_bounding_boxes=True)
  # The box's size is drawn, so tf.slice leaves every dimension unknown;
  # the channels stay those of the image.
  return tf.ensure_shape(tf.slice(image, begin, box_size),
                         (None, None, image.shape[-1]))


def cifar_train(image, size=None):
  """Pad 4, random crop back, random left-right flip.

  Args:
    image: Tensor [height, width, channels] (the padding is 0).
    size: (height, width) of the output, or None for the image's own; an
      image of another size is resized to it first.

  Returns:
    float32 [size..., channels].
  """
  size = _output_size(image, size)
  image = _float(image)
  if tuple(image.shape[:2]) != size:
    image = _resize(image, size)
  padded = tf.pad(image, [[CIFAR_PAD, CIFAR_PAD], [CIFAR_PAD, CIFAR_PAD],
                          [0, 0]])
  cropped = tf.image.random_crop(padded, size + (image.shape[-1],))
  return tf.ensure_shape(_flip(cropped), size + (image.shape[-1],))


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


def inception_train(image, size=None):
  """A distorted box of the image resized to `size`, flipped,
  colour-jittered, in [-1, 1]."""
  size = _output_size(image, size)
  image = _resize(_distorted_box(_float(image)), size)
  image = _jitter_colour(_flip(image))
  return tf.ensure_shape(_to_inception_range(image),
                         size + (image.shape[-1],))


def inception_eval(image, size=None):
  """The central 87.5% of the image resized to `size`, in [-1, 1]."""
  size = _output_size(image, size)
  image = tf.image.central_crop(_float(image), INCEPTION_CENTRAL_FRACTION)
  return _to_inception_range(_resize(image, size))


def _minus_vgg_means(image):
  """[0, 1] to 0..255 minus the ImageNet means (a grey image takes the mean
  of the three)."""
  means = np.asarray(VGG_MEANS_RGB, np.float32)
  if image.shape[-1] not in (1, RGB_CHANNELS):
    raise ValueError('VGG means need 1 or 3 channels, got images of shape '
                     '%s' % (image.shape,))
  if image.shape[-1] == 1:
    means = means.mean(keepdims=True)
  return image * PIXEL_MAX - means


def _resize_short_side(image, short_side):
  """Resizes so that the shorter side is `short_side`, keeping the aspect."""
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = tf.cast(short_side, tf.float32) / tf.reduce_min(shape)
  return _resize(image, tf.cast(tf.round(shape * scale), tf.int32))


def _central_crop(image, size):
  shape = tf.shape(image)
  top, left = (shape[0] - size[0]) // 2, (shape[1] - size[1]) // 2
  image = tf.slice(image, [top, left, 0], [size[0], size[1], -1])
  return tf.ensure_shape(image, size + (image.shape[-1],))


def vgg_side(size, side):
  """slim's side lengths (for 224 crops) scaled to `size`."""
  return max(size, int(round(side * size / VGG_OUTPUT_SIZE)))


def vgg_train(image, size=None):
  """Short side to a random length, random crop of `size`, flip, minus the
  means (on 0..255)."""
  size = _output_size(image, size)
  side = tf.random.uniform([], vgg_side(min(size), VGG_SIDE_MIN),
                           vgg_side(min(size), VGG_SIDE_MAX) + 1, tf.int32)
  image = _resize_short_side(_float(image), side)
  image = tf.image.random_crop(image, size + (image.shape[-1],))
  return _minus_vgg_means(_flip(image))


def vgg_eval(image, size=None):
  """Short side to 256 x size / 224, central crop, minus the means.

  This is official r1's ImageNet evaluation too (short side 256, central
  224).
  """
  size = _output_size(image, size)
  image = _resize_short_side(_float(image), vgg_side(min(size),
                                                     VGG_SIDE_MIN))
  return _minus_vgg_means(_central_crop(image, size))


def r1_train(image, size=None):
  """official r1 ResNet's ImageNet training: a distorted box, flipped,
  resized to `size` (aspect not kept), minus the means; no colour
  jitter."""
  size = _output_size(image, size)
  image = _resize(_flip(_distorted_box(_float(image))), size)
  return tf.ensure_shape(_minus_vgg_means(image), size + (image.shape[-1],))


Pipeline = collections.namedtuple('Pipeline', ['train', 'eval'])
Pipeline.__doc__ = """A named preprocessing: per-image functions
`(image, size=None)` from [height, width, channels] in [0, 1], of any size,
to network inputs of `size` (default: the image's own); `eval` also takes a
batch. None where the images pass as they are."""

PIPELINES = {
    'none': Pipeline(None, None),
    'cifar': Pipeline(cifar_train, None),
    'inception': Pipeline(inception_train, _with_batch(inception_eval)),
    'vgg': Pipeline(vgg_train, _with_batch(vgg_eval)),
    'r1': Pipeline(r1_train, _with_batch(vgg_eval)),
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
