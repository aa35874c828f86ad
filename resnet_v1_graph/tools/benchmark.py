"""Side-by-side speed of our graphs, Keras 3 and the tf-slim reference.

One run, one machine, the same batch size, input size and precision for
everyone; synthetic data generated in the graph (or fed once to Keras), so
the numbers measure the networks rather than the input pipeline. For each
network: training images/s (forward, backward and an Adam update), inference
latency at batch 1 and throughput at batch 32, and the achieved GFLOP/s with
its share of a matrix-multiply peak measured in the same run; then its
serving paths (the frozen graph in TensorFlow and in ONNX Runtime, same
weights) and the fastest of them against Keras 3 at its fastest. Medians over
repeated steps after warm-up, timed round-robin: every round runs one step of
every candidate, so a machine whose speed drifts (shared hosts do) cannot
favour whoever ran first.

  python -m resnet_v1_graph.tools.benchmark            # the full table
  python -m resnet_v1_graph.tools.benchmark --json results.json
  python -m resnet_v1_graph.tools.benchmark --book     # "TensorFlow in Action"
  python -m resnet_v1_graph.tools.benchmark --profile resnet_v2_50

(`--profile`: where one step's time goes; `resnet-tf1-benchmark` and
`scripts/benchmark.py` are the same program.) What is measured comes from
`candidates`, how it is timed from `timing`, profiles from `profiling`, the
rows and tables from `report`; this module measures and holds the command
line.

Competitors that are not installed are skipped with a note: Keras 3
(`keras`), and tf-slim's reference nets, which need tf-keras and come from
`references`, the module the tests compare with.
"""

import argparse
import importlib
import json
import os
import statistics
import sys

# The reference nets need legacy Keras, which is chosen when TensorFlow loads.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top
import tensorflow.compat.v1 as tf

from resnet_v1_graph import export
from resnet_v1_graph.tools import candidates
from resnet_v1_graph.tools import profiling
from resnet_v1_graph.tools import report
from resnet_v1_graph.tools import timing
from resnet_v1_graph.training import hardware
# pylint: enable=g-import-not-at-top

# The Keras applications timed when a network of ours has their family.
KERAS_FAMILIES = ('ResNet50', 'ResNet50V2')
XLA_LABEL = ', XLA'
FP32_LABEL = ', fp32'
# The suffix each variant of one of our graphs adds to that graph's name.
VARIANT_LABELS = {report.OURS_XLA: XLA_LABEL, report.OURS_FP32: FP32_LABEL}
SERVING_LABELS = {candidates.FROZEN: 'frozen graph in TensorFlow',
                  candidates.ONNXRUNTIME: 'ONNX Runtime'}


def _variant_of(name, kind):
  """The name of the row that a variant row (`VARIANT_LABELS`) varies."""
  return name[:-len(VARIANT_LABELS[kind])]


def _reference_candidates(families, echo):
  """tf-slim's reference nets of `families`, as candidates ([] if absent)."""
  reference = candidates.reference_networks()
  if reference is None:
    echo('tf-slim reference skipped: needs tf-keras (pip install --no-deps '
         'tf-keras) and TF_USE_LEGACY_KERAS=1 before TensorFlow loads')
    return []
  return [(label, 'reference', build, family)
          for label, build, family in reference if family in families]


def _serving_candidates(echo):
  """Whether the serving paths (frozen graph, ONNX Runtime) can be timed."""
  try:
    export.onnx_modules()
  except ImportError as error:
    echo('serving paths skipped: %s' % error)
    return False
  return True


def run(size, batch, precision, warmup, repeats, threads, include_keras,
        include_reference, xla=False, networks=None, include_serving=True,
        echo=print, progress=True):
  """Measures everything; returns a dict for the table and --json.

  `networks`: names from `candidates.OUR_NETWORKS` to measure (default
  all); the references and Keras models of their families come along;
  with `xla` each also compiled by XLA (global JIT), a row beside it; in a
  `precision` other than fp32 each also in fp32, a row beside it, so that
  what the precision gains is measured in the same rounds; and with
  `include_serving` each network's frozen graph in TensorFlow and in ONNX
  Runtime (in fp32, also in a bf16 run). `progress`: a tqdm bar while
  timing.

  Raises:
    ValueError: If `networks` names an unknown network; before anything is
      built.
  """
  ours = candidates.our_networks()
  networks = networks or list(ours)
  unknown = sorted(set(networks) - set(ours))
  if unknown:
    raise ValueError('unknown network(s) %s; choose from %s' % (
        ', '.join(unknown), ', '.join(sorted(ours))))
  families = {ours[name][2] for name in networks}
  graph_candidates = [(label, report.OURS, build, family)
                      for label, build, family in (ours[n] for n in networks)]
  variants = ([report.OURS_XLA] if xla else []) + (
      [report.OURS_FP32] if precision != 'fp32' else [])
  for variant in variants:
    graph_candidates += [
        (label + VARIANT_LABELS[variant], variant, build, family)
        for label, build, family in (ours[n] for n in networks)]
  if include_reference:
    graph_candidates += _reference_candidates(families, echo)
  if include_keras:
    try:
      keras = importlib.import_module('keras')
    except ImportError:
      include_keras = False
      echo('Keras 3 skipped: not installed')

  # Everything is built first and then timed round-robin (see
  # `timing.interleaved_medians`), so the ratios compare like with like.
  step_sets, closers = [], []

  def add(steps_and_close):
    step_sets.append(steps_and_close[0])
    closers.append(steps_and_close[1])
    return len(step_sets) - 1

  peaks = {}
  for matmul_precision in sorted({precision, 'fp32'}):
    step, close = timing.matmul_step(matmul_precision, threads)
    peaks[matmul_precision] = add(({'matmul': step}, close))
  flops, graph_sets = {}, []
  for name, kind, build, family in graph_candidates:
    echo('building %s' % name)
    graph_sets.append(add(timing.graph_steps(
        build, size, batch, 'fp32' if kind == report.OURS_FP32 else precision,
        threads, xla=kind == report.OURS_XLA)))
    # Per network: tf-slim's v1 puts the stride in the 3x3 convolution, the
    # classic class (like Keras) in the first 1x1, so their FLOPs differ. A
    # variant (XLA, fp32) is its network's graph, counted once before it.
    flops[name] = (flops[_variant_of(name, kind)] if kind in VARIANT_LABELS
                   else timing.forward_flops(build, size))
    if kind == report.OURS:
      flops.setdefault(family, flops[name])  # what Keras rows are counted by
  serving_sets = []
  if include_serving and _serving_candidates(echo):
    for label, build, family in (ours[n] for n in networks):
      echo('building %s frozen, in TensorFlow and ONNX Runtime' % label)
      for kind, steps in candidates.serving_steps(build, size,
                                                  threads).items():
        serving_sets.append((label, kind, family, add(steps)))
  pipeline_set = None
  if 'resnet50' in networks:
    echo('building the ResNet-50 class fed by tf.data and by one batch')
    pipeline_set = add(candidates.pipeline_steps(size, batch, precision,
                                                 threads))
  keras_sets = []
  if include_keras:
    keras.mixed_precision.set_global_policy(
        'mixed_bfloat16' if precision == 'bf16' else 'float32')
    for family in [f for f in KERAS_FAMILIES if f in families]:
      for jit in (False, True):
        echo('building keras.applications.%s (jit_compile=%s)' % (family,
                                                                  jit))
        keras_sets.append((family, jit, add(candidates.keras_steps(
            family, jit, size, batch))))
  echo('timing %d step sets round-robin: %d warm-up and %d timed rounds' % (
      len(step_sets), warmup, repeats))
  try:
    medians = timing.interleaved_medians(step_sets, warmup, repeats,
                                         progress=progress)
  finally:
    for close in closers:
      close()
    if include_keras:
      keras.mixed_precision.set_global_policy('float32')

  peak = timing.gflops_of_matmul(medians[peaks[precision]]['matmul'])
  fp32_peak = timing.gflops_of_matmul(medians[peaks['fp32']]['matmul'])
  rows = [dict(name=name, kind=kind, family=family,
               **report.rates(medians[index], batch))
          for (name, kind, _, family), index in zip(graph_candidates,
                                                    graph_sets)]
  for row in rows:
    if row['kind'] in VARIANT_LABELS:
      row['of'] = _variant_of(row['name'], row['kind'])
  # The serving paths run in fp32 whatever the run's precision, so that a
  # bf16 run says which path serves fastest, bf16 graph or fp32 runtime.
  served_in = '' if precision == 'fp32' else FP32_LABEL
  rows += [dict(name='%s, %s%s' % (label, SERVING_LABELS[kind], served_in),
                kind=kind, family=family, of=label,
                **report.inference_rates(medians[index]))
           for label, kind, family, index in serving_sets]
  rows += report.best_keras_rows(keras_sets, medians, batch)
  pipeline = (None if pipeline_set is None
              else report.pipeline_rates(medians[pipeline_set], batch))
  echo('matmul %dx%d %s: %.1f GFLOP/s' % (
      timing.MATMUL_SIZE, timing.MATMUL_SIZE, precision, peak))
  for row in rows:
    echo(report.format_row(row))
  if pipeline:
    echo('ResNet-50 class training through tf.data: %(real_images_per_s).2f '
         'img/s, synthetic: %(synthetic_images_per_s).2f img/s '
         '(real/synthetic %(real_over_synthetic).3f)' % pipeline)
  report.add_gflops(rows, flops, peak, fp32_peak)
  return {'machine': hardware.machine(), 'size': size, 'batch': batch,
          'precision': precision, 'xla': xla, 'repeats': repeats,
          'matmul_gflops': peak, 'matmul_fp32_gflops': fp32_peak,
          'forward_gflop_per_image': {k: v / 1e9 for k, v in flops.items()},
          'rows': rows, 'ratios': report.ratios(rows),
          'serving': report.serving(rows), 'pipeline': pipeline,
          'precision_ratios': report.precision_ratios(rows)}


def book(size, batch, batches, precision, threads, echo=print):
  """'TensorFlow in Action' timing: resnet_v2_152, mean and sd per batch."""
  build = candidates.network_builder('resnet_v2_152')
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
    step, close = timing.open_step(graph, target, precision, threads)
    try:
      (timed,) = timing.interleaved_times([{mode: step}], 1, batches,
                                          settle=0)
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
                      default='fp32',
                      help="bf16: oneDNN's automatic mixed precision for "
                           'our graphs and mixed_bfloat16 for Keras; our '
                           'graphs are also timed in fp32, a row beside '
                           'each, with the bf16/fp32 ratios')
  parser.add_argument('--threads', type=int, default=0,
                      help='intra-op threads, with one inter-op thread so '
                           'ops run one at a time (0: TensorFlow default); '
                           'use it with --profile for per-op times that do '
                           'not overlap')
  parser.add_argument('--xla', action='store_true',
                      help='also time our graphs compiled by XLA (global '
                           'JIT), each in a row beside its default one '
                           '(Keras: best of jit_compile on and off either '
                           'way). Started with TF_XLA_FLAGS='
                           '--tf_xla_ops_to_cluster=FUSIBLE, XLA compiles '
                           'only the elementwise ops, reductions and batch '
                           'norms and leaves the convolutions to oneDNN')
  parser.add_argument('--networks', type=lambda text: text.split(','),
                      help='comma-separated subset of ours to measure: %s '
                           '(default: all)'
                           % ','.join(sorted(candidates.OUR_NETWORKS)))
  parser.add_argument('--no-keras', action='store_true')
  parser.add_argument('--no-reference', action='store_true')
  parser.add_argument('--no-serving', action='store_true',
                      help='skip the frozen-graph and ONNX Runtime rows')
  parser.add_argument('--no-progress', action='store_true',
                      help='no progress bar while timing')
  parser.add_argument('--json', help='also write the results here')
  parser.add_argument('--book', action='store_true',
                      help='TensorFlow in Action mode: resnet_v2_152, '
                           'batch 32, forward and forward-backward')
  parser.add_argument('--batches', type=int, default=10,
                      help='batches timed in --book mode')
  parser.add_argument('--profile', metavar='NETWORK',
                      choices=sorted(candidates.OUR_NETWORKS),
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
    label, build, _ = candidates.our_networks()[args.profile]
    batch = timing.INFERENCE_BATCH if args.inference else args.batch_size
    result = profiling.profile_step(
        build, args.image_size, batch, args.precision, args.threads,
        training=not args.inference, xla=args.xla, trace_path=args.trace)
    result['convolution_rates'] = profiling.convolution_rates(
        result, timing.forward_flops(build, args.image_size), batch,
        timing.matmul_peak(args.precision, args.repeats, args.threads))
    result.update(network=args.profile, batch=batch, size=args.image_size,
                  precision=args.precision, machine=hardware.machine(),
                  training=not args.inference)
    print(profiling.format_profile('%s, %s, batch %d, %dx%d, %s' % (
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
                   networks=args.networks,
                   include_serving=not args.no_serving,
                   progress=not args.no_progress)
    except ValueError as error:
      parser.error(str(error))
    print()
    print(report.format_table(result))
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump(result, f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main())
