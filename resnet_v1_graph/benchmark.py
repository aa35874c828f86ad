"""Side-by-side speed of our graphs, Keras 3 and the tf-slim reference.

One run, one machine, the same batch size, input size and precision for
everyone; synthetic data generated in the graph (or fed once to Keras), so
the numbers measure the networks rather than the input pipeline. For each
network: training images/s (forward, backward and an Adam update), inference
latency at batch 1 and throughput at batch 32, and the achieved GFLOP/s with
its share of a matrix-multiply peak measured in the same run. Medians over
repeated steps after warm-up, timed round-robin: every round runs one step of
every candidate, so a machine whose speed drifts (shared hosts do) cannot
favour whoever ran first.

  python scripts/benchmark.py                        # the full table
  python scripts/benchmark.py --json results.json
  python scripts/benchmark.py --book                 # "TensorFlow in Action"
  python scripts/benchmark.py --profile resnet_v2_50 # where a step's time goes

Competitors that are not installed are skipped with a note: Keras 3
(`keras`), and tf-slim's reference nets, which need tf-keras and run through
the same compatibility shim as the tests.
"""

import argparse
import functools
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


def _session_config(precision, threads, xla=False):
  from resnet_v1_graph import config as config_lib
  from resnet_v1_graph import trainer
  cfg = config_lib.DEFAULTS.replace(precision=precision,
                                    intra_op_threads=threads,
                                    inter_op_threads=threads and 1, xla=xla)
  return trainer.session_config(cfg)


def _matmul_step(precision, threads):
  """One 4096x4096 matmul in a graph session: (step, close)."""
  graph = tf.Graph()
  dtype = tf.bfloat16 if precision == 'bf16' else tf.float32
  with graph.as_default():
    a = tf.Variable(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE]))
    b = tf.Variable(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE]))
    product = tf.reduce_sum(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype)))
    init = tf.global_variables_initializer()
  sess = tf.Session(graph=graph, config=_session_config('fp32', threads))
  sess.run(init)
  return functools.partial(sess.run, product), sess.close


def _gflops_of_matmul(seconds):
  return 2.0 * MATMUL_SIZE ** 3 / seconds / 1e9


def matmul_peak(precision, repeats, threads=0):
  """GFLOP/s of a 4096x4096 matmul in a graph session."""
  step, close = _matmul_step(precision, threads)
  try:
    (medians,) = interleaved_medians([{'matmul': step}], 2, repeats, settle=0)
  finally:
    close()
  return _gflops_of_matmul(medians['matmul'])


def interleaved_times(step_sets, warmup, repeats, settle=1):
  """Seconds of every step, measured round-robin.

  `step_sets` is a list of {metric: step function}. After `warmup` calls of
  each, every round times every step of every set once, so a change in the
  machine's speed during the run (other tenants, clocks) hits all
  candidates alike instead of whichever happened to run then. Each timed
  call follows `settle` untimed ones of the same step: a dozen ResNets
  evict each other's oneDNN kernels from TensorFlow's primitive cache (1024
  entries) and their weights from the CPU caches, and a step should find
  its own as it would in a training loop.

  Returns:
    A list parallel to `step_sets` of {metric: [seconds of each round]}.
  """
  for steps in step_sets:
    for step in steps.values():
      for _ in range(warmup):
        step()
  times = [{metric: [] for metric in steps} for steps in step_sets]
  for _ in range(repeats):
    for steps, timed in zip(step_sets, times):
      for metric, step in steps.items():
        for _ in range(settle):
          step()
        start = time.perf_counter()
        step()
        timed[metric].append(time.perf_counter() - start)
  return times


def interleaved_medians(step_sets, warmup, repeats, settle=1):
  """`interleaved_times`, reduced to {metric: median seconds} per set."""
  return [{metric: statistics.median(values) for metric, values in
           timed.items()}
          for timed in interleaved_times(step_sets, warmup, repeats, settle)]


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


def _training_graph(build_logits, size, batch):
  """A graph whose `train` op is one Adam step on a batch held in the graph."""
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


def _inference_graph(build_logits, size, batch):
  """A graph whose op computes softmax probabilities in inference mode."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.Variable(tf.random.uniform([batch, size, size, 3]),
                         trainable=False)
    probabilities = tf.nn.softmax(build_logits(images, False))
    # A scalar fetch: every probability is computed (an op fetch could be
    # skipped inside an XLA cluster) and nothing large is copied out.
    total = tf.reduce_sum(probabilities)
  return graph, total


def _open(graph, target, precision, threads, xla):
  with graph.as_default():
    init = tf.global_variables_initializer()
  sess = tf.Session(graph=graph, config=_session_config(precision, threads,
                                                        xla))
  sess.run(init)
  return functools.partial(sess.run, target), sess.close


def graph_steps(build_logits, size, batch, precision, threads, xla=False):
  """Open sessions of a graph network: ({metric: step}, close).

  Metrics: 'train' (one Adam step at `batch`), 'latency' (inference at batch
  1) and 'infer' (inference at batch 32), all on synthetic data in the graph.
  """
  steps, closers = {}, []
  for metric, (graph, target) in (
      ('train', _training_graph(build_logits, size, batch)),
      ('latency', _inference_graph(build_logits, size, 1)),
      ('infer', _inference_graph(build_logits, size, INFERENCE_BATCH))):
    steps[metric], close = _open(graph, target, precision, threads, xla)
    closers.append(close)
  return steps, lambda: [close() for close in closers]


def _rates(medians, batch):
  return {'train_images_per_s': batch / medians['train'],
          'latency_ms': medians['latency'] * 1e3,
          'infer_images_per_s': INFERENCE_BATCH / medians['infer']}


# Where a step's time goes: op types grouped the way a reader thinks of them.
_OP_GROUPS = (
    ('Conv2DBackpropFilter', 'convolution, weight gradients'),
    ('Conv2DBackpropInput', 'convolution, input gradients'),
    ('Conv2D', 'convolution, forward'),
    ('BatchNorm', 'batch norm (forward and backward)'),
    ('Apply', 'optimizer update'),
    ('MatMul', 'dense layer'),
    ('Pool', 'pooling'),
)


def op_group(op_type):
  """The group an op type's time is reported under ('other' if none)."""
  for key, group in _OP_GROUPS:
    if key in op_type:
      return group
  return 'other (elementwise, reductions, copies)'


def profile_step(build_logits, size, batch, precision, threads, training=True,
                 xla=False, trace_path=None, warmup=2):
  """Times one traced step op by op (`tf.compat.v1.RunMetadata`).

  Returns the step's wall time, the summed op time per op type and per group
  (`op_group`), and writes a Chrome trace (chrome://tracing, Perfetto) when
  `trace_path` is given. Op times add up to more than the wall time when
  independent ops overlap on the inter-op thread pool.
  """
  from tensorflow.python.client import timeline
  build = _training_graph if training else _inference_graph
  graph, target = build(build_logits, size, batch)
  metadata = tf.RunMetadata()
  with graph.as_default():
    with tf.Session(config=_session_config(precision, threads, xla)) as sess:
      sess.run(tf.global_variables_initializer())
      for _ in range(warmup):
        sess.run(target)
      start = time.perf_counter()
      sess.run(target, options=tf.RunOptions(
          trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
      wall = time.perf_counter() - start
  by_type, counts = {}, {}
  for device in metadata.step_stats.dev_stats:
    for node in device.node_stats:
      label = node.timeline_label
      op_type = (label.split(' = ', 1)[1].split('(', 1)[0] if ' = ' in label
                 else node.node_name)
      by_type[op_type] = by_type.get(op_type, 0.0) + (
          node.all_end_rel_micros / 1e6)
      counts[op_type] = counts.get(op_type, 0) + 1
  if trace_path:
    with open(trace_path, 'w', encoding='utf-8') as f:
      f.write(timeline.Timeline(metadata.step_stats)
              .generate_chrome_trace_format())
  total = sum(by_type.values()) or 1.0
  groups = {}
  for op_type, seconds in by_type.items():
    groups[op_group(op_type)] = groups.get(op_group(op_type), 0.0) + seconds
  return {
      'wall_s': wall, 'images_per_s': batch / wall, 'op_seconds': total,
      'ops': sorted(({'type': t, 'seconds': v, 'count': counts[t],
                      'share': v / total} for t, v in by_type.items()),
                    key=lambda r: -r['seconds']),
      'groups': sorted(({'group': g, 'seconds': v, 'share': v / total}
                        for g, v in groups.items()),
                       key=lambda r: -r['seconds'])}


def convolution_rates(profile, forward_flops_per_image, batch, peak):
  """GFLOP/s of the forward and the gradient convolutions in a profile.

  Counts the network's forward FLOPs (nearly all of them convolutions) for
  the forward convolutions and twice that for the two gradient ones, over
  their summed op time; with the share of the matmul `peak`. This is the
  kernel speed the whole step cannot beat.
  """
  seconds = {r['group']: r['seconds'] for r in profile['groups']}
  forward = forward_flops_per_image * batch
  rates = {'matmul_gflops': peak}
  forward_s = seconds.get('convolution, forward', 0.0)
  gradient_s = (seconds.get('convolution, input gradients', 0.0) +
                seconds.get('convolution, weight gradients', 0.0))
  if forward_s:
    rates['forward_gflops'] = forward / forward_s / 1e9
  if gradient_s:
    rates['gradient_gflops'] = 2 * forward / gradient_s / 1e9
  return rates


def format_profile(name, profile, top=12):
  """The profile as two markdown tables: groups, then the top op types."""
  lines = ['%s: one step %.3f s (%.2f img/s); op time summed %.3f s.' % (
      name, profile['wall_s'], profile['images_per_s'],
      profile['op_seconds'])]
  rates = profile.get('convolution_rates')
  if rates:
    peak = rates['matmul_gflops']
    lines.append('Convolution kernels: ' + '; '.join(
        '%s %.1f GFLOP/s (%.0f%% of the %.0f GFLOP/s matmul peak)' % (
            what, rates[key], 100 * rates[key] / peak, peak)
        for what, key in (('forward', 'forward_gflops'),
                          ('gradients', 'gradient_gflops')) if key in rates) +
                 '.')
  lines += ['', '| where | seconds | share |', '|---|---:|---:|']
  lines += ['| %s | %.3f | %.1f%% |' % (r['group'], r['seconds'],
                                        100 * r['share'])
            for r in profile['groups']]
  lines += ['', '| op type | ops | seconds | share |', '|---|---:|---:|---:|']
  lines += ['| %s | %d | %.3f | %.1f%% |' % (r['type'], r['count'],
                                             r['seconds'], 100 * r['share'])
            for r in profile['ops'][:top]]
  return '\n'.join(lines)


def pipeline_steps(size, batch, precision, threads, xla=False, depth=50,
                   examples=512):
  """The ResNet class's training step fed two ways: ({metric: step}, close).

  'real' is the trainer's path: uint8 images in memory -> `data.ArraySplit`
  -> tf.data (scale, shuffle, batch, prefetch) -> the `input_x`
  placeholder's default. 'synthetic' is the same graph fed one batch
  repeated from a tensor.
  """
  from resnet_v1_graph import data
  from resnet_v1_graph import model as model_lib
  from resnet_v1_graph import trainer
  rng = np.random.RandomState(0)
  split = data.ArraySplit(
      rng.randint(0, 256, (examples, size, size, 3)).astype(np.uint8),
      rng.randint(0, NUM_CLASSES, examples), scale=255.)
  steps, closers = {}, []
  for metric in ('real', 'synthetic'):
    net = model_lib.ResNet(depth=depth, height=size, width=size, channel=3,
                           num_classes=NUM_CLASSES, batch_size=batch,
                           precision=precision, intra_op_threads=threads,
                           xla=xla, verbose=False)
    with net.graph.as_default():
      if metric == 'real':
        dataset = split.batched(batch, shuffle_buffer=examples).repeat()
      else:
        images, labels = split.arrays()
        dataset = tf2.data.Dataset.from_tensors(
            (images[:batch], labels[:batch])).repeat()
      handle = tf.data.make_one_shot_iterator(dataset).string_handle()
      init = tf.global_variables_initializer()
    sess = tf.Session(graph=net.graph,
                      config=trainer.session_config(net.config))
    sess.run(init)
    feed = {net.dataset_handle: sess.run(handle), net.is_training: True}
    steps[metric] = functools.partial(sess.run, net.optimize, feed)
    closers.append(sess.close)
  return steps, lambda: [close() for close in closers]


def keras_steps(name, jit, size, batch):
  """A Keras 3 application's steps: ({metric: step}, close).

  `train_on_batch` and `predict_on_batch` on fixed arrays; the global
  mixed-precision policy must be set before (see `run`).
  """
  keras = importlib.import_module('keras')
  rng = np.random.RandomState(0)
  x = rng.uniform(size=(batch, size, size, 3)).astype(np.float32)
  y = rng.randint(0, NUM_CLASSES, batch)
  x32 = np.resize(x, (INFERENCE_BATCH, size, size, 3))
  keras.utils.set_random_seed(0)
  model = getattr(keras.applications, name)(
      weights=None, input_shape=(size, size, 3), classes=NUM_CLASSES)
  model.compile(optimizer=keras.optimizers.Adam(1e-4),
                loss='sparse_categorical_crossentropy', jit_compile=jit)
  return {'train': lambda: model.train_on_batch(x, y),
          'latency': lambda: model.predict_on_batch(x[:1]),
          'infer': lambda: model.predict_on_batch(x32)}, lambda: None


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


def our_networks():
  """Our measured networks: short name -> (label, builder, Keras family)."""
  from resnet_v2_slim import resnet_v2
  return {
      'resnet50': ('resnet_v1_graph ResNet-50', _our_resnet_class(50),
                   'ResNet50'),
      'resnet_v2_50': ('resnet_v2_slim resnet_v2_50',
                       _slim_network(resnet_v2, 'resnet_v2_50'), 'ResNet50V2'),
      'resnet_v2_152': ('resnet_v2_slim resnet_v2_152',
                        _slim_network(resnet_v2, 'resnet_v2_152'),
                        'ResNet152V2'),
  }


def run(size, batch, precision, warmup, repeats, threads, include_keras,
        include_reference, xla=False, networks=None, echo=print):
  """Measures everything; returns a dict for the table and --json.

  `networks`: names from `our_networks()` to measure (default all); the
  references and Keras models of their families come along.
  """
  ours = our_networks()
  networks = networks or list(ours)
  unknown = sorted(set(networks) - set(ours))
  if unknown:
    raise ValueError('unknown network(s) %s; choose from %s' % (
        ', '.join(unknown), ', '.join(sorted(ours))))
  families = {ours[name][2] for name in networks}
  candidates = [(label, OURS, build, family)
                for label, build, family in (ours[n] for n in networks)]
  reference = _reference_slim() if include_reference else None
  if reference:
    _, ref_v1, ref_v2 = reference
    candidates += [c for c in (
        ('tf-slim resnet_v1_50 (reference)', 'reference',
         _slim_network(ref_v1, 'resnet_v1_50'), 'ResNet50'),
        ('tf-slim resnet_v2_50 (reference)', 'reference',
         _slim_network(ref_v2, 'resnet_v2_50'), 'ResNet50V2')) if c[3] in
                   families]
  elif include_reference:
    echo('tf-slim reference skipped: needs tf-keras (pip install --no-deps '
         'tf-keras) and TF_USE_LEGACY_KERAS=1 before TensorFlow loads')
  if include_keras:
    try:
      keras = importlib.import_module('keras')
    except ImportError:
      include_keras = False
      echo('Keras 3 skipped: not installed')

  # Everything is built first and then timed round-robin (see
  # `interleaved_medians`), so the ratios compare like with like.
  step_sets, closers = [], []

  def add(steps_and_close):
    step_sets.append(steps_and_close[0])
    closers.append(steps_and_close[1])
    return len(step_sets) - 1

  peaks = {}
  for matmul_precision in sorted({precision, 'fp32'}):
    step, close = _matmul_step(matmul_precision, threads)
    peaks[matmul_precision] = add(({'matmul': step}, close))
  flops, graph_sets = {}, []
  for name, kind, build, family in candidates:
    echo('building %s' % name)
    graph_sets.append(add(graph_steps(build, size, batch, precision, threads,
                                      xla)))
    # Per network: tf-slim's v1 puts the stride in the 3x3 convolution, the
    # classic class (like Keras) in the first 1x1, so their FLOPs differ.
    flops[name] = forward_flops(build, size)
    if kind == OURS:
      flops.setdefault(family, flops[name])  # what Keras rows are counted by
  pipeline_set = None
  if 'resnet50' in networks:
    echo('building the ResNet-50 class fed by tf.data and by one batch')
    pipeline_set = add(pipeline_steps(size, batch, precision, threads, xla))
  keras_sets = []
  if include_keras:
    keras.mixed_precision.set_global_policy(
        'mixed_bfloat16' if precision == 'bf16' else 'float32')
    for family in [f for f in ('ResNet50', 'ResNet50V2') if f in families]:
      for jit in (False, True):
        echo('building keras.applications.%s (jit_compile=%s)' % (family,
                                                                  jit))
        keras_sets.append((family, jit, add(keras_steps(family, jit, size,
                                                        batch))))
  echo('timing %d step sets round-robin: %d warm-up and %d timed rounds' % (
      len(step_sets), warmup, repeats))
  try:
    medians = interleaved_medians(step_sets, warmup, repeats)
  finally:
    for close in closers:
      close()
    if include_keras:
      keras.mixed_precision.set_global_policy('float32')

  peak = _gflops_of_matmul(medians[peaks[precision]]['matmul'])
  fp32_peak = _gflops_of_matmul(medians[peaks['fp32']]['matmul'])
  rows = [dict(name=name, kind=kind, family=family,
               **_rates(medians[index], batch))
          for (name, kind, _, family), index in zip(candidates, graph_sets)]
  for family in [f for f in ('ResNet50', 'ResNet50V2') if f in families]:
    best = None
    for jit, index in ((j, i) for f, j, i in keras_sets if f == family):
      row = dict(name='keras.applications.%s' % family, kind='keras',
                 family=family, jit_compile=jit,
                 **_rates(medians[index], batch))
      if best is None or row['train_images_per_s'] > best[
          'train_images_per_s']:
        best = row
    if best:
      rows.append(best)
  pipeline = None
  if pipeline_set is not None:
    real = batch / medians[pipeline_set]['real']
    synthetic = batch / medians[pipeline_set]['synthetic']
    pipeline = {'real_images_per_s': real, 'synthetic_images_per_s': synthetic,
                'real_over_synthetic': real / synthetic}
  echo('matmul %dx%d %s: %.1f GFLOP/s' % (MATMUL_SIZE, MATMUL_SIZE, precision,
                                          peak))
  for row in rows:
    echo(_format_row(row))
  if pipeline:
    echo('ResNet-50 class training through tf.data: %(real_images_per_s).2f '
         'img/s, synthetic: %(synthetic_images_per_s).2f img/s '
         '(real/synthetic %(real_over_synthetic).3f)' % pipeline)
  for row in rows:
    forward = flops.get(row['name'], flops.get(row['family']))
    if forward:
      # Training costs about three forward passes (forward, two backward).
      row['train_gflops'] = 3 * forward * row['train_images_per_s'] / 1e9
      row['peak_share'] = row['train_gflops'] / peak
  return {'machine': _machine(), 'size': size, 'batch': batch,
          'precision': precision, 'xla': xla, 'repeats': repeats,
          'matmul_gflops': peak, 'matmul_fp32_gflops': fp32_peak,
          'forward_gflop_per_image': {k: v / 1e9 for k, v in flops.items()},
          'rows': rows, 'ratios': ratios(rows), 'pipeline': pipeline}


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


# CPU features that decide what bf16 can buy: AVX512-BF16 only converts and
# takes dot products at the fp32 FMA rate; AMX tiles are what make bf16 fast.
_ISA_FLAGS = ('avx512f', 'avx512_bf16', 'avx512_fp16', 'amx_tile', 'amx_bf16')


def _machine():
  import platform
  cpu = platform.processor() or platform.machine()
  flags = set()
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
        elif line.startswith('flags') and not flags:
          flags = set(line.split(':', 1)[1].split())
  except OSError:
    pass
  return {'cpu': cpu, 'cores': os.cpu_count(), 'tensorflow': tf2.__version__,
          'isa': [flag for flag in _ISA_FLAGS if flag in flags]}


def _format_row(row):
  return ('%-36s train %7.2f img/s | infer b1 %8.1f ms | b32 %7.2f img/s' %
          (row['name'], row['train_images_per_s'], row['latency_ms'],
           row['infer_images_per_s']))


def format_table(result):
  """Markdown tables of the measurements and the ratios."""
  machine = result['machine']
  lines = ['Machine: %s, %d cores (%s), TensorFlow %s' % (
      machine['cpu'], machine['cores'],
      ', '.join(machine.get('isa') or ['no AVX-512']), machine['tensorflow']),
           'Input %dx%d, training batch %d, precision %s%s, median of %d '
           'steps after warm-up; matmul peak %.1f GFLOP/s%s.' % (
               result['size'], result['size'], result['batch'],
               result['precision'], ' with XLA' if result.get('xla') else '',
               result['repeats'], result['matmul_gflops'],
               ' (fp32 matmul: %.1f GFLOP/s)' % result['matmul_fp32_gflops']
               if result['precision'] != 'fp32' and
               'matmul_fp32_gflops' in result else ''), '',
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
    step, close = _open(graph, target, precision, threads, False)
    try:
      (timed,) = interleaved_times([{mode: step}], 1, batches, settle=0)
    finally:
      close()
    times = timed[mode]
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
                      help='timed rounds: steps per measurement (median '
                           'reported)')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--precision', choices=('fp32', 'bf16'),
                      default='fp32')
  parser.add_argument('--threads', type=int, default=0,
                      help='intra-op threads, with one inter-op thread so '
                           'ops run one at a time (0: TensorFlow default); '
                           'use it with --profile for per-op times that do '
                           'not overlap')
  parser.add_argument('--xla', action='store_true',
                      help='global XLA JIT for our graphs (Keras: best of '
                           'jit_compile on and off either way); on a CPU '
                           'TensorFlow only honours it with TF_XLA_FLAGS='
                           '--tf_xla_cpu_global_jit')
  parser.add_argument('--networks', type=lambda text: text.split(','),
                      help='comma-separated subset of ours to measure: %s '
                           '(default: all)' % ','.join(sorted(our_networks())))
  parser.add_argument('--no-keras', action='store_true')
  parser.add_argument('--no-reference', action='store_true')
  parser.add_argument('--json', help='also write the results here')
  parser.add_argument('--book', action='store_true',
                      help='TensorFlow in Action mode: resnet_v2_152, '
                           'batch 32, forward and forward-backward')
  parser.add_argument('--batches', type=int, default=10,
                      help='batches timed in --book mode')
  parser.add_argument('--profile', metavar='NETWORK',
                      choices=sorted(our_networks()),
                      help='instead of the table: where one step of this '
                           'network spends its time, op by op')
  parser.add_argument('--inference', action='store_true',
                      help='--profile an inference step (batch 32) instead '
                           'of a training step')
  parser.add_argument('--trace', help='--profile: also write a Chrome trace '
                                      '(chrome://tracing, Perfetto) here')
  args = parser.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  if args.profile:
    label, build, _ = our_networks()[args.profile]
    batch = INFERENCE_BATCH if args.inference else args.batch_size
    result = profile_step(build, args.image_size, batch, args.precision,
                          args.threads, training=not args.inference,
                          xla=args.xla, trace_path=args.trace)
    result['convolution_rates'] = convolution_rates(
        result, forward_flops(build, args.image_size), batch,
        matmul_peak(args.precision, args.repeats, args.threads))
    result.update(network=args.profile, batch=batch, size=args.image_size,
                  precision=args.precision, machine=_machine(),
                  training=not args.inference)
    print(format_profile('%s, %s, batch %d, %dx%d, %s' % (
        label, 'inference' if args.inference else 'training', batch,
        args.image_size, args.image_size, args.precision), result))
  elif args.book:
    result = book(args.image_size, 32 if args.batch_size == 16 else
                  args.batch_size, args.batches, args.precision, args.threads)
  else:
    try:
      result = run(args.image_size, args.batch_size, args.precision,
                   args.warmup, args.repeats, args.threads,
                   include_keras=not args.no_keras,
                   include_reference=not args.no_reference, xla=args.xla,
                   networks=args.networks)
    except ValueError as error:
      parser.error(str(error))
    print()
    print(format_table(result))
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump(result, f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main())
