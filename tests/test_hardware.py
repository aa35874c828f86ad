"""What a run records of its machine: two virtual CPUs that share a model
name and ISA flags are told apart by their family and model."""

from resnet_v1_graph.training import hardware

FLAGS = ('fpu vme sse sse2 ht syscall nx avx f16c avx2 bmi2 avx512f avx512dq '
         'avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni')


def _cpuinfo(family, model, stepping, cores=2):
  """Text laid out as Linux's /proc/cpuinfo on an x86 guest, one entry
  per core; the second core's entry says another model, which must not be
  read."""
  entries = []
  for core in range(cores):
    entries.append('\n'.join([
        'processor\t: %d' % core,
        'vendor_id\t: AuthenticAMD',
        'cpu family\t: %d' % family,
        'model\t\t: %d' % (model + core),
        'model name\t: AMD EPYC',
        'stepping\t: %d' % stepping,
        'microcode\t: 0x1000065',
        'cpu MHz\t\t: 2596.122',
        'flags\t\t: %s' % FLAGS,
        'bogomips\t: 5192.24',
        'power management:', '']))
  return '\n'.join(entries)


def test_zen4_and_zen5_guests_differ_only_in_their_signature(tmp_path):
  zen4 = tmp_path / 'zen4'
  zen4.write_text(_cpuinfo(25, 17, 1))
  zen5 = tmp_path / 'zen5'
  zen5.write_text(_cpuinfo(26, 2, 0))

  four = hardware.machine(str(zen4))
  five = hardware.machine(str(zen5))
  assert four['cpu'] == five['cpu'] == 'AMD EPYC'
  assert four['isa'] == five['isa'] == ['avx2', 'avx512f', 'avx512_bf16']
  assert four['signature'] == 'AuthenticAMD family 25 model 17 stepping 1'
  assert five['signature'] == 'AuthenticAMD family 26 model 2 stepping 0'


def test_a_cpuinfo_without_the_fields_gives_an_empty_signature(tmp_path):
  # An Arm guest's /proc/cpuinfo: no vendor, family or model name lines.
  arm = tmp_path / 'arm'
  arm.write_text('processor\t: 0\nBogoMIPS\t: 50.00\n'
                 'Features\t: fp asimd evtstrm aes crc32\n'
                 'CPU implementer\t: 0x41\nCPU part\t: 0xd0c\n\n')
  described = hardware.machine(str(arm))
  assert described['signature'] == '' and described['isa'] == []
  assert described['cpu']  # the platform's name stands in

  missing = hardware.machine(str(tmp_path / 'absent'))
  assert missing['signature'] == '' and missing['isa'] == []


def test_describe_names_the_design_when_it_is_known(tmp_path):
  zen4 = tmp_path / 'zen4'
  zen4.write_text(_cpuinfo(25, 17, 1))
  assert hardware.describe(hardware.machine(str(zen4))) == (
      'AMD EPYC (AuthenticAMD family 25 model 17 stepping 1)')
  # A report written before signatures were recorded.
  assert hardware.describe({'cpu': 'AMD EPYC', 'cores': 2}) == 'AMD EPYC'
  assert hardware.describe().startswith(hardware.machine()['cpu'])


def test_the_environment_records_only_the_variables_that_change_kernels(
    monkeypatch):
  for name in hardware.SPEED_VARIABLES:
    monkeypatch.delenv(name, raising=False)
  assert hardware.machine()['environment'] == {}
  assert hardware.describe_environment() == ''
  monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', 'AVX2')
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_max_isa=AVX2')
  monkeypatch.setenv('TF_ENABLE_ONEDNN_OPTS', '')  # set but empty: unset
  monkeypatch.setenv('OMP_DISPLAY_ENV', 'TRUE')  # not one of them
  described = hardware.machine()
  assert described['environment'] == {
      'ONEDNN_MAX_CPU_ISA': 'AVX2', 'XLA_FLAGS': '--xla_cpu_max_isa=AVX2'}
  assert hardware.describe_environment(described) == (
      'ONEDNN_MAX_CPU_ISA=AVX2, XLA_FLAGS=--xla_cpu_max_isa=AVX2')
  assert hardware.environment({'TF_XLA_FLAGS': '--x', 'HOME': '/'}) == {
      'TF_XLA_FLAGS': '--x'}
  # A report written before the environment was recorded.
  assert hardware.describe_environment({'cpu': 'AMD EPYC'}) == ''
