"""XLA from the config: xla=True compiles on a CPU, xla='auto' measures once
per machine and setting, and the answers agree either way."""

import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import cli
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import ResNet
from resnet_v1_graph.training import hardware
from resnet_v1_graph.training import session as session_lib
from resnet_v1_graph.training import xla_choice

SIZE = 16


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv('RESNET_TF1_CACHE', str(tmp_path / 'cache'))
  return tmp_path / 'cache' / xla_choice.CACHE_FILE


def _resnet18(tmp_path, name='model', **kwargs):
  settings = dict(depth=18, height=SIZE, width=SIZE, channel=1,
                  num_classes=10, batch_size=8, epoch=1, verbose=False,
                  model_path=str(tmp_path / name),
                  summary_path=str(tmp_path / (name + '_summary')))
  settings.update(kwargs)
  return ResNet(**settings)


def _feed(model, seed=0):
  rng = np.random.RandomState(seed)
  return {model.input_x: rng.uniform(size=(8, SIZE, SIZE, 1)),
          model.input_y: np.eye(10)[rng.randint(0, 10, 8)],
          model.is_training: True}


def _ran_xla(session, fetch, feed):
  """Whether a traced run of `fetch` executed XLA-compiled clusters."""
  metadata = tf.RunMetadata()
  session.run(fetch, feed, options=tf.RunOptions(
      trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
  return any(stats.node_name.split(':')[0].endswith('/xla_run')
             for device in metadata.step_stats.dev_stats
             for stats in device.node_stats)


def test_xla_from_the_config_compiles_on_a_cpu_and_agrees(tmp_path,
                                                          monkeypatch):
  # No TF_XLA_FLAGS: the config alone must be enough.
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  model = _resnet18(tmp_path)
  feed = _feed(model)
  with model.graph.as_default():
    init = tf.global_variables_initializer()
    saver = tf.train.Saver()
  images = feed[model.input_x]
  results, ran = {}, {}
  path = None
  for xla in (False, True):
    cfg = model.config.replace(xla=xla)
    with session_lib.open_session(model.graph, cfg) as session:
      if path is None:  # both start from the same weights
        session.run(init)
        path = saver.save(session, str(tmp_path / 'start.ckpt'))
      else:
        saver.restore(session, path)
      before = session.run([model.loss, model.logits], feed)
      inference = session.run(model.logits, {model.input_x: images})
      ran[xla] = _ran_xla(session, model.optimize, feed)
      results[xla] = before + [inference, session.run(model.loss, feed)]
  assert ran == {False: False, True: True}
  # The same weights give the same training-mode loss and logits and the
  # same inference logits. After a step, only the training-mode loss is
  # compared: the convolutions' biases sit before batch norm, which cancels
  # their gradient, so Adam's first step moves them by +-lr in the
  # direction of rounding noise, differently in XLA and in oneDNN; batch
  # statistics cancel them again, moving averages (at inference) do not.
  for got, want in zip(results[True], results[False]):
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize('times,chosen', [
    ({'default': 1.0, 'xla': 0.90}, True),
    ({'default': 1.0, 'xla': 0.96}, False),   # within the margin: a tie
    ({'default': 1.0, 'xla': 1.30}, False),
])
def test_verdict(times, chosen):
  assert xla_choice.verdict(times) is chosen


def test_auto_measures_once_per_machine_and_setting(tmp_path, cache,
                                                    monkeypatch):
  model = _resnet18(tmp_path, xla='auto')
  calls = []

  def fake_measure(measured, init_op, cfg):
    calls.append((measured, cfg.xla))
    return {'default': 0.200, 'xla': 0.150}

  use, message = xla_choice.choose(model, None, measure_steps=fake_measure)
  assert use is True and calls == [(model, 'auto')]
  assert ('XLA on (a training step took 150.0 ms with XLA, 200.0 ms '
          'without; measured now' in message and str(cache) in message)
  entry, = json.loads(cache.read_text()).values()
  assert entry['step_ms'] == {'default': 200.0, 'xla': 150.0}

  use, message = xla_choice.choose(model, None, measure_steps=fake_measure)
  assert use is True and len(calls) == 1 and 'measured 20' in message

  other = _resnet18(tmp_path, 'other', xla='auto', batch_size=16)
  xla_choice.choose(other, None, measure_steps=fake_measure)
  assert len(calls) == 2  # another batch size is another setting
  real = hardware.machine()
  monkeypatch.setattr(hardware, 'machine',
                      lambda: dict(real, cpu='AMD EPYC', isa=['avx2']))
  xla_choice.choose(model, None, measure_steps=fake_measure)
  assert len(calls) == 3  # another CPU is measured afresh
  # Two guests that share a model name and flags (Zen 4 and Zen 5 EPYCs);
  # 'cores' keeps them apart from the machine running this test.
  zen4 = dict(real, cpu='AMD EPYC', isa=['avx2', 'avx512f', 'avx512_bf16'],
              signature='AuthenticAMD family 25 model 17 stepping 1',
              cores=real['cores'] + 1)
  monkeypatch.setattr(hardware, 'machine', lambda: zen4)
  xla_choice.choose(model, None, measure_steps=fake_measure)
  assert len(calls) == 4
  zen5 = dict(zen4, signature='AuthenticAMD family 26 model 2 stepping 0')
  monkeypatch.setattr(hardware, 'machine', lambda: zen5)
  xla_choice.choose(model, None, measure_steps=fake_measure)
  assert len(calls) == 5  # same name and flags, another design
  # oneDNN held to AVX2 (or XLA's flags changed) runs other code on the
  # same CPU; with them back as they were, the verdict is cached.
  monkeypatch.setattr(hardware, 'machine', lambda: dict(
      zen5, environment={'ONEDNN_MAX_CPU_ISA': 'AVX2'}))
  xla_choice.choose(model, None, measure_steps=fake_measure)
  assert len(calls) == 6
  monkeypatch.setattr(hardware, 'machine', lambda: dict(
      zen5, environment={'TF_XLA_FLAGS': '--tf_xla_ops_to_cluster=FUSIBLE'}))
  xla_choice.choose(model, None, measure_steps=fake_measure)
  assert len(calls) == 7
  monkeypatch.setattr(hardware, 'machine', lambda: zen5)
  xla_choice.choose(model, None, measure_steps=fake_measure)
  assert len(calls) == 7
  assert len(json.loads(cache.read_text())) == 7


def test_an_unreadable_cache_is_measured_again(tmp_path, cache):
  cache.parent.mkdir(parents=True)
  cache.write_text('{"truncated')
  model = _resnet18(tmp_path, xla='auto')
  use, _ = xla_choice.choose(model, None, measure_steps=lambda *_: {
      'default': 0.1, 'xla': 0.2})
  assert use is False and len(json.loads(cache.read_text())) == 1


def test_fit_with_auto_measures_says_and_trains_with_the_choice(
    tmp_path, cache, capsys):
  digits = data.load_digits(image_size=SIZE)
  model = _resnet18(tmp_path, xla='auto', verbose=True, batch_size=64)
  model.fit(digits.train, digits.validation)
  printed = capsys.readouterr().out
  entry, = json.loads(cache.read_text()).values()
  chosen = xla_choice.verdict(entry['step_ms'])
  assert all(ms > 0 for ms in entry['step_ms'].values())
  assert 'xla=auto: XLA %s' % ('on' if chosen else 'off') in printed
  assert model.trainer.config.xla is chosen
  proto = session_lib.session_config(model.trainer.config)
  assert proto.graph_options.optimizer_options.global_jit_level == (
      tf.OptimizerOptions.ON_1 if chosen else 0)


def test_auto_must_be_settled_before_a_session_opens():
  with pytest.raises(ValueError, match="xla='auto' must be settled"):
    session_lib.session_config(config_lib.DEFAULTS.replace(xla='auto'))


@pytest.mark.parametrize('text,value', [
    ('auto', 'auto'), ('AUTO', 'auto'), ('true', True), ('off', False),
    ('1', True)])
def test_xla_from_text(text, value):
  assert config_lib.DEFAULTS.replace(xla=text).xla == value
  args = cli.build_parser().parse_args(['train', '--xla', text])
  assert args.xla == value


def test_a_bad_xla_value_is_named(capsys):
  with pytest.raises(ValueError, match="xla must be true, false or 'auto', "
                                       "got 'sometimes'"):
    config_lib.DEFAULTS.replace(xla='sometimes')
  with pytest.raises(SystemExit):
    cli.build_parser().parse_args(['train', '--xla', 'sometimes'])
  assert "xla must be true, false or 'auto'" in capsys.readouterr().err


def test_the_cache_lives_where_the_environment_says(monkeypatch, tmp_path):
  monkeypatch.setenv('RESNET_TF1_CACHE', str(tmp_path))
  assert xla_choice.cache_dir() == str(tmp_path)
  monkeypatch.delenv('RESNET_TF1_CACHE')
  assert xla_choice.cache_dir() == os.path.join(
      os.path.expanduser('~'), '.cache', 'resnet-tf1')
