"""The benchmark's arithmetic and profiles (timings are never asserted)."""

import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import export
from resnet_v1_graph.nets import registry
from resnet_v1_graph.tools import benchmark
from resnet_v1_graph.tools import candidates
from resnet_v1_graph.tools import profiling
from resnet_v1_graph.tools import report
from resnet_v1_graph.tools import timing
from resnet_v1_graph.training import hardware


def test_ratios_pair_networks_by_family():
  rows = [
      dict(name='ours50', kind='ours', family='ResNet50V2',
           train_images_per_s=6.0, infer_images_per_s=20.0, latency_ms=50.0),
      dict(name='keras50', kind='keras', family='ResNet50V2',
           train_images_per_s=4.0, infer_images_per_s=10.0, latency_ms=100.0),
      dict(name='keras50v1', kind='keras', family='ResNet50',
           train_images_per_s=1.0, infer_images_per_s=1.0, latency_ms=1.0),
  ]
  (ratio,) = report.ratios(rows)
  assert (ratio['ours'], ratio['theirs']) == ('ours50', 'keras50')
  assert ratio['train'] == pytest.approx(1.5)
  assert ratio['infer_batch_32'] == pytest.approx(2.0)
  assert ratio['latency_batch_1'] == pytest.approx(2.0)
  table = report.format_table({
      'machine': {'cpu': 'cpu', 'cores': 2, 'tensorflow': 'x'}, 'size': 224,
      'batch': 16, 'precision': 'fp32', 'repeats': 5, 'matmul_gflops': 100.0,
      'rows': rows, 'ratios': [ratio]})
  assert '| ours50 / keras50 | 1.50x | 2.00x | 2.00x |' in table


def test_forward_flops_of_resnet_v2_50_at_224():
  # He et al. report 3.8 billion multiply-adds for ResNet-50: ~7.7 GFLOP.
  flops = timing.forward_flops(candidates.network_builder('resnet_v2_50'),
                               224)
  assert 7.0e9 < flops < 8.5e9


def _two_conv_network(images, is_training):
  """Two convolutions and a dense layer: every op's count is known."""
  del is_training
  x = tf.nn.relu(tf.nn.conv2d(images, tf.get_variable('w1', [3, 3, 3, 4]),
                              1, 'SAME'))
  x = tf.nn.conv2d(x, tf.get_variable('w2', [3, 3, 4, 8]), 1, 'SAME')
  return tf.matmul(tf.reduce_mean(x, [1, 2]),
                   tf.get_variable('w3', [8, timing.NUM_CLASSES]))


def test_profile_counts_each_convolution_and_gradient(tmp_path):
  trace = tmp_path / 'step.json'
  profile = profiling.profile_step(_two_conv_network, 8, 2, 'fp32', 1,
                                   trace_path=str(trace), warmup=1)
  counts = {}
  for row in profile['ops']:
    group = profiling.op_group(row['type'])
    counts[group] = counts.get(group, 0) + row['count']
  # Two forward convolutions, two weight gradients, and one input gradient:
  # the images are not trainable, so the first convolution's is never built.
  assert counts['convolution, forward'] == 2
  assert counts['convolution, weight gradients'] == 2
  assert counts['convolution, input gradients'] == 1
  assert counts['dense layer'] >= 1
  assert counts['optimizer update'] == 3  # one Adam update per variable
  assert sum(r['share'] for r in profile['groups']) == pytest.approx(1.0)
  assert profile['images_per_s'] == pytest.approx(2 / profile['wall_s'])
  events = json.loads(trace.read_text())['traceEvents']
  assert any('Conv2DBackpropFilter' in e.get('args', {}).get('op', '')
             for e in events)
  text = profiling.format_profile('two convs', profile)
  assert '| convolution, forward |' in text


def test_inference_profile_has_no_training_ops():
  profile = profiling.profile_step(_two_conv_network, 8, 2, 'fp32', 1,
                                   training=False, warmup=0)
  groups = {r['group'] for r in profile['groups']}
  assert 'convolution, forward' in groups
  assert not groups & {'convolution, weight gradients',
                       'convolution, input gradients', 'optimizer update'}


def test_convolution_rates_by_hand():
  profile = {'groups': [
      {'group': 'convolution, forward', 'seconds': 0.5, 'share': 0.05},
      {'group': 'convolution, weight gradients', 'seconds': 0.6,
       'share': 0.06},
      {'group': 'convolution, input gradients', 'seconds': 0.4,
       'share': 0.04},
      {'group': 'batch norm (forward and backward)', 'seconds': 9.0,
       'share': 0.85}]}
  rates = profiling.convolution_rates(profile, 1e9, 16, 100.0)
  # 16 GFLOP forward in 0.5 s; twice that for the gradients in 1.0 s.
  assert rates['forward_gflops'] == pytest.approx(32.0)
  assert rates['gradient_gflops'] == pytest.approx(32.0)
  profile['convolution_rates'] = rates
  assert '32.0 GFLOP/s (32% of the 100 GFLOP/s' in profiling.format_profile(
      'x', dict(profile, wall_s=1.0, images_per_s=16.0, op_seconds=10.5,
                ops=[]))


def test_unknown_network_is_named_before_any_measurement():
  with pytest.raises(ValueError, match='resnet_v2_18.*resnet_v2_50'):
    benchmark.run(32, 2, 'fp32', 0, 1, 0, include_keras=False,
                  include_reference=False, networks=['resnet_v2_18'])


def test_table_names_the_cpu_features_and_the_fp32_peak():
  table = report.format_table({
      'machine': {'cpu': 'AMD EPYC', 'cores': 2, 'tensorflow': 'x',
                  'isa': ['avx512f', 'avx512_bf16'],
                  'signature': 'AuthenticAMD family 25 model 17 stepping 1'},
      'size': 224, 'batch': 16, 'precision': 'bf16', 'repeats': 5,
      'matmul_gflops': 150.0, 'matmul_fp32_gflops': 300.0, 'rows': [],
      'ratios': []})
  assert ('Machine: AMD EPYC (AuthenticAMD family 25 model 17 stepping 1), '
          '2 cores (avx512f, avx512_bf16)' in table)
  assert 'matmul peak 150.0 GFLOP/s (fp32 matmul: 300.0 GFLOP/s)' in table


def _only_resnet18(monkeypatch):
  """The classic ResNet-18 as the benchmark's one network, standing in for
  the ResNet-50s: the same building, freezing and conversion at a fraction
  of the time."""
  monkeypatch.setattr(candidates, 'our_networks', lambda: {'resnet18': (
      'resnet_v1_graph ResNet-18', candidates.network_builder('resnet', 18),
      'ResNet50')})


def _spy_on_resnet18_graphs(monkeypatch):
  """ResNet-18 as the one network (`_only_resnet18`); returns the list that
  collects (precision, xla) of each graph the benchmark builds."""
  built = []
  real = timing.graph_steps

  def spy(build, size, batch, precision, threads, xla=False):
    built.append((precision, xla))
    return real(build, size, batch, precision, threads, xla=xla)

  monkeypatch.setattr(timing, 'graph_steps', spy)
  _only_resnet18(monkeypatch)
  return built


def test_a_small_run_fills_the_table(monkeypatch):
  _only_resnet18(monkeypatch)
  result = benchmark.run(32, 2, 'fp32', 0, 1, 0, include_keras=False,
                         include_reference=False, networks=['resnet18'],
                         echo=lambda _: None)
  row, frozen, onnx = result['rows']
  assert row['name'] == 'resnet_v1_graph ResNet-18'
  assert [(r['kind'], r['of']) for r in (frozen, onnx)] == [
      (candidates.FROZEN, row['name']), (candidates.ONNXRUNTIME, row['name'])]
  assert 'train_images_per_s' not in onnx
  assert set(result['machine']) >= {'cpu', 'signature', 'cores', 'isa',
                                    'tensorflow'}
  forward = result['forward_gflop_per_image']['ResNet50']
  # He et al. count 1.8e9 multiply-adds for ResNet-18 at 224x224; at 32x32
  # about (32/224)^2 of that, 2 FLOPs each: 0.07 GFLOP.
  assert 0.03 < forward < 0.15
  assert row['train_gflops'] == pytest.approx(
      3 * forward * row['train_images_per_s'])
  assert row['peak_share'] == pytest.approx(
      row['train_gflops'] / result['matmul_gflops'])
  assert result['pipeline'] is None  # only measured with the ResNet class
  json.dumps(result)
  table = report.format_table(result)
  assert '| resnet_v1_graph ResNet-18 |' in table
  assert '| resnet_v1_graph ResNet-18, ONNX Runtime | - |' in table


def test_serving_paths_compute_what_the_graph_computes():
  """The frozen graph in TensorFlow and in ONNX Runtime give the variable
  graph's probabilities (same seed, same weights) on the same images.

  The classic ResNet-18 stands in for the benchmark's ResNet-50s: the same
  freezing and conversion at a fraction of the time (tests/test_export.py
  converts resnet_v2_50)."""
  build = candidates.network_builder(registry.CLASSIC, 18)
  paths = candidates.serving_steps(build, 32, threads=0)
  try:
    frozen = paths[candidates.FROZEN][0]['infer']()
    (onnx,) = paths[candidates.ONNXRUNTIME][0]['infer']()
    assert paths[candidates.ONNXRUNTIME][0]['latency']()[0].shape == (
        1, timing.NUM_CLASSES)
  finally:
    for _, close in paths.values():
      close()
  images = np.random.RandomState(0)
  images.uniform(size=(1, 32, 32, 3))  # the latency batch comes first
  images = images.uniform(size=(timing.INFERENCE_BATCH, 32, 32, 3))
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, [None, 32, 32, 3], name='images')
    probabilities = tf.nn.softmax(build(x, False))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      expected = sess.run(probabilities, {x: images.astype(np.float32)})
  assert frozen.shape == (timing.INFERENCE_BATCH, timing.NUM_CLASSES)
  np.testing.assert_allclose(frozen, expected, atol=1e-6)
  # ONNX Runtime sums in another order than oneDNN: the export's own
  # tolerance (probabilities are at most 1).
  np.testing.assert_allclose(onnx, expected, atol=export.ONNX_TOLERANCE)


def test_serving_picks_each_networks_fastest_path():
  rows = [
      dict(name='net', kind='ours', family='F', latency_ms=30.0,
           infer_images_per_s=100.0, train_images_per_s=1.0),
      dict(name='net, frozen', kind=candidates.FROZEN, of='net', family='F',
           latency_ms=20.0, infer_images_per_s=90.0),
      dict(name='net, onnx', kind=candidates.ONNXRUNTIME, of='net',
           family='F', latency_ms=25.0, infer_images_per_s=150.0),
      dict(name='keras', kind='keras', family='F', latency_ms=50.0,
           infer_images_per_s=60.0, train_images_per_s=1.0,
           best_latency_ms=40.0, best_infer_images_per_s=75.0),
  ]
  (entry,) = report.serving(rows)
  assert (entry['latency_path'], entry['infer_path']) == ('net, frozen',
                                                          'net, onnx')
  assert entry['latency_vs_keras'] == pytest.approx(2.0)
  assert entry['infer_vs_keras'] == pytest.approx(2.0)
  (ratio,) = report.ratios(rows)  # serving rows are not competitors
  assert ratio['theirs'] == 'keras'
  table = report.format_table({
      'machine': {'cpu': 'cpu', 'cores': 2, 'tensorflow': 'x'}, 'size': 224,
      'batch': 16, 'precision': 'fp32', 'repeats': 5, 'matmul_gflops': 1.0,
      'rows': rows, 'ratios': [ratio], 'serving': [entry]})
  assert '| net | net, frozen | 20.0 | 2.00x | net, onnx | 150.00 | 2.00x |' \
      in table


def test_keras_inference_is_its_best_of_either_jit_setting():
  medians = [{'train': 1.0, 'latency': 0.05, 'infer': 1.0},
             {'train': 2.0, 'latency': 0.04, 'infer': 0.5}]
  (row,) = report.best_keras_rows([('F', False, 0), ('F', True, 1)], medians,
                                  batch=4)
  assert row['jit_compile'] is False  # the faster to train
  assert row['best_latency_ms'] == pytest.approx(40.0)
  assert row['best_infer_images_per_s'] == pytest.approx(
      timing.INFERENCE_BATCH / 0.5)


def test_progress_counts_every_call(capsys):
  calls = []
  steps = [{'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')},
           {'c': lambda: calls.append('c')}]
  times = timing.interleaved_times(steps, warmup=2, repeats=3, settle=1,
                                   progress=True)
  assert [len(t) for timed in times for t in timed.values()] == [3, 3, 3]
  assert len(calls) == 3 * (2 + 3 * 2)
  assert '24/24' in capsys.readouterr().err


def test_xla_rows_sit_beside_ours_and_compile(monkeypatch):
  built = _spy_on_resnet18_graphs(monkeypatch)
  result = benchmark.run(32, 2, 'fp32', 0, 1, 0, include_keras=False,
                         include_reference=False, networks=['resnet18'],
                         xla=True, include_serving=False, echo=lambda _: None,
                         progress=False)
  plain, compiled = result['rows']
  assert built == [('fp32', False), ('fp32', True)]
  assert (compiled['name'], compiled['kind'], compiled['of']) == (
      plain['name'] + ', XLA', report.OURS_XLA, plain['name'])
  assert compiled['train_gflops'] / compiled['train_images_per_s'] == (
      pytest.approx(plain['train_gflops'] / plain['train_images_per_s']))
  assert 'our graphs also with XLA, median' in report.format_table(result)
  # TensorFlow's own XLA flags (partial clustering) are part of the setting,
  # as are oneDNN's, in the machine's record and the table's first line.
  assert result['machine']['environment'] == {
      name: os.environ[name] for name in hardware.SPEED_VARIABLES
      if os.environ.get(name)}
  result['machine']['environment'] = {
      'TF_XLA_FLAGS': '--tf_xla_ops_to_cluster=FUSIBLE',
      'ONEDNN_MAX_CPU_ISA': 'AVX2'}
  first = report.format_table(result).splitlines()[0]
  assert first.endswith('; started with ONEDNN_MAX_CPU_ISA=AVX2, '
                        'TF_XLA_FLAGS=--tf_xla_ops_to_cluster=FUSIBLE')
  # A report written before the environment was recorded, with only
  # TF_XLA_FLAGS in a field of its own.
  del result['machine']['environment']
  result['xla_flags'] = '--tf_xla_ops_to_cluster=FUSIBLE'
  assert report.format_table(result).splitlines()[0].endswith(
      '; started with TF_XLA_FLAGS=--tf_xla_ops_to_cluster=FUSIBLE')
  result['xla_flags'] = None
  assert 'started with' not in report.format_table(result)


def test_xla_rows_are_compared_and_can_serve():
  rows = [
      dict(name='net', kind='ours', family='F', latency_ms=30.0,
           infer_images_per_s=100.0, train_images_per_s=1.0),
      dict(name='net, XLA', kind=report.OURS_XLA, of='net', family='F',
           latency_ms=20.0, infer_images_per_s=90.0, train_images_per_s=3.0),
      dict(name='keras', kind='keras', family='F', latency_ms=50.0,
           infer_images_per_s=60.0, train_images_per_s=2.0,
           best_latency_ms=40.0, best_infer_images_per_s=75.0),
  ]
  trains = {r['ours']: r['train'] for r in report.ratios(rows)}
  assert trains == {'net': pytest.approx(0.5), 'net, XLA': pytest.approx(1.5)}
  (entry,) = report.serving(rows)
  assert (entry['latency_path'], entry['infer_path']) == ('net, XLA', 'net')


def test_bf16_runs_time_our_graphs_in_fp32_beside(monkeypatch):
  built = _spy_on_resnet18_graphs(monkeypatch)
  result = benchmark.run(32, 2, 'bf16', 0, 1, 0, include_keras=False,
                         include_reference=False, networks=['resnet18'],
                         echo=lambda _: None, progress=False)
  mixed, full, frozen, onnx = result['rows']
  assert built == [('bf16', False), ('fp32', False)]
  # The serving paths are timed too, in fp32, and named so.
  assert [(r['name'], r['kind'], r['of']) for r in (frozen, onnx)] == [
      (mixed['name'] + ', frozen graph in TensorFlow, fp32',
       candidates.FROZEN, mixed['name']),
      (mixed['name'] + ', ONNX Runtime, fp32', candidates.ONNXRUNTIME,
       mixed['name'])]
  # All four can serve this network: the table takes the fastest of them
  # at batch 1 and at batch 32.
  (entry,) = result['serving']
  assert entry['latency_ms'] == min(r['latency_ms'] for r in result['rows'])
  assert entry['infer_images_per_s'] == max(r['infer_images_per_s']
                                            for r in result['rows'])
  assert (full['name'], full['kind'], full['of']) == (
      mixed['name'] + ', fp32', report.OURS_FP32, mixed['name'])
  # Each row's share is of the matmul peak of its own precision.
  assert mixed['peak_share'] == pytest.approx(
      mixed['train_gflops'] / result['matmul_gflops'])
  assert full['peak_share'] == pytest.approx(
      full['train_gflops'] / result['matmul_fp32_gflops'])
  (ratio,) = result['precision_ratios']
  assert ratio['network'] == mixed['name']
  assert ratio['train'] == pytest.approx(
      mixed['train_images_per_s'] / full['train_images_per_s'])
  assert result['ratios'] == []  # no competitor in this run
  assert '| ours, bf16 / fp32 | training |' in report.format_table(result)


def test_precision_ratios_by_hand():
  rows = [
      dict(name='net', kind='ours', family='F', latency_ms=20.0,
           infer_images_per_s=90.0, train_images_per_s=6.0),
      dict(name='net, fp32', kind=report.OURS_FP32, of='net', family='F',
           latency_ms=30.0, infer_images_per_s=60.0, train_images_per_s=4.0),
      dict(name='keras', kind='keras', family='F', latency_ms=50.0,
           infer_images_per_s=60.0, train_images_per_s=2.0,
           best_latency_ms=40.0, best_infer_images_per_s=75.0),
  ]
  (ratio,) = report.precision_ratios(rows)
  assert ratio == {'network': 'net', 'train': pytest.approx(1.5),
                   'infer_batch_32': pytest.approx(1.5),
                   'latency_batch_1': pytest.approx(1.5)}
  # Ours against Keras in the run's precision only; the fp32 row can serve.
  assert [r['ours'] for r in report.ratios(rows)] == ['net']
  (entry,) = report.serving(rows)
  assert (entry['latency_path'], entry['infer_path']) == ('net', 'net')
  table = report.format_table({
      'machine': {'cpu': 'cpu', 'cores': 2, 'tensorflow': 'x'}, 'size': 224,
      'batch': 16, 'precision': 'bf16', 'repeats': 5, 'matmul_gflops': 1.0,
      'rows': rows, 'ratios': [], 'serving': [entry],
      'precision_ratios': [ratio]})
  assert ('| ours, bf16 / fp32 | training | inference batch 32 | '
          'latency batch 1 (fp32/bf16) |') in table
  assert '| net | 1.50x | 1.50x | 1.50x |' in table
