"""The benchmark's arithmetic (its timings are never asserted)."""

import pytest

from resnet_v1_graph import benchmark
from resnet_v2_slim import resnet_v2


def test_ratios_pair_networks_by_family():
  rows = [
      dict(name='ours50', kind='ours', family='ResNet50V2',
           train_images_per_s=6.0, infer_images_per_s=20.0, latency_ms=50.0),
      dict(name='keras50', kind='keras', family='ResNet50V2',
           train_images_per_s=4.0, infer_images_per_s=10.0, latency_ms=100.0),
      dict(name='keras50v1', kind='keras', family='ResNet50',
           train_images_per_s=1.0, infer_images_per_s=1.0, latency_ms=1.0),
  ]
  (ratio,) = benchmark.ratios(rows)
  assert (ratio['ours'], ratio['theirs']) == ('ours50', 'keras50')
  assert ratio['train'] == pytest.approx(1.5)
  assert ratio['infer_batch_32'] == pytest.approx(2.0)
  assert ratio['latency_batch_1'] == pytest.approx(2.0)
  table = benchmark.format_table({
      'machine': {'cpu': 'cpu', 'cores': 2, 'tensorflow': 'x'}, 'size': 224,
      'batch': 16, 'precision': 'fp32', 'repeats': 5, 'matmul_gflops': 100.0,
      'rows': rows, 'ratios': [ratio]})
  assert '| ours50 / keras50 | 1.50x | 2.00x | 2.00x |' in table


def test_forward_flops_of_resnet_v2_50_at_224():
  # He et al. report 3.8 billion multiply-adds for ResNet-50: ~7.7 GFLOP.
  flops = benchmark.forward_flops(
      benchmark._slim_network(resnet_v2, 'resnet_v2_50'), 224)
  assert 7.0e9 < flops < 8.5e9
