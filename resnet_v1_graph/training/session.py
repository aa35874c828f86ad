"""The one place sessions are opened, so every caller gets the same settings.

Training, evaluation, fine-tuning, export and the benchmark all open their
sessions here: thread pools, precision rewrites and XLA come from the
`config.Config` and are never dropped by a caller that forgot one.

Typical use:

  from resnet_v1_graph.training import session as session_lib

  with session_lib.open_session(model.graph, model.config) as session:
    session.run(...)
"""

import os
import warnings

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

# TensorFlow clusters CPU graphs for XLA only when this flag is set before it
# starts; `global_jit_level` alone is ignored on a CPU.
XLA_CPU_FLAG = '--tf_xla_cpu_global_jit'


def session_config(cfg):
  """The `tf.ConfigProto` for a config: thread pools, precision, XLA.

  'bf16' turns on oneDNN's automatic mixed precision graph rewrite, which
  runs matmuls and convolutions in bfloat16 on CPUs that have it (AVX512-BF16,
  AMX) while variables and the loss stay float32. 'fp16' turns on the CUDA
  rewrite (the model adds dynamic loss scaling); on a CPU it changes nothing.

  Args:
    cfg: A `config.Config`.

  With `cfg.num_clones` > 1 the session has that many logical CPU devices
  for the towers.

  Returns:
    A `tf.ConfigProto`. With `cfg.xla` on a CPU-only machine without
    `TF_XLA_FLAGS=--tf_xla_cpu_global_jit`, also a RuntimeWarning that XLA
    will not run.
  """
  proto = tf.ConfigProto(
      intra_op_parallelism_threads=cfg.intra_op_threads,
      inter_op_parallelism_threads=cfg.inter_op_threads)
  if cfg.num_clones > 1:
    # Towers without a GPU each run on a logical CPU device (see
    # `model.tower_devices`), which exists only if the session makes it.
    proto.device_count['CPU'] = cfg.num_clones
  rewrites = proto.graph_options.rewrite_options
  if cfg.precision == 'bf16':
    rewrites.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  elif cfg.precision == 'fp16':
    rewrites.auto_mixed_precision = rewriter_config_pb2.RewriterConfig.ON
  if cfg.xla:
    proto.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
    if (XLA_CPU_FLAG not in os.environ.get('TF_XLA_FLAGS', '')
        and not tf.config.list_physical_devices('GPU')):
      warnings.warn(
          'xla=True has no effect on a CPU-only machine: TensorFlow clusters '
          'CPU graphs for XLA only with TF_XLA_FLAGS=%s set before it starts '
          '(and then ResNet training ran slower here; see BENCHMARKS.md).'
          % XLA_CPU_FLAG, RuntimeWarning, stacklevel=2)
  return proto


def open_session(graph, cfg):
  """A `tf.Session` on `graph` with the settings of `cfg` (see above)."""
  return tf.Session(graph=graph, config=session_config(cfg))
