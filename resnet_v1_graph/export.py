"""Exporting a trained model for inference: SavedModel, frozen GraphDef and
ONNX.

All are written from a clean inference graph, not the training graph: an
`images` placeholder, the network with batch norm fixed in inference mode
(`is_training` is the Python constant False, so no switch on a placeholder
remains), and the outputs. No dataset iterator, loss, optimizer or global
step goes in; the variables are restored from a checkpoint of the run.

The names are the contract with serving code:

  * input `images`: float32 [batch, height, width, channels], prepared as in
    training (this project's trainer scales pixels to [0, 1]; see
    `preprocessing` for other families);
  * output `logits`: float32 [batch, num_classes];
  * output `probabilities`: float32 [batch, num_classes], softmax of logits;
  * output `classes`: int64 [batch], the most probable class.

In the frozen GraphDef they are node names (tensors `images:0`, ...); the
SavedModel's `serving_default` signature uses them as keys; the ONNX model
names its input and outputs `images:0`, `logits:0`, ... (tf2onnx keeps the
tensor names).

ONNX export converts the frozen graph with tf2onnx and checks the result
right after writing it: ONNX Runtime runs a batch of random images, and the
logits must agree with TensorFlow's within `ONNX_TOLERANCE` of their scale.
tf2onnx and onnxruntime are an optional extra: `pip install
'resnet-tf1[onnx]'`.

Typical use:

  from resnet_v1_graph import export
  from resnet_v1_graph.training import rundir

  cfg = rundir.RunDir.read_config('runs/m')
  export.export_run(cfg, saved_model='out/saved_model', frozen='out/frozen.pb',
                    onnx='out/model.onnx')

  # Serving, TF2 eager:
  serve = tf.saved_model.load('out/saved_model').signatures['serving_default']
  probabilities = serve(images=batch)['probabilities']
"""

import collections
import os
import shutil

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import data
from resnet_v1_graph import model as model_lib
from resnet_v1_graph import optimization
from resnet_v1_graph import preprocessing
from resnet_v1_graph.training import rundir
from resnet_v1_graph.training import session as session_lib

INPUT_NAME = 'images'
OUTPUT_NAMES = ('logits', 'probabilities', 'classes')
SIGNATURE_NAME = 'serving_default'
# The largest ONNX-vs-TensorFlow logit difference accepted, as a fraction of
# the largest logit's magnitude (float32 sums in another order).
ONNX_TOLERANCE = 1e-4
# The batch of random images the check runs.
ONNX_CHECK_BATCH = 4
ONNX_EXTRA_MESSAGE = ("ONNX export needs tf2onnx and onnxruntime: pip install "
                      "'resnet-tf1[onnx]' (or pip install tf2onnx "
                      "onnxruntime)")

InferenceGraph = collections.namedtuple(
    'InferenceGraph', ['graph', 'images', 'outputs', 'saver'])


def inference_graph(model):
  """Builds `model`'s network for inference in a graph of its own.

  Args:
    model: A `model.GraphModel`; only its `config` and `build_logits` are
      used.

  Returns:
    An `InferenceGraph(graph, images, outputs, saver)`: `images` the input
    placeholder, `outputs` a dict of the `OUTPUT_NAMES` tensors, `saver` a
    `tf.train.Saver` over the network's variables (restoring their moving
    averages when the config keeps them).
  """
  cfg = model.config
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(
        tf.float32, [None, cfg.height, cfg.width, cfg.channel],
        name=INPUT_NAME)
    # The exported model takes images as `predict` does, in [0, 1], and
    # prepares them as evaluation did.
    evaluate = preprocessing.pipeline(cfg.preprocessing_name).eval
    inputs = images if evaluate is None else evaluate(images)
    logits = tf.identity(model.build_logits(inputs, False), name='logits')
    outputs = {
        'logits': logits,
        'probabilities': tf.nn.softmax(logits, name='probabilities'),
        'classes': tf.argmax(logits, axis=1, name='classes'),
    }
    if cfg.moving_average_decay:
      # The averaged weights, restored into the network's variables as
      # slim's evaluation restores them.
      saver = tf.train.Saver(optimization.averaged_restore_map())
    else:
      saver = tf.train.Saver()
  return InferenceGraph(graph, images, outputs, saver)


def _check_new(saved_model=None, frozen=None, force=False, onnx=None):
  """Raises FileExistsError if an output exists, unless `force`."""
  for path, what in ((saved_model, 'SavedModel directory'),
                     (frozen, 'frozen GraphDef file'),
                     (onnx, 'ONNX file')):
    if path and os.path.exists(path) and not force:
      raise FileExistsError(
          '%s exists; give a new %s, or --force (force=True) to replace it'
          % (path, what))


def _replace(written, path):
  """Moves a finished output from `written` to `path`; only then is what
  was at `path` removed."""
  if os.path.isdir(path):
    shutil.rmtree(path)
  os.replace(written, path)


def write_saved_model(session, inference, path, force=False):
  """Writes a SavedModel with the `serving_default` signature.

  Raises:
    FileExistsError: If `path` exists and `force` is False.
  """
  _check_new(saved_model=path, force=force)
  partial = path.rstrip(os.sep) + '.partial'
  if os.path.isdir(partial):
    shutil.rmtree(partial)  # Left by an export that was stopped.
  with inference.graph.as_default():
    builder = tf.saved_model.Builder(partial)
    signature = tf.saved_model.predict_signature_def(
        inputs={INPUT_NAME: inference.images}, outputs=inference.outputs)
    builder.add_meta_graph_and_variables(
        session, [tf.saved_model.SERVING],
        signature_def_map={SIGNATURE_NAME: signature},
        strip_default_attrs=True)
    builder.save()
  _replace(partial, path)
  return path


def write_frozen(session, inference, path, force=False):
  """Writes the inference graph with variables folded into constants.

  Returns:
    The path; the GraphDef's input node is `INPUT_NAME`, its outputs
    `OUTPUT_NAMES`.

  Raises:
    FileExistsError: If `path` exists and `force` is False.
  """
  _check_new(frozen=path, force=force)
  _write_file(path, _frozen_graph_def(session, inference).SerializeToString())
  return path


def _frozen_graph_def(session, inference):
  return tf.graph_util.convert_variables_to_constants(
      session, inference.graph.as_graph_def(), list(OUTPUT_NAMES))


def _write_file(path, contents):
  """Writes `contents` under a temporary name, then renames it to `path`."""
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  partial = path + '.partial'
  with open(partial, 'wb') as f:
    f.write(contents)
  _replace(partial, path)


def onnx_modules():
  """(tf2onnx, onnxruntime), imported.

  Raises:
    ImportError: If either is missing; the message says what to install.
  """
  try:  # The optional [onnx] extra: imported only when ONNX is asked for.
    import onnxruntime
    import tf2onnx
  except ImportError as error:
    raise ImportError('%s (%s)' % (ONNX_EXTRA_MESSAGE, error)) from None
  return tf2onnx, onnxruntime


def to_onnx(graph_def, input_name, output_names):
  """An ONNX model of a frozen graph, converted by tf2onnx.

  Args:
    graph_def: A `tf.GraphDef` whose variables are constants.
    input_name: The input placeholder's op name.
    output_names: The output ops' names.

  Returns:
    The serialized ONNX model (bytes); its inputs and outputs keep the
    graph's tensor names ('images:0', 'logits:0', ...).

  Raises:
    ImportError: Without tf2onnx and onnxruntime; the message says what to
      install.
  """
  tf2onnx, _ = onnx_modules()
  model, _ = tf2onnx.convert.from_graph_def(
      graph_def, input_names=[input_name + ':0'],
      output_names=[name + ':0' for name in output_names])
  return model.SerializeToString()


def onnx_session(model, threads=0):
  """An ONNX Runtime session on the CPU.

  Args:
    model: An `.onnx` path or a serialized model.
    threads: Intra-op threads; 0 keeps ONNX Runtime's default (one per
      physical core).
  """
  _, onnxruntime = onnx_modules()
  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = threads
  return onnxruntime.InferenceSession(model, options,
                                      providers=['CPUExecutionProvider'])


def write_onnx(session, inference, path, force=False):
  """Converts the inference graph to ONNX, writes it, and checks it.

  Returns:
    (path, the largest logit difference from TensorFlow on the check batch,
    the largest logit's magnitude).

  Raises:
    ImportError: Without tf2onnx and onnxruntime; the message says what to
      install.
    FileExistsError: If `path` exists and `force` is False.
    ValueError: If ONNX Runtime's logits differ from TensorFlow's by more
      than `ONNX_TOLERANCE` of their scale; nothing is written.
  """
  onnx_modules()
  _check_new(onnx=path, force=force)
  contents = to_onnx(_frozen_graph_def(session, inference), INPUT_NAME,
                     OUTPUT_NAMES)
  images = np.random.default_rng(0).random(
      [ONNX_CHECK_BATCH] + inference.images.shape.as_list()[1:],
      dtype=np.float32)
  expected = session.run(inference.outputs['logits'],
                         {inference.images: images})
  got, = onnx_session(contents).run(['logits:0'], {INPUT_NAME + ':0': images})
  scale = float(np.abs(expected).max())
  gap = float(np.abs(got - expected).max())
  if gap > ONNX_TOLERANCE * max(scale, 1.):
    raise ValueError(
        'the ONNX model\'s logits differ from TensorFlow\'s by up to %g '
        '(scale %g, tolerance %g of it); %s was not written'
        % (gap, scale, ONNX_TOLERANCE, path))
  _write_file(path, contents)
  return path, gap, scale


class OnnxPredictor:
  """A training run's network in ONNX Runtime, with the classifier's
  `predict_proba` and `predict`.

  The checkpoint is exported (and checked, see `write_onnx`) once, to
  `RunDir.onnx_path`, and exported again when the checkpoint is newer than
  that file.

  Args:
    cfg: The run's `config.Config`.
    checkpoint: A checkpoint prefix (one with the network's weights alone
      does); default the best of the run, else the latest.

  Raises:
    ImportError: Without tf2onnx and onnxruntime.
    FileNotFoundError: If the run has no checkpoint.
  """

  def __init__(self, cfg, checkpoint=None):
    onnx_modules()
    run = rundir.RunDir.from_config(cfg)
    if checkpoint is None:
      checkpoint = run.best_or_latest_checkpoint()
      if checkpoint is None:
        raise FileNotFoundError('no checkpoint in %s; train first' %
                                cfg.model_path)
    checkpoint = checkpoints.resolve_checkpoint(checkpoint)
    self.path = run.onnx_path(checkpoint)
    if (not os.path.exists(self.path) or os.path.getmtime(self.path) <
        os.path.getmtime(checkpoint + '.index')):
      export(model_lib.GraphModel(cfg), checkpoint, onnx=self.path,
             force=True)
    self.config = cfg
    self.checkpoint = checkpoint
    self._session = onnx_session(self.path)

  def predict_proba(self, images):
    """Class probabilities [N, num_classes] of uint8 or [0, 1] images."""
    cfg = self.config
    images = data.to_unit_range(images)
    if images.ndim == 3:
      images = images[None]
    expected = (cfg.height, cfg.width, cfg.channel)
    if images.ndim != 4 or images.shape[1:] != expected:
      raise ValueError('images must be [N, %d, %d, %d], got shape %s'
                       % (expected + (images.shape,)))
    probabilities, = self._session.run(['probabilities:0'],
                                       {INPUT_NAME + ':0': images})
    return probabilities

  def predict(self, images):
    """One label per image, int64 [N]."""
    return np.argmax(self.predict_proba(images), axis=1).astype(np.int64)


def run_onnx(path, images, output='probabilities'):
  """Runs an ONNX model that `write_onnx` wrote, with ONNX Runtime.

  Args:
    path: The `.onnx` file.
    images: float32 `[N, height, width, channels]`.
    output: One of `OUTPUT_NAMES`.

  Returns:
    The output as a numpy array.
  """
  result, = onnx_session(path).run([output + ':0'],
                        {INPUT_NAME + ':0': np.asarray(images, np.float32)})
  return result


def export(model, checkpoint, saved_model=None, frozen=None, force=False,
           onnx=None):
  """Exports `model` with the weights of `checkpoint`.

  Args:
    model: A `model.GraphModel` (its training graph is not used).
    checkpoint: A checkpoint prefix of that model.
    saved_model: A SavedModel directory to create, or None.
    frozen: A frozen GraphDef file to write, or None.
    force: Replace outputs that exist.
    onnx: An ONNX file to write (and check), or None.

  Returns:
    A dict of what was written: `checkpoint`, and the `saved_model`,
    `frozen` and `onnx` paths asked for; with `onnx`, also `onnx_gap` and
    `onnx_scale` (see `write_onnx`).

  Raises:
    checkpoints.CheckpointMismatchError: If the checkpoint does not fit.
    FileExistsError: If an output exists and `force` is False.
    ImportError: For `onnx` without tf2onnx and onnxruntime.
  """
  _check_new(saved_model, frozen, force, onnx)
  if onnx:
    onnx_modules()  # Before any work: say what to install.
  inference = inference_graph(model)
  checkpoints.check(checkpoint, inference.graph.get_collection(
      tf.GraphKeys.GLOBAL_VARIABLES))
  written = {'checkpoint': checkpoint}
  with session_lib.open_session(inference.graph, model.config) as session:
    inference.saver.restore(session, checkpoint)
    if saved_model:
      written['saved_model'] = write_saved_model(session, inference,
                                                 saved_model, force)
    if frozen:
      written['frozen'] = write_frozen(session, inference, frozen, force)
    if onnx:
      written['onnx'], written['onnx_gap'], written['onnx_scale'] = (
          write_onnx(session, inference, onnx, force))
  return written


def export_run(cfg, checkpoint=None, saved_model=None, frozen=None,
               force=False, onnx=None):
  """Exports a training run: the model `cfg` describes, its best checkpoint.

  Args:
    cfg: The run's `config.Config` (`RunDir.read_config(model_path)`); its
      `model` names the network and its `model_path` holds the checkpoints.
    checkpoint: A checkpoint prefix; default the best of the run, else the
      latest.
    saved_model, frozen, force, onnx: As in `export`.

  Returns:
    As `export`.

  Raises:
    FileNotFoundError: If the run has no checkpoint.
    FileExistsError: If an output exists and `force` is False.
  """
  _check_new(saved_model, frozen, force, onnx)
  if checkpoint is None:
    checkpoint = rundir.RunDir.from_config(cfg).best_or_latest_checkpoint()
    if checkpoint is None:
      raise FileNotFoundError('no checkpoint in %s; train first' %
                              cfg.model_path)
  return export(model_lib.GraphModel(cfg), checkpoint,
                saved_model=saved_model, frozen=frozen, force=force,
                onnx=onnx)


def format_written(written):
  """What `export` wrote, with the node names serving code needs."""
  lines = ['exported %s' % written['checkpoint']]
  if 'saved_model' in written:
    lines.append('  SavedModel: %s (signature %s: %s -> %s)' % (
        written['saved_model'], SIGNATURE_NAME, INPUT_NAME,
        ', '.join(OUTPUT_NAMES)))
  if 'frozen' in written:
    lines.append('  frozen GraphDef: %s (input node %s, output nodes %s)' % (
        written['frozen'], INPUT_NAME, ', '.join(OUTPUT_NAMES)))
  if 'onnx' in written:
    lines.append('  ONNX: %s (checked with ONNX Runtime: logits within %.2g '
                 'of TensorFlow\'s, scale %.3g)' % (
                     written['onnx'], written['onnx_gap'],
                     written['onnx_scale']))
  return '\n'.join(lines)


def run_frozen(path, images, output='probabilities'):
  """Runs a frozen GraphDef that `write_frozen` wrote, in a graph of its own.

  Args:
    path: The `.pb` file.
    images: float32 `[N, height, width, channels]`, fed to `INPUT_NAME`.
    output: One of `OUTPUT_NAMES`.

  Returns:
    The output as a numpy array.
  """
  graph_def = tf.GraphDef()
  with open(path, 'rb') as frozen_file:
    graph_def.ParseFromString(frozen_file.read())
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name='')
    with tf.Session(graph=graph) as session:
      return session.run(output + ':0', {INPUT_NAME + ':0': images})
