"""Timing graph steps fairly: round-robin rounds, the matmul peak, FLOPs.

A step is a function that runs one `session.run` (or one Keras call); the
benchmark gathers {metric: step} sets and times them all together with
`interleaved_medians`. The graphs here hold their data as variables, so a
step measures the network and not an input pipeline. Every session comes from
`training.session`, with the settings of `run_config`.

Typical use:

  from resnet_v1_graph.tools import timing

  steps, close = timing.graph_steps(build_logits, 224, 16, 'fp32', threads=0)
  (medians,) = timing.interleaved_medians([steps], warmup=2, repeats=5)
  close()
"""

import functools
import statistics
import time

import tensorflow.compat.v1 as tf
import tqdm

from resnet_v1_graph import config as config_lib
from resnet_v1_graph.training import session as session_lib

MATMUL_SIZE = 4096
INFERENCE_BATCH = 32
# ImageNet's classes: the width of every measured network's logits.
NUM_CLASSES = 1000


def run_config(precision, threads, xla=False):
  """The `config.Config` whose session settings a measured graph runs with.

  Args:
    precision: 'fp32' or 'bf16' (see `training.session.session_config`).
    threads: Intra-op threads, with one inter-op thread so that ops run one
      at a time; 0 keeps TensorFlow's defaults for both.
    xla: Global XLA JIT.
  """
  return config_lib.DEFAULTS.replace(
      precision=precision, intra_op_threads=threads,
      inter_op_threads=threads and 1, xla=xla)


def open_step(graph, target, precision, threads, xla=False):
  """A session on `graph` with its variables initialized: (step, close).

  `step()` runs `target` once; `close()` closes the session.
  """
  with graph.as_default():
    init = tf.global_variables_initializer()
  sess = session_lib.open_session(graph, run_config(precision, threads, xla))
  sess.run(init)
  return functools.partial(sess.run, target), sess.close


def matmul_step(precision, threads):
  """One 4096x4096 matmul in a graph session: (step, close).

  For 'bf16' the matmul casts to bfloat16 itself, in a session without the
  mixed-precision rewrite.
  """
  graph = tf.Graph()
  dtype = tf.bfloat16 if precision == 'bf16' else tf.float32
  with graph.as_default():
    a = tf.Variable(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE]))
    b = tf.Variable(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE]))
    product = tf.reduce_sum(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype)))
  return open_step(graph, product, 'fp32', threads)


def gflops_of_matmul(seconds):
  """GFLOP/s of one `matmul_step` that took `seconds`."""
  return 2.0 * MATMUL_SIZE ** 3 / seconds / 1e9


def matmul_peak(precision, repeats, threads=0):
  """GFLOP/s of a 4096x4096 matmul in a graph session."""
  step, close = matmul_step(precision, threads)
  try:
    (medians,) = interleaved_medians([{'matmul': step}], 2, repeats, settle=0)
  finally:
    close()
  return gflops_of_matmul(medians['matmul'])


def interleaved_times(step_sets, warmup, repeats, settle=1, progress=False):
  """Seconds of every step, measured round-robin.

  `step_sets` is a list of {metric: step function}. After `warmup` calls of
  each, every round times every step of every set once, so a change in the
  machine's speed during the run (other tenants, clocks) hits all
  candidates alike instead of whichever happened to run then. Each timed
  call follows `settle` untimed ones of the same step: a dozen ResNets
  evict each other's oneDNN kernels from TensorFlow's primitive cache (1024
  entries) and their weights from the CPU caches, and a step should find
  its own as it would in a training loop.

  With `progress`, a tqdm bar (on stderr) counts the calls.

  Returns:
    A list parallel to `step_sets` of {metric: [seconds of each round]}.
  """
  calls = sum(len(steps) for steps in step_sets)
  with tqdm.tqdm(total=calls * (warmup + repeats * (settle + 1)),
                 desc='timing', unit='step', disable=not progress) as bar:
    for steps in step_sets:
      for step in steps.values():
        for _ in range(warmup):
          step()
          bar.update()
    times = [{metric: [] for metric in steps} for steps in step_sets]
    for round_ in range(repeats):
      bar.set_postfix_str('round %d of %d' % (round_ + 1, repeats))
      for steps, timed in zip(step_sets, times):
        for metric, step in steps.items():
          for _ in range(settle):
            step()
          start = time.perf_counter()
          step()
          timed[metric].append(time.perf_counter() - start)
          bar.update(settle + 1)
  return times


def interleaved_medians(step_sets, warmup, repeats, settle=1,
                        progress=False):
  """`interleaved_times`, reduced to {metric: median seconds} per set."""
  return [{metric: statistics.median(values) for metric, values in
           timed.items()}
          for timed in interleaved_times(step_sets, warmup, repeats, settle,
                                         progress)]


def forward_flops(build_logits, size):
  """Forward FLOPs per image of a graph network, from TF's profiler.

  Args:
    build_logits: `(images, is_training) -> logits`.
    size: Input height and width.
  """
  graph = tf.Graph()
  with graph.as_default():
    build_logits(tf.zeros([1, size, size, 3]), False)
    options = tf.profiler.ProfileOptionBuilder.float_operation()
    options['output'] = 'none'
    return tf.profiler.profile(graph, options=options).total_float_ops


def training_graph(build_logits, size, batch):
  """A graph whose `train` op is one Adam step on a batch held in the graph.

  Returns:
    (graph, train op).
  """
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(0)
    images = tf.Variable(tf.random.uniform([batch, size, size, 3]),
                         trainable=False)
    labels = tf.Variable(tf.random.uniform([batch], 0, NUM_CLASSES, tf.int64),
                         trainable=False)
    logits = build_logits(images, True)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    loss += tf.add_n(tf.losses.get_regularization_losses() + [0.0])
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      train = tf.train.AdamOptimizer(1e-4).minimize(loss)
  return graph, train


def inference_graph(build_logits, size, batch):
  """A graph computing softmax probabilities in inference mode.

  Returns:
    (graph, a scalar: the probabilities' sum).
  """
  graph = tf.Graph()
  with graph.as_default():
    images = tf.Variable(tf.random.uniform([batch, size, size, 3]),
                         trainable=False)
    probabilities = tf.nn.softmax(build_logits(images, False))
    # A scalar fetch: every probability is computed (an op fetch could be
    # skipped inside an XLA cluster) and nothing large is copied out.
    total = tf.reduce_sum(probabilities)
  return graph, total


def graph_steps(build_logits, size, batch, precision, threads, xla=False):
  """Open sessions of a graph network: ({metric: step}, close).

  Metrics: 'train' (one Adam step at `batch`), 'latency' (inference at batch
  1) and 'infer' (inference at batch 32), all on synthetic data in the graph.
  """
  steps, closers = {}, []
  for metric, (graph, target) in (
      ('train', training_graph(build_logits, size, batch)),
      ('latency', inference_graph(build_logits, size, 1)),
      ('infer', inference_graph(build_logits, size, INFERENCE_BATCH))):
    steps[metric], close = open_step(graph, target, precision, threads, xla)
    closers.append(close)
  return steps, lambda: [close() for close in closers]
