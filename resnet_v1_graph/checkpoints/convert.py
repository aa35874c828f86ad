"""Converting Keras applications' ResNet weights to checkpoints and back.

Two pairs of architectures hold the same weights under different names:

  * Keras ResNet50V2/101V2/152V2 and slim's `resnet_v2_50/101/152`: both
    stride in the last unit of a block and have biases exactly where the
    other has them (conv1, shortcuts, conv3, logits), so the 272 arrays of
    ResNet50V2 map one to one. Keras' `predictions` dense kernel
    [2048, classes] is slim's 1x1 `logits` convolution [1, 1, 2048, classes].
  * Keras ResNet50/101/152 and the classic `ResNet` class of depth 50/101/152
    (`nets.classic`): both stride in the first 1x1 convolution of a stack's
    first block, with biases in every convolution.

Slim's v1 generator strides in the 3x3 of a block's last unit, so no Keras
weights fit it. Which network has which twin is `nets.registry`'s to say
(`Network.keras_twin`); which weight becomes which variable,
`keras_names`'s (`weight_pairs`, re-exported here).

Same weights do not yet give the same outputs; two details differ:

  * padding: Keras zero-pads pool1's input by one pixel and pools 'VALID'
    where slim and the classic class pool 'SAME' (which pads at the end only,
    on even sizes, and with -inf); the classic class also pads its first 7x7/2
    convolution 'SAME' where Keras zero-pads 3 pixels and convolves 'VALID'
    (slim's `conv2d_same` already pads 3 and 3);
  * batch norm epsilon: Keras uses 1.001e-5, slim 1e-5 and the classic
    class 1e-3.

`keras_graph_options` gives the opt-in settings that close both gaps: slim's
`keras_padding=True` with `resnet_arg_scope(batch_norm_epsilon=1.001e-5)`, and
the classic class's `keras_compatible=True`. `tests/test_convert.py` measures
the agreement with and without them.

Slim's ResNet v2 ImageNet checkpoints have 1001 classes (class 0 is
background); Keras's, like slim's ResNet v1 ones (converted from Caffe), have
1000: `adapt_classes` drops or adds the background row.

Typical use:

  from resnet_v1_graph.checkpoints import convert

  convert.keras_to_checkpoint('resnet50v2.h5', 'out/resnet_v2_50.ckpt',
                              'resnet_v2_50', num_classes=1001)
  convert.checkpoint_to_keras('resnet_v2_50.ckpt', 'out/r50v2.weights.h5',
                              'resnet_v2_50', num_classes=1000)

or `resnet-tf1 convert SOURCE OUTPUT --model resnet_v2_50 --num-classes 1001`.
"""

import os

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph.checkpoints import family as family_lib
from resnet_v1_graph.checkpoints import keras_names
from resnet_v1_graph.checkpoints import reading
from resnet_v1_graph.checkpoints.keras_names import keras_application
from resnet_v1_graph.checkpoints.keras_names import keras_graph_options
from resnet_v1_graph.checkpoints.keras_names import Pair
from resnet_v1_graph.checkpoints.keras_names import weight_pairs
from resnet_v1_graph.nets import registry

# The background logit added for slim's class 0 has zero weights and this
# bias: e^-100 is below float32's smallest normal number, so it never wins
# and the other classes keep their probabilities.
BACKGROUND_BIAS = -100.0
KERAS_SUFFIX = '.weights.h5'

# The naming of `keras_names` is part of this module's interface.
__all__ = ['BACKGROUND_BIAS', 'KERAS_SUFFIX', 'Pair', 'adapt_classes',
           'checkpoint_to_keras', 'convert', 'keras_application',
           'keras_graph_options', 'keras_to_checkpoint', 'read_keras',
           'weight_pairs', 'write_checkpoint']


def adapt_classes(kernel, bias, num_classes):
  """Adds or drops slim's background class 0 of a classification layer.

  Args:
    kernel: Weights [..., classes] (Keras' dense or slim's 1x1 conv).
    bias: Biases [classes].
    num_classes: The classes wanted: the same (or None), or 1001 from 1000
      (a background class 0 with zero weights and `BACKGROUND_BIAS`) or 1000
      from 1001 (class 0 dropped).

  Returns:
    (kernel, bias) with `num_classes` classes; new arrays, inputs unchanged.

  Raises:
    ValueError: For any other change of class count.
  """
  classes = bias.shape[-1]
  if num_classes is None or num_classes == classes:
    return kernel.copy(), bias.copy()
  background = registry.IMAGENET_CLASSES_WITH_BACKGROUND
  imagenet = registry.IMAGENET_CLASSES
  if (classes, num_classes) == (background, imagenet):
    return kernel[..., 1:].copy(), bias[1:].copy()
  if (classes, num_classes) == (imagenet, background):
    zeros = np.zeros(kernel.shape[:-1] + (1,), kernel.dtype)
    return (np.concatenate([zeros, kernel], axis=-1),
            np.concatenate([np.full([1], BACKGROUND_BIAS, bias.dtype), bias]))
  raise ValueError(
      'cannot turn %d classes into %d: only %d <-> %d (slim\'s '
      'background class) is a conversion; for another task fine-tune with '
      'the head excluded' % (classes, num_classes, background, imagenet))


def _head(pairs):
  return [p for p in pairs
          if reading.is_head(p.keras) or reading.is_head(p.ours)]


def read_keras(path, model, depth=None):
  """{Keras weight name: array} of a Keras weights file for `model`.

  The legacy `.h5` format stores layer names and is read directly; Keras 3's
  `.weights.h5` names layers by class and position, so the application is
  built (weights=None) to load it and tell the names.

  Raises:
    FileNotFoundError: If there is no file at `path`.
    ValueError: If the file is not of `model`'s Keras counterpart.
  """
  path = str(path)
  if not os.path.isfile(path):
    raise FileNotFoundError('no Keras weights file at %s' % path)
  family = family_lib.recognise(reading.read_variables(path))
  network, depth, application = keras_names.twin(model, depth)
  expected = keras_names.KERAS_FAMILY_OF[network.family]
  if family is None or (family.kind, family.depth) != (expected, depth):
    raise ValueError('%s holds %s, not the weights of Keras %s' % (
        path, family_lib.describe_family(family), application))
  if not path.endswith(KERAS_SUFFIX):
    return reading.read_arrays(path)
  network = _build_keras(application, family.num_classes)
  network.load_weights(path)
  return {weight.path: weight.numpy() for weight in network.weights}


def _build_keras(application, num_classes):
  import keras  # Keras 3; only the .weights.h5 format needs it.
  return getattr(keras.applications, application)(
      weights=None, classes=num_classes, classifier_activation=None)


def _ours_from_keras(keras_arrays, pairs, num_classes):
  """{our name: array}, the head reshaped and its classes adapted."""
  arrays = {}
  for pair in pairs:
    if pair.keras not in keras_arrays:
      raise ValueError('the Keras weights lack %s' % pair.keras)
    arrays[pair.ours] = keras_arrays[pair.keras]
  head = _head(pairs)
  kernel, bias = (arrays[head[0].ours], arrays[head[1].ours])
  kernel, bias = adapt_classes(kernel, bias, num_classes)
  if head[0].ours.endswith('/weights'):  # Slim's logits are a 1x1 conv.
    kernel = kernel.reshape((1, 1) + kernel.shape)
  arrays[head[0].ours], arrays[head[1].ours] = kernel, bias
  return arrays


def check_new_output(path, force=False):
  """Refuses to replace what is saved at `path` unless `force`.

  `path` is a checkpoint prefix (its `.index` and `.data-*` files) or a
  file.

  Raises:
    FileExistsError: If something is saved there and `force` is False.
  """
  path = str(path)
  directory = os.path.dirname(path) or '.'
  taken = [path] if os.path.isfile(path) else []
  if os.path.isdir(directory):
    base = os.path.basename(path)
    taken += [os.path.join(directory, name)
              for name in sorted(os.listdir(directory))
              if name == base + '.index' or name.startswith(base + '.data-')]
  if taken and not force:
    raise FileExistsError(
        '%s exists (%s); give another output, or --force (force=True) to '
        'replace it' % (path, ', '.join(taken[:3])))


def write_checkpoint(arrays, prefix, force=False):
  """Writes {name: array} as a TensorFlow checkpoint at `prefix`.

  The directory's `checkpoint` state file is left as it is: writing next to
  a training run's checkpoints never changes which one is its latest.

  Returns:
    The checkpoint prefix.

  Raises:
    FileExistsError: If a checkpoint is at `prefix` and `force` is False.
  """
  check_new_output(prefix, force)
  graph = tf.Graph()
  with graph.as_default():
    feeds, variables = {}, {}
    for name, value in arrays.items():
      # Placeholders keep the arrays out of the GraphDef (and its 2 GB cap).
      initial = tf.placeholder(tf.as_dtype(value.dtype), value.shape)
      feeds[initial] = value
      variables[name] = tf.Variable(initial, name=name.replace('/', '_'))
    saver = tf.train.Saver(var_list=variables)
    with tf.Session() as session:
      session.run([v.initializer for v in variables.values()], feeds)
      directory = os.path.dirname(str(prefix))
      if directory:
        os.makedirs(directory, exist_ok=True)
      return saver.save(session, str(prefix), write_meta_graph=False,
                        write_state=False)


def keras_to_checkpoint(weights, prefix, model, depth=None, num_classes=None,
                        force=False):
  """Converts a Keras weights file into a checkpoint of `model`.

  Args:
    weights: A Keras `.h5` (legacy) or `.weights.h5` file of the application
      matching `model` (see `keras_application`).
    prefix: The checkpoint prefix to write.
    model: 'resnet_v2_50/101/152' or 'resnet' (with `depth`).
    depth: The depth of 'resnet'.
    num_classes: Classes of the checkpoint; 1001 adds slim's background
      class to Keras' 1000. Default: as the source.
    force: Replace a checkpoint already at `prefix`.

  Returns:
    The checkpoint prefix written.

  Raises:
    ValueError: If the weights are not of the matching application, or the
      class change is not 1000 <-> 1001.
    FileExistsError: If a checkpoint is at `prefix` and `force` is False.
  """
  check_new_output(prefix, force)
  pairs = weight_pairs(model, depth)
  arrays = _ours_from_keras(read_keras(weights, model, depth), pairs,
                            num_classes)
  return write_checkpoint(arrays, prefix, force=force)


def checkpoint_to_keras(checkpoint, path, model, depth=None,
                        num_classes=None, force=False):
  """Converts a checkpoint of `model` into a Keras 3 `.weights.h5` file.

  Args:
    checkpoint: A checkpoint prefix or directory of `model` (training state
      in it is ignored).
    path: The `.weights.h5` file to write; the matching application (built
      with `weights=None, classes=num_classes`) loads it.
    model: 'resnet_v2_50/101/152' or 'resnet' (with `depth`).
    depth: The depth of 'resnet'.
    num_classes: Classes of the Keras model; 1000 drops slim's background
      class. Default: as the checkpoint.
    force: Replace a file already at `path`.

  Returns:
    The path written.

  Raises:
    ValueError: If `path` does not end in .weights.h5, the checkpoint lacks
      a variable of `model`, or the class change is not 1001 <-> 1000.
    FileExistsError: If `path` exists and `force` is False.
  """
  if not str(path).endswith(KERAS_SUFFIX):
    raise ValueError('Keras 3 writes weights to files ending in %s, got %s' %
                     (KERAS_SUFFIX, path))
  check_new_output(path, force)
  checkpoint = reading.resolve_checkpoint(checkpoint)
  stored = reading.read_arrays(checkpoint)
  pairs = weight_pairs(model, depth)
  missing = [p.ours for p in pairs if p.ours not in stored]
  if missing:
    raise ValueError('checkpoint %s lacks %d variables of %s, e.g. %s; check '
                     'it with `resnet-tf1 checkpoint diff`' % (
                         checkpoint, len(missing), model, missing[:3]))
  keras_arrays = {p.keras: stored[p.ours] for p in pairs}
  head = _head(pairs)
  kernel = keras_arrays[head[0].keras]
  kernel = kernel.reshape(kernel.shape[-2:])  # A 1x1 conv or already 2-D.
  kernel, bias = adapt_classes(kernel, keras_arrays[head[1].keras],
                               num_classes)
  keras_arrays[head[0].keras], keras_arrays[head[1].keras] = kernel, bias
  network = _build_keras(keras_application(model, depth), bias.shape[-1])
  for weight in network.weights:
    weight.assign(keras_arrays[weight.path])
  directory = os.path.dirname(str(path))
  if directory:
    os.makedirs(directory, exist_ok=True)
  network.save_weights(str(path))
  return str(path)


def convert(source, output, model, depth=None, num_classes=None,
            force=False):
  """Keras weights -> checkpoint, or checkpoint -> Keras, by file type.

  Returns:
    What was written.

  Raises:
    FileExistsError: If `output` exists and `force` is False.
  """
  if reading.is_keras_weights(source):
    return keras_to_checkpoint(source, output, model, depth, num_classes,
                               force)
  return checkpoint_to_keras(source, output, model, depth, num_classes,
                             force)
