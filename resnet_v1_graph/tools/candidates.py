"""What the benchmark measures, each ready to time.

  * ours: networks of `nets.registry` by a short name (`OUR_NETWORKS`), as
    builders `(images, is_training) -> logits` for `timing.graph_steps`;
  * tf-slim's reference nets (`tools.references`), when tf-keras is there;
  * Keras 3 applications, the twins of ours (`keras_steps`);
  * the classic class's training step fed by its own tf.data pipeline and by
    one batch in the graph (`pipeline_steps`);
  * serving paths for each of ours: the frozen inference graph in TensorFlow
    and the same weights converted to ONNX and run by ONNX Runtime
    (`serving_steps`), when tf2onnx and onnxruntime are installed.

Each network comes with the Keras application of its family, which pairs it
with its competitors in the benchmark's ratios.

Typical use:

  from resnet_v1_graph.tools import candidates, timing

  label, build, family = candidates.our_networks()['resnet_v2_50']
  steps, close = timing.graph_steps(build, 224, 16, 'fp32', threads=0)
"""

import functools
import importlib
import os

import numpy as np
import tensorflow as tf2
import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import export
from resnet_v1_graph import model as model_lib
from resnet_v1_graph.nets import registry
from resnet_v1_graph.tools import references
from resnet_v1_graph.tools import timing
from resnet_v1_graph.training import session as session_lib

# Our measured networks: short name -> (label, registry name, depth). The
# depth is the classic class's, which the registry leaves to the config.
OUR_NETWORKS = {
    'resnet50': ('resnet_v1_graph ResNet-50', registry.CLASSIC, 50),
    'resnet_v2_50': ('resnet_v2_slim resnet_v2_50', 'resnet_v2_50', None),
    'resnet_v2_152': ('resnet_v2_slim resnet_v2_152', 'resnet_v2_152', None),
}
# tf-slim's reference nets, each timed beside the network of ours (a key of
# `OUR_NETWORKS`) whose family it shares.
REFERENCES = (
    ('resnet_v1_50', 'resnet50'),
    ('resnet_v2_50', 'resnet_v2_50'),
)


def network_builder(name, depth=None):
  """`(images, is_training) -> logits [batch, NUM_CLASSES]` of a registry net.

  Args:
    name: A `nets.registry` name.
    depth: The classic class's depth; None for networks with their own.
  """
  settings = {} if depth is None else {'depth': depth}
  return functools.partial(registry.get(name).logits_fn,
                           num_classes=timing.NUM_CLASSES, **settings)


def our_networks():
  """Our measured networks: short name -> (label, builder, Keras family)."""
  return {short: (label, network_builder(name, depth),
                  registry.get(name).keras_twin(depth))
          for short, (label, name, depth) in OUR_NETWORKS.items()}


def _reference_builder(module, name):
  """`(images, is_training) -> logits` of a tf-slim reference net."""

  def build(images, is_training):
    with tf_slim.arg_scope(module.resnet_arg_scope()):
      logits, _ = getattr(module, name)(images, timing.NUM_CLASSES,
                                        is_training=is_training)
    return tf.reshape(logits, [-1, timing.NUM_CLASSES])
  return build


def reference_networks():
  """tf-slim's own nets: [(label, builder, Keras family)], or None.

  None when they cannot build: without tf-keras, or without
  `TF_USE_LEGACY_KERAS=1` set before TensorFlow loaded.
  """
  if os.environ.get('TF_USE_LEGACY_KERAS') != '1':
    return None
  try:
    _, reference_v1, reference_v2 = references.slim_nets()
  except ImportError:
    return None
  modules = {'v1': reference_v1, 'v2': reference_v2}
  ours = our_networks()
  return [('tf-slim %s (reference)' % name,
           _reference_builder(modules[name.split('_')[1]], name),
           ours[twin][2])
          for name, twin in REFERENCES]


def keras_steps(name, jit, size, batch):
  """A Keras 3 application's steps: ({metric: step}, close).

  `train_on_batch` and `predict_on_batch` on fixed arrays; the global
  mixed-precision policy must be set before (see `benchmark.run`).
  """
  keras = importlib.import_module('keras')
  rng = np.random.RandomState(0)
  x = rng.uniform(size=(batch, size, size, 3)).astype(np.float32)
  y = rng.randint(0, timing.NUM_CLASSES, batch)
  x32 = np.resize(x, (timing.INFERENCE_BATCH, size, size, 3))
  keras.utils.set_random_seed(0)
  model = getattr(keras.applications, name)(
      weights=None, input_shape=(size, size, 3), classes=timing.NUM_CLASSES)
  model.compile(optimizer=keras.optimizers.Adam(1e-4),
                loss='sparse_categorical_crossentropy', jit_compile=jit)
  return {'train': lambda: model.train_on_batch(x, y),
          'latency': lambda: model.predict_on_batch(x[:1]),
          'infer': lambda: model.predict_on_batch(x32)}, lambda: None


def pipeline_steps(size, batch, precision, threads, depth=50,
                   examples=512):
  """The classic class's training step fed two ways: ({metric: step}, close).

  'real' is the trainer's path: uint8 images in memory -> `data.ArraySplit`
  -> tf.data (scale, shuffle, batch, prefetch) -> the `input_x`
  placeholder's default. 'synthetic' is the same graph fed one batch
  repeated from a tensor.
  """
  rng = np.random.RandomState(0)
  split = data.ArraySplit(
      rng.randint(0, 256, (examples, size, size, 3)).astype(np.uint8),
      rng.randint(0, timing.NUM_CLASSES, examples), scale=data.UINT8_MAX)
  cfg = config_lib.DEFAULTS.replace(
      model=registry.CLASSIC, depth=depth, height=size, width=size, channel=3,
      num_classes=timing.NUM_CLASSES, batch_size=batch, precision=precision,
      intra_op_threads=threads, verbose=False)
  steps, closers = {}, []
  for metric in ('real', 'synthetic'):
    net = model_lib.GraphModel(cfg)
    with net.graph.as_default():
      if metric == 'real':
        dataset = split.batched(batch, shuffle_buffer=examples).repeat()
      else:
        images, labels = split.arrays()
        dataset = tf2.data.Dataset.from_tensors(
            (images[:batch], labels[:batch])).repeat()
      handle = tf.data.make_one_shot_iterator(dataset).string_handle()
      init = tf.global_variables_initializer()
    sess = session_lib.open_session(net.graph, net.config)
    sess.run(init)
    feed = {net.dataset_handle: sess.run(handle), net.is_training: True}
    steps[metric] = functools.partial(sess.run, net.optimize, feed)
    closers.append(sess.close)
  return steps, lambda: [close() for close in closers]


# The kinds of the serving rows, beside `report.OURS`, 'reference', 'keras'.
FROZEN = 'frozen'
ONNXRUNTIME = 'onnxruntime'
SERVING_KINDS = (FROZEN, ONNXRUNTIME)


def serving_steps(build_logits, size, threads):
  """One network's inference as it would be served: ({kind: ({metric:
  step}, close)}) for `FROZEN` (the frozen graph in a TensorFlow session)
  and `ONNXRUNTIME` (that graph converted by tf2onnx).

  Both run the same random weights on the same fed arrays: 'latency' at
  batch 1 and 'infer' at batch `timing.INFERENCE_BATCH`, in float32.

  Raises:
    ImportError: Without tf2onnx and onnxruntime.
  """
  export.onnx_modules()
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [None, size, size, 3],
                            name=export.INPUT_NAME)
    tf.nn.softmax(build_logits(images, False), name='probabilities')
    with session_lib.open_session(
        graph, timing.run_config('fp32', threads)) as sess:
      sess.run(tf.global_variables_initializer())
      frozen = tf.graph_util.convert_variables_to_constants(
          sess, graph.as_graph_def(), ['probabilities'])
  rng = np.random.RandomState(0)
  batches = {'latency': rng.uniform(size=(1, size, size, 3)),
             'infer': rng.uniform(size=(timing.INFERENCE_BATCH, size, size,
                                        3))}
  batches = {metric: x.astype(np.float32) for metric, x in batches.items()}
  runtime = export.onnx_session(
      export.to_onnx(frozen, export.INPUT_NAME, ['probabilities']), threads)
  serving = tf.Graph()
  with serving.as_default():
    tf.import_graph_def(frozen, name='')
  sess = session_lib.open_session(serving, timing.run_config('fp32', threads))
  fetch = serving.get_tensor_by_name('probabilities:0')
  feed = serving.get_tensor_by_name(export.INPUT_NAME + ':0')
  return {
      FROZEN: ({metric: functools.partial(sess.run, fetch, {feed: x})
                for metric, x in batches.items()}, sess.close),
      ONNXRUNTIME: ({metric: functools.partial(
          runtime.run, ['probabilities:0'], {export.INPUT_NAME + ':0': x})
                     for metric, x in batches.items()}, lambda: None),
  }
