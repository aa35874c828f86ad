"""resnet_v1_graph.config: one validated object, read from files."""

import json

import pytest

from resnet_v1_graph import config


def test_defaults_are_valid_and_frozen():
  cfg = config.DEFAULTS
  assert cfg.depth in config.DEPTHS
  with pytest.raises(Exception):
    cfg.depth = 50  # Frozen: validated once, then read-only.


@pytest.mark.parametrize('suffix,dump', [
    ('.json', json.dumps),
    ('.yaml', lambda d: '\n'.join('%s: %s' % kv for kv in d.items())),
])
def test_round_trip_through_files(tmp_path, suffix, dump):
  values = {'depth': 50, 'epoch': 3, 'learning_rate': 0.0005,
            'model_path': 'somewhere'}
  path = tmp_path / ('train' + suffix)
  path.write_text(dump(values))
  cfg = config.Config.from_file(str(path))
  assert (cfg.depth, cfg.epoch, cfg.learning_rate, cfg.model_path) == (
      50, 3, 0.0005, 'somewhere')
  assert cfg.batch_size == config.DEFAULTS.batch_size
  assert config.Config.from_dict(cfg.to_dict()) == cfg


def test_every_problem_is_named_at_once():
  with pytest.raises(ValueError) as error:
    config.DEFAULTS.replace(depth=19, batch_size=0, learning_rate=-1.0,
                            precision='fp8')
  message = str(error.value)
  for expected in ('unknown depth 19', 'batch_size', 'learning_rate',
                   'precision'):
    assert expected in message


def test_file_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    config.Config.from_file(str(tmp_path / 'missing.json'))
  listing = tmp_path / 'list.json'
  listing.write_text('[1, 2]')
  with pytest.raises(ValueError, match='must hold a mapping'):
    config.Config.from_file(str(listing))
  typo = tmp_path / 'typo.json'
  typo.write_text('{"epochs": 3}')
  with pytest.raises(ValueError, match=r"unknown config field\(s\) \['epochs'\]"):
    config.Config.from_file(str(typo))


def test_the_network_name_is_checked_against_the_registry():
  assert config.DEFAULTS.model == 'resnet'
  assert config.DEFAULTS.replace(model='cifar_plain20').model == (
      'cifar_plain20')
  with pytest.raises(ValueError, match="unknown model 'resnet_v3_50'.*"
                                       "resnet_v2_50"):
    config.DEFAULTS.replace(model='resnet_v3_50')
  with pytest.raises(ValueError, match='no Keras counterpart'):
    config.DEFAULTS.replace(model='resnet_v1_50', keras_compatible=True)
