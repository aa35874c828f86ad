"""The one place sessions are opened, so every caller gets the same settings.

Training, evaluation, fine-tuning, export and the benchmark all open their
sessions here: thread pools, precision rewrites and XLA come from the
`config.Config` and are never dropped by a caller that forgot one.

Typical use:

  from resnet_v1_graph.training import session as session_lib

  with session_lib.open_session(model.graph, model.config) as session:
    session.run(...)
"""

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2
from tensorflow.python import _pywrap_tfe

from resnet_v1_graph import config as config_lib

# TensorFlow clusters a CPU graph for XLA only with its flag
# `tf_xla_cpu_global_jit` on (`TF_XLA_FLAGS=--tf_xla_cpu_global_jit` at
# start), and it reads the flag when the process's first session runs; set
# later, it changes nothing. So it is set here, before any session of ours.
# It only makes CPUs eligible: a session whose config leaves
# `global_jit_level` off (xla=False) still compiles nothing.
_pywrap_tfe.TF_SetTfXlaCpuGlobalJit(1)


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
    A `tf.ConfigProto`.

  Raises:
    ValueError: If `cfg.xla` is still 'auto' (see `xla_choice`).
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
  if cfg.xla == config_lib.XLA_AUTO:
    raise ValueError(
        "xla='auto' must be settled before a session opens: the trainer "
        'measures it (training.xla_choice.choose); pass xla=True or False')
  if cfg.xla:
    proto.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
  return proto


def open_session(graph, cfg):
  """A `tf.Session` on `graph` with the settings of `cfg` (see above)."""
  return tf.Session(graph=graph, config=session_config(cfg))
