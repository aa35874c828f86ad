"""The machine a run measures itself on: CPU model, cores, ISA features.

Speeds are only comparable on one CPU, so the benchmark records this in its
report and `xla_choice` keys its cached verdicts by it.
"""

import os
import platform

import tensorflow as tf2

# CPU features that decide which kernels win. AVX2 without AVX-512 is where
# XLA's code beat oneDNN's; AVX512-BF16 only converts and takes dot products
# at the fp32 FMA rate, and AMX tiles are what make bf16 fast.
ISA_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'avx512_fp16', 'amx_tile',
             'amx_bf16')


def machine():
  """{'cpu', 'cores', 'tensorflow', 'isa'}: the CPU's model name, the core
  count, TensorFlow's version and which of `ISA_FLAGS` the CPU has."""
  cpu = platform.processor() or platform.machine()
  flags = set()
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
        elif line.startswith('flags') and not flags:
          flags = set(line.split(':', 1)[1].split())
  except OSError:  # not Linux: the platform's name, no flags
    pass
  return {'cpu': cpu, 'cores': os.cpu_count(), 'tensorflow': tf2.__version__,
          'isa': [flag for flag in ISA_FLAGS if flag in flags]}
