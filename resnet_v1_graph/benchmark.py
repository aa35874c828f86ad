"""Side-by-side speed of our graphs, Keras 3 and the tf-slim reference.

One run, one machine, the same batch size, input size and precision for
everyone; synthetic data generated in the graph (or fed once to Keras), so
the numbers measure the networks rather than the input pipeline. For each
network: training images/s (forward, backward and an Adam update), inference
latency at batch 1 and throughput at batch 32, and the achieved GFLOP/s with
its share of a matrix-multiply peak measured in the same run. Medians over
repeated steps after warm-up.

  python scripts/benchmark.py                        # the full table
  python scripts/benchmark.py --json results.json
  python scripts/benchmark.py --book                 # "TensorFlow in Action"

Competitors that are not installed are skipped with a note: Keras 3
(`keras`), and tf-slim's reference nets, which need tf-keras and run through
the same compatibility shim as the tests.
"""

import argparse
import importlib
import json
import os
import statistics
import sys
import time

# The reference nets need legacy Keras, which is chosen when TensorFlow loads.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf2  # pylint: disable=g-import-not-at-top
import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

MATMUL_SIZE = 4096
INFERENCE_BATCH = 32
NUM_CLASSES = 1000
OURS = 'ours'


def _median_seconds(step, warmup, repeats):
  for _ in range(warmup):
    step()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  return statistics.median(times), times


def _session_config(precision, threads):
  from resnet_v1_graph import config as config_lib
  from resnet_v1_graph import trainer
  cfg = config_lib.DEFAULTS.replace(precision=precision,
                                    intra_op_threads=threads,
                                    inter_op_threads=threads and 1)
  return trainer.session_config(cfg)


def matmul_peak(precision, repeats, threads=0):
  """GFLOP/s of a 4096x4096 matmul in a graph session."""
  graph = tf.Graph()
  dtype = tf.bfloat16 if precision == 'bf16' else tf.float32
  with graph.as_default():
    a = tf.Variable(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE]))
    b = tf.Variable(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE]))
    product = tf.reduce_sum(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype)))
    with tf.Session(config=_session_config('fp32', threads)) as sess:
      sess.run(tf.global_variables_initializer())
      seconds, _ = _median_seconds(lambda: sess.run(product), 2, repeats)
  return 2.0 * MATMUL_SIZE ** 3 / seconds / 1e9


def forward_flops(build_logits, size):
  """Forward FLOPs per image of a graph network, from TF's profiler."""
  graph = tf.Graph()
  with graph.as_default():
    build_logits(tf.zeros([1, size, size, 3]), False)
    options = tf.profiler.ProfileOptionBuilder.float_operation()
    options['output'] = 'none'
    return tf.profiler.profile(graph, options=options).total_float_ops


# Graph networks: a builder `(images, is_training) -> logits`.

def _our_resnet_class(depth):
  from resnet_v1_graph import model as model_lib
  return lambda images, is_training: model_lib.resnet_logits(
      images, is_training, depth, NUM_CLASSES)


def _slim_network(module, name):
  import tf_slim

  def build(images, is_training):
    with tf_slim.arg_scope(module.resnet_arg_scope()):
      logits, _ = getattr(module, name)(images, NUM_CLASSES,
                                        is_training=is_training)
    return tf.reshape(logits, [-1, NUM_CLASSES])
  return build


def graph_network(build_logits, size, batch, precision, warmup, repeats,
                  threads):
  """Training and inference timings of a graph network, synthetic data."""
  results = {}
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
    with tf.Session(config=_session_config(precision, threads)) as sess:
      sess.run(tf.global_variables_initializer())
      seconds, _ = _median_seconds(lambda: sess.run(train), warmup, repeats)
  results['train_images_per_s'] = batch / seconds

  for infer_batch, key in ((1, 'latency_ms'), (INFERENCE_BATCH,
                                               'infer_images_per_s')):
    graph = tf.Graph()
    with graph.as_default():
      images = tf.Variable(tf.random.uniform([infer_batch, size, size, 3]),
                           trainable=False)
      probabilities = tf.nn.softmax(build_logits(images, False))
      with tf.Session(config=_session_config(precision, threads)) as sess:
        sess.run(tf.global_variables_initializer())
        seconds, _ = _median_seconds(lambda: sess.run(probabilities.op),
                                     warmup, repeats)
    results[key] = (seconds * 1e3 if infer_batch == 1
                    else infer_batch / seconds)
  return results


def pipeline_overhead(size, batch, precision, warmup, repeats, threads,
                      depth=50, examples=512):
  """Training images/s of the ResNet class fed by the real input pipeline.

  The trainer's path: uint8 images in memory -> `data.ArraySplit` ->
  tf.data (scale, shuffle, batch, prefetch) -> the `input_x` placeholder's
  default. Against the same graph fed one synthetic batch repeated in the
  graph. Returns (real images/s, synthetic images/s).
  """
  from resnet_v1_graph import data
  from resnet_v1_graph import model as model_lib
  from resnet_v1_graph import trainer
  rng = np.random.RandomState(0)
  split = data.ArraySplit(
      rng.randint(0, 256, (examples, size, size, 3)).astype(np.uint8),
      rng.randint(0, NUM_CLASSES, examples), scale=255.)
  rates = []
  for real in (True, False):
    net = model_lib.ResNet(depth=depth, height=size, width=size, channel=3,
                           num_classes=NUM_CLASSES, batch_size=batch,
                           precision=precision, intra_op_threads=threads,
                           verbose=False)
    with net.graph.as_default():
      if real:
        dataset = split.as_dataset().repeat().shuffle(examples).batch(
            batch).prefetch(tf2.data.AUTOTUNE)
      else:
        images, labels = split.arrays()
        dataset = tf2.data.Dataset.from_tensors(
            (images[:batch], labels[:batch])).repeat()
      handle = tf.data.make_one_shot_iterator(dataset).string_handle()
      with tf.Session(config=trainer.session_config(net.config)) as sess:
        sess.run(tf.global_variables_initializer())
        feed = {net.dataset_handle: sess.run(handle), net.is_training: True}
        seconds, _ = _median_seconds(
            lambda: sess.run(net.optimize, feed), warmup, repeats)
    rates.append(batch / seconds)
  return tuple(rates)


def keras_network(name, size, batch, precision, warmup, repeats):
  """The same timings for a Keras 3 application; best of jit on and off."""
  keras = importlib.import_module('keras')
  keras.mixed_precision.set_global_policy(
      'mixed_bfloat16' if precision == 'bf16' else 'float32')
  best = {}
  rng = np.random.RandomState(0)
  x = rng.uniform(size=(batch, size, size, 3)).astype(np.float32)
  y = rng.randint(0, NUM_CLASSES, batch)
  for jit in (False, True):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=NUM_CLASSES)
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss='sparse_categorical_crossentropy', jit_compile=jit)
    seconds, _ = _median_seconds(lambda: model.train_on_batch(x, y), warmup,
                                 repeats)
    train = batch / seconds
    infer = {}
    for infer_batch in (1, INFERENCE_BATCH):
      xi = x[:1] if infer_batch == 1 else np.resize(
          x, (infer_batch, size, size, 3))
      seconds, _ = _median_seconds(lambda: model.predict_on_batch(xi),
                                   warmup, repeats)
      infer[infer_batch] = seconds
    candidate = {'train_images_per_s': train,
                 'latency_ms': infer[1] * 1e3,
                 'infer_images_per_s': INFERENCE_BATCH / infer[INFERENCE_BATCH],
                 'jit_compile': jit}
    if not best or candidate['train_images_per_s'] > best[
        'train_images_per_s']:
      best = candidate
    keras.backend.clear_session()
  keras.mixed_precision.set_global_policy('float32')
  return best


def _reference_slim():
  """tf-slim's own resnet_v1/resnet_v2 through the test shim, or None."""
  if os.environ.get('TF_USE_LEGACY_KERAS') != '1':
    return None
  try:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'tests'))
    import oracles
    return oracles.slim_nets()
  except ImportError:
    return None


def run(size, batch, precision, warmup, repeats, threads, include_keras,
        include_reference, echo=print):
  """Measures everything; returns a dict for the table and --json."""
  from resnet_v2_slim import resnet_v2
  rows = []
  peak = matmul_peak(precision, repeats, threads)
  echo('matmul %dx%d %s: %.1f GFLOP/s' % (MATMUL_SIZE, MATMUL_SIZE, precision,
                                          peak))
  candidates = [
      ('resnet_v1_graph ResNet-50', OURS, _our_resnet_class(50), 'ResNet50'),
      ('resnet_v2_slim resnet_v2_50', OURS,
       _slim_network(resnet_v2, 'resnet_v2_50'), 'ResNet50V2'),
      ('resnet_v2_slim resnet_v2_152', OURS,
       _slim_network(resnet_v2, 'resnet_v2_152'), 'ResNet152V2'),
  ]
  reference = _reference_slim() if include_reference else None
  if reference:
    _, ref_v1, ref_v2 = reference
    candidates += [
        ('tf-slim resnet_v1_50 (reference)', 'reference',
         _slim_network(ref_v1, 'resnet_v1_50'), 'ResNet50'),
        ('tf-slim resnet_v2_50 (reference)', 'reference',
         _slim_network(ref_v2, 'resnet_v2_50'), 'ResNet50V2'),
    ]
  elif include_reference:
    echo('tf-slim reference skipped: needs tf-keras (pip install --no-deps '
         'tf-keras) and TF_USE_LEGACY_KERAS=1 before TensorFlow loads')
  flops = {}
  for name, kind, build, family in candidates:
    result = graph_network(build, size, batch, precision, warmup, repeats,
                           threads)
    key = family
    if key not in flops:
      flops[key] = forward_flops(build, size)
    rows.append(dict(name=name, kind=kind, family=family, **result))
    echo(_format_row(rows[-1]))
  real, synthetic = pipeline_overhead(size, batch, precision, warmup,
                                      repeats, threads)
  echo('ResNet-50 class training through tf.data: %.2f img/s, synthetic: '
       '%.2f img/s (real/synthetic %.3f)' % (real, synthetic,
                                             real / synthetic))
  if include_keras:
    try:
      importlib.import_module('keras')
    except ImportError:
      include_keras = False
      echo('Keras 3 skipped: not installed')
  if include_keras:
    for family in ('ResNet50', 'ResNet50V2'):
      result = keras_network(family, size, batch, precision, warmup, repeats)
      rows.append(dict(name='keras.applications.%s' % family, kind='keras',
                       family=family, **result))
      echo(_format_row(rows[-1]))
  for row in rows:
    forward = flops.get(row['family'])
    if forward:
      # Training costs about three forward passes (forward, two backward).
      row['train_gflops'] = 3 * forward * row['train_images_per_s'] / 1e9
      row['peak_share'] = row['train_gflops'] / peak
  return {'machine': _machine(), 'size': size, 'batch': batch,
          'precision': precision, 'repeats': repeats, 'matmul_gflops': peak,
          'forward_gflop_per_image': {k: v / 1e9 for k, v in flops.items()},
          'rows': rows, 'ratios': ratios(rows),
          'pipeline': {'real_images_per_s': real,
                       'synthetic_images_per_s': synthetic,
                       'real_over_synthetic': real / synthetic}}


def ratios(rows):
  """ours / theirs for each metric, matching networks by family."""
  out = []
  for ours in (r for r in rows if r['kind'] == OURS):
    for theirs in (r for r in rows if r['kind'] != OURS and
                   r['family'] == ours['family']):
      out.append({
          'ours': ours['name'], 'theirs': theirs['name'],
          'train': ours['train_images_per_s'] / theirs['train_images_per_s'],
          'infer_batch_32': (ours['infer_images_per_s'] /
                             theirs['infer_images_per_s']),
          'latency_batch_1': theirs['latency_ms'] / ours['latency_ms']})
  return out


def _machine():
  import platform
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  return {'cpu': cpu, 'cores': os.cpu_count(), 'tensorflow': tf2.__version__}


def _format_row(row):
  return ('%-36s train %7.2f img/s | infer b1 %8.1f ms | b32 %7.2f img/s' %
          (row['name'], row['train_images_per_s'], row['latency_ms'],
           row['infer_images_per_s']))


def format_table(result):
  """Markdown tables of the measurements and the ratios."""
  lines = ['Machine: %(cpu)s, %(cores)d cores, TensorFlow %(tensorflow)s' %
           result['machine'],
           'Input %dx%d, training batch %d, precision %s, median of %d steps '
           'after warm-up; matmul peak %.1f GFLOP/s.' % (
               result['size'], result['size'], result['batch'],
               result['precision'], result['repeats'],
               result['matmul_gflops']), '',
           '| network | train img/s | infer batch 1 (ms) | infer batch 32 '
           'img/s | train GFLOP/s | share of matmul peak |',
           '|---|---:|---:|---:|---:|---:|']
  for row in result['rows']:
    lines.append('| %s | %.2f | %.1f | %.2f | %s | %s |' % (
        row['name'] + (' (jit_compile)' if row.get('jit_compile') else ''),
        row['train_images_per_s'], row['latency_ms'],
        row['infer_images_per_s'],
        '%.1f' % row['train_gflops'] if 'train_gflops' in row else '-',
        '%.0f%%' % (100 * row['peak_share']) if 'peak_share' in row else '-'))
  pipeline = result.get('pipeline')
  if pipeline:
    lines += ['', 'Input pipeline (resnet_v1_graph ResNet-50 training): '
              'tf.data from uint8 arrays %.2f img/s, one synthetic batch '
              'in-graph %.2f img/s: real/synthetic = %.3f.' % (
                  pipeline['real_images_per_s'],
                  pipeline['synthetic_images_per_s'],
                  pipeline['real_over_synthetic'])]
  if result['ratios']:
    lines += ['', '| ours / theirs | training | inference batch 32 | '
              'latency batch 1 (theirs/ours) |', '|---|---:|---:|---:|']
    for r in result['ratios']:
      lines.append('| %s / %s | %.2fx | %.2fx | %.2fx |' % (
          r['ours'], r['theirs'], r['train'], r['infer_batch_32'],
          r['latency_batch_1']))
  return '\n'.join(lines)


def book(size, batch, batches, precision, threads, echo=print):
  """'TensorFlow in Action' timing: resnet_v2_152, mean and sd per batch."""
  from resnet_v2_slim import resnet_v2
  build = _slim_network(resnet_v2, 'resnet_v2_152')
  out = {}
  for mode in ('forward', 'forward-backward'):
    graph = tf.Graph()
    with graph.as_default():
      images = tf.Variable(tf.random.uniform([batch, size, size, 3]),
                           trainable=False)
      logits = build(images, mode != 'forward')
      if mode == 'forward':
        target = logits.op
      else:
        target = tf.gradients(tf.nn.l2_loss(logits),
                              tf.trainable_variables())
      with tf.Session(config=_session_config(precision, threads)) as sess:
        sess.run(tf.global_variables_initializer())
        _, times = _median_seconds(lambda: sess.run(target), 1, batches)
    out[mode] = {'mean_s': statistics.mean(times),
                 'sd_s': statistics.stdev(times) if len(times) > 1 else 0.0}
    echo('%s across %d steps, %.3f +/- %.3f sec / batch' % (
        mode.capitalize(), batches, out[mode]['mean_s'], out[mode]['sd_s']))
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--image-size', type=int, default=224)
  parser.add_argument('--batch-size', type=int, default=16)
  parser.add_argument('--repeats', type=int, default=5,
                      help='timed steps per measurement (median reported)')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--precision', choices=('fp32', 'bf16'),
                      default='fp32')
  parser.add_argument('--threads', type=int, default=0,
                      help='intra-op threads (0: TensorFlow default)')
  parser.add_argument('--no-keras', action='store_true')
  parser.add_argument('--no-reference', action='store_true')
  parser.add_argument('--json', help='also write the results here')
  parser.add_argument('--book', action='store_true',
                      help='TensorFlow in Action mode: resnet_v2_152, '
                           'batch 32, forward and forward-backward')
  parser.add_argument('--batches', type=int, default=10,
                      help='batches timed in --book mode')
  args = parser.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  if args.book:
    result = book(args.image_size, 32 if args.batch_size == 16 else
                  args.batch_size, args.batches, args.precision, args.threads)
  else:
    result = run(args.image_size, args.batch_size, args.precision,
                 args.warmup, args.repeats, args.threads,
                 include_keras=not args.no_keras,
                 include_reference=not args.no_reference)
    print()
    print(format_table(result))
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump(result, f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main())
