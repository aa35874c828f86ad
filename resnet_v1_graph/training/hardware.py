"""The machine a run measures itself on: CPU model and design, cores, ISA
features, and the environment variables that change which kernels run.

Speeds are only comparable on one CPU in one setting, so the benchmark
records this in its report and `xla_choice` keys its cached verdicts by it.
"""

import os
import platform

import tensorflow as tf2

# CPU features that decide which kernels win. AVX2 without AVX-512 is where
# XLA's code beat oneDNN's; AMX tiles make bf16 fast. AVX512-BF16 alone
# decides less: its dot products ran at half the fp32 rate on a Xeon and at
# 1.6-1.8 times it on a Zen 4 EPYC (BENCHMARKS.md), so the flags are
# recorded with the CPU's design (`machine()['signature']`).
ISA_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'avx512_fp16', 'amx_tile',
             'amx_bf16')


# The lines of /proc/cpuinfo that name a CPU's design. Its model name alone
# does not: virtual machines on AMD's Zen 4 and Zen 5 EPYCs both call
# themselves "AMD EPYC", with the same ISA_FLAGS, yet rank XLA and oneDNN
# by different margins (BENCHMARKS.md).
# Each with the word the signature gives it ('' for the vendor).
SIGNATURE_FIELDS = (('vendor_id', ''), ('cpu family', 'family'),
                    ('model', 'model'), ('stepping', 'stepping'))


# Read by TensorFlow, XLA or oneDNN when a process starts, and each changes
# the code a step runs: what XLA clusters (`--tf_xla_ops_to_cluster`), the
# instructions XLA's code may use (`--xla_cpu_max_isa`), whether oneDNN's
# kernels replace TensorFlow's own, the newest instructions oneDNN may use
# (AVX2 on an AVX-512 CPU, say) and its arithmetic (bf16 for fp32 math).
SPEED_VARIABLES = ('TF_XLA_FLAGS', 'XLA_FLAGS', 'TF_ENABLE_ONEDNN_OPTS',
                   'ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA',
                   'ONEDNN_DEFAULT_FPMATH_MODE', 'DNNL_DEFAULT_FPMATH_MODE')


def environment(environ=None):
  """{name: value} of the `SPEED_VARIABLES` set (non-empty) in `environ`
  (default: this process's)."""
  environ = os.environ if environ is None else environ
  return {name: environ[name] for name in SPEED_VARIABLES
          if environ.get(name)}


def machine(cpuinfo='/proc/cpuinfo'):
  """{'cpu', 'signature', 'cores', 'tensorflow', 'isa', 'environment'}: the
  CPU's model name; its vendor, family, model and stepping (e.g.
  'AuthenticAMD family 25 model 17 stepping 1', '' where the file does not
  say); the core count, TensorFlow's version, which of `ISA_FLAGS` the CPU
  has, and `environment()`.

  Only the first processor's entry of `cpuinfo` is read."""
  cpu = platform.processor() or platform.machine()
  fields = {}
  try:
    with open(cpuinfo, encoding='utf-8') as f:
      for line in f:
        if not line.strip():
          if fields:
            break  # the end of the first processor's entry
          continue
        key, _, value = line.partition(':')
        fields.setdefault(key.strip(), value.strip())
  except OSError:  # not Linux: the platform's name, no flags
    pass
  cpu = fields.get('model name') or cpu
  flags = set(fields.get('flags', '').split())
  signature = ' '.join(
      ('%s %s' % (word, fields[field])).strip()
      for field, word in SIGNATURE_FIELDS if fields.get(field))
  return {'cpu': cpu, 'signature': signature, 'cores': os.cpu_count(),
          'tensorflow': tf2.__version__,
          'isa': [flag for flag in ISA_FLAGS if flag in flags],
          'environment': environment()}


def describe(described=None):
  """The CPU in a line, e.g. 'AMD EPYC (AuthenticAMD family 25 model 17
  stepping 1)': `described` (a `machine()` dict, perhaps read back from a
  report without a signature), else this machine."""
  described = described or machine()
  signature = described.get('signature')
  return described['cpu'] + (' (%s)' % signature if signature else '')


def describe_environment(described=None):
  """'A=1, B=2': the `SPEED_VARIABLES` a run was started with ('' for
  none), from `described` (a `machine()` dict) or this process."""
  settings = (environment() if described is None
              else described.get('environment') or {})
  return ', '.join('%s=%s' % item for item in sorted(settings.items()))
