"""Image decoding and pixel scaling, the one place the project does either.

Every image leaves this module float32 in [0, 1]: decoded files through
`decode_image_file` (in a tf.data pipeline) or `read_images` (to numpy), uint8
pixels through `scale_batch` (tensors), `scale_array` or `to_unit_range`
(numpy). The tensor and numpy paths cast to float32 before dividing, so they
return identical values for the same pixels.

Typical use:

  from resnet_v1_graph import data

  images = data.read_images(['cat.jpg', 'dog.png'], height=32, width=32,
                            channels=3)          # float32 [2, 32, 32, 3]
  images = data.to_unit_range(uint8_images)     # float32, / 255
"""

import os

import numpy as np
import tensorflow as tf

UINT8_MAX = 255.
# The first bytes of the formats decode_image reads besides JPEG (which
# tf.io.is_jpeg tells): PNG, GIF, BMP, WebP (a RIFF container).
IMAGE_SIGNATURES = (b'\x89PNG\r\n\x1a\n', b'GIF8', b'BM', b'RIFF')
# How far outside [0, 1] resizing's rounding may put a float pixel.
UNIT_TOLERANCE = 1e-3


def decode_image_file(path, image_size, channels):
  """Reads, decodes and resizes one image file: the tf.data decode step.

  Args:
    path: String scalar tensor, a JPEG, PNG, GIF or BMP file (the first frame
      of an animation).
    image_size: (height, width) the image is resized to, bilinearly, or
      None to keep its stored size.
    channels: Channels the image is converted to: 1, 3 or 4.

  Returns:
    Float32 tensor `[height, width, channels]` in [0, 1].
  """
  # dtype=float32 scales 8- and 16-bit PNGs alike into [0, 1]; the channel
  # count makes the decoders convert grayscale, RGB and RGBA to `channels`.
  image = checked_decode(tf.io.read_file(path), channels, [path],
                         dtype=tf.float32)
  if image_size is None:
    return image
  image = tf.image.resize(image, image_size,
                          method=tf.image.ResizeMethod.BILINEAR)
  # Interpolation is a convex combination, but float rounding can still
  # land a hair outside [0, 1].
  return tf.clip_by_value(image, 0., 1.)


def checked_decode(encoded, channels, where, dtype=tf.uint8):
  """`tf.io.decode_image` after an assertion that names `where` when the
  bytes are no image at all (empty, text, another format).

  Args:
    encoded: String scalar tensor, the file's bytes.
    channels: Channels to convert to.
    where: A list of strings and tensors naming the image in the message
      (e.g. its path, or a shard and a record number).
    dtype: As `tf.io.decode_image`'s.
  """
  known = tf.reduce_any(tf.stack(
      [tf.io.is_jpeg(encoded)] +
      [tf.equal(tf.strings.substr(encoded, 0, len(signature)), signature)
       for signature in IMAGE_SIGNATURES]))
  checked = tf.debugging.Assert(known, [
      'the image is not a JPEG, PNG, GIF, BMP or WebP file (empty or '
      'damaged; load with skip_corrupt=True, --skip-corrupt, to skip such '
      'files):'] + list(where))
  with tf.control_dependencies([checked]):
    return tf.io.decode_image(encoded, channels=channels, dtype=dtype,
                              expand_animations=False)


def undecodable(paths, channels):
  """Indices of the files in `paths` that do not decode as images."""
  bad = []
  with tf.Graph().as_default() as graph:
    path = tf.compat.v1.placeholder(tf.string, [])
    decoded = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                 expand_animations=False)
    with tf.compat.v1.Session(graph=graph) as session:
      for index, file_path in enumerate(paths):
        try:
          session.run(decoded, {path: file_path})
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
          bad.append(index)
  return bad


def read_images(paths, height, width, channels):
  """Reads image files into memory, as `decode_image_file` decodes them.

  Runs in a private graph and session, so it works whether or not eager
  execution is on and adds nothing to the caller's default graph.

  Args:
    paths: Sequence of image file paths (JPEG, PNG, GIF or BMP).
    height: Height every image is resized to.
    width: Width every image is resized to.
    channels: Channels every image is converted to: 1, 3 or 4.

  Returns:
    Float32 array `[len(paths), height, width, channels]` in [0, 1].

  Raises:
    FileNotFoundError: If a path is not a file; nothing is read then.
    ValueError: If a file cannot be decoded as an image with `channels`
      channels (JPEG has no 4-channel form).
  """
  paths = [os.fspath(path) for path in paths]
  for path in paths:
    if not os.path.isfile(path):
      raise FileNotFoundError('image file %r does not exist' % (path,))
  images = np.zeros((len(paths), height, width, channels), np.float32)
  if not paths:
    return images
  with tf.Graph().as_default() as graph:
    path_feed = tf.compat.v1.placeholder(tf.string, [])
    image = decode_image_file(path_feed, (height, width), channels)
    with tf.compat.v1.Session(graph=graph) as session:
      for index, path in enumerate(paths):
        try:
          images[index] = session.run(image, {path_feed: path})
        except tf.errors.InvalidArgumentError as e:
          raise ValueError(
              'image file %r cannot be decoded as a %d-channel image: %s'
              % (path, channels, error_reason(e.message))) from e
  return images


def error_reason(message):
  """The op's own sentence in a TensorFlow error message.

  A graph-mode message is a preamble naming the node (and where it was
  defined), then the reason (e.g. "JPEG does not support 4 channels", "Read
  less bytes than requested"), then the node again in `[[...]]`, then
  perhaps the stack trace; other messages are the reason alone.
  """
  lines = [line.strip() for line in message.splitlines()]
  for index, line in enumerate(lines):
    if line.startswith('[['):
      before = [l for l in lines[:index] if l]
      if before:
        return before[-1]
  reasons = [line for line in lines if line]
  return reasons[0] if reasons else message


def scale_batch(images, scale):
  """Scales a tensor of pixels to [0, 1]: one vectorised op per batch.

  Args:
    images: Tensor `[..., height, width, channels]`, uint8 or float.
    scale: Pixel value that maps to 1.0, a Python number.

  Returns:
    Float32 tensor shaped like `images`.
  """
  return tf.cast(images, tf.float32) / scale


def scale_array(images, scale):
  """Numpy twin of `scale_batch`, returning identical values.

  Args:
    images: Array `[..., height, width, channels]`, uint8 or float. Not
      modified.
    scale: Pixel value that maps to 1.0.

  Returns:
    A new float32 array shaped like `images`.
  """
  return images.astype(np.float32) / np.float32(scale)


def to_unit_range(images):
  """Puts numpy images in [0, 1]: uint8 divided by `UINT8_MAX`, floats kept.

  Args:
    images: Array-like `[..., height, width, channels]`: uint8 pixels, or
      floats already in [0, 1]. Not modified.

  Returns:
    A new float32 array shaped like `images`; float input is only cast.

  Raises:
    ValueError: If float images hold NaN or infinite values, or values
      outside [0, 1] (pixels in 0..255 as floats give confident nonsense).
  """
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return scale_array(images, UINT8_MAX)
  images = images.astype(np.float32)
  if images.size:
    if not np.isfinite(images).all():
      raise ValueError('the images hold %d NaN or infinite values; give '
                       'finite pixels' % np.sum(~np.isfinite(images)))
    low, high = float(images.min()), float(images.max())
    if low < -UNIT_TOLERANCE or high > 1. + UNIT_TOLERANCE:
      raise ValueError(
          'float images must lie in [0, 1], as the model was trained on; '
          'got values in [%g, %g]. Give uint8 pixels (0..255) or divide '
          'by 255' % (low, high))
  return images


def resize_bilinear(images, height, width):
  """Resizes `[N, h, w]` images like `tf.image.resize(method='bilinear')`.

  Half-pixel centres and edge clamping, without antialiasing, in numpy, so
  it adds no ops to any graph.

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
