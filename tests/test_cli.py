"""The resnet-tf1 command line, end to end on the bundled digits."""

import json

import numpy as np
import pytest
import tensorflow as tf

from resnet_v1_graph import cli


@pytest.fixture(scope='module')
def run(module_dir):
  path = module_dir('cli')
  flags = ['--model-path', str(path / 'model'),
           '--summary-path', str(path / 'summary')]
  return path, flags


def test_train_evaluate_predict(run, capsys):
  path, flags = run
  assert cli.main(['train', '--image-size', '8', '--epoch', '1',
                   '--batch-size', '64', '--batch-norm-momentum', '0.5']
                  + flags) == 0
  out = capsys.readouterr().out
  assert 'training ResNet-18 on digits' in out
  assert 'epoch 1/1' in out
  accuracy = float(out.split('test accuracy: ')[1].split()[0])
  saved = json.load(open(path / 'model' / 'config.json'))
  assert (saved['height'], saved['channel'], saved['num_classes']) == (8, 1, 10)

  # evaluate rebuilds the saved network and restores the best checkpoint.
  assert cli.main(['evaluate', '--model-path', str(path / 'model')]) == 0
  out = capsys.readouterr().out
  assert float(out.split('test accuracy: ')[1].split()[0]) == pytest.approx(
      accuracy, abs=1e-6)

  assert cli.main(['predict', '--model-path', str(path / 'model'),
                   '--limit', '4']) == 0
  rows = capsys.readouterr().out.strip().splitlines()
  assert rows[0] == 'index\tpredicted\ttrue' and len(rows) == 5

  image = tf.io.encode_png(np.full((20, 20, 1), 200, np.uint8)).numpy()
  files = []
  for i in range(2):
    files.append(str(path / ('digit%d.png' % i)))
    open(files[-1], 'wb').write(image)
  assert cli.main(['predict', '--model-path', str(path / 'model'),
                   '--images'] + files) == 0
  rows = capsys.readouterr().out.strip().splitlines()
  assert [r.split('\t')[0] for r in rows] == files
  assert len({r.split('\t')[1] for r in rows}) == 1  # Same image, same label.


def test_bad_command_lines(run, tmp_path, capsys):
  _, flags = run
  with pytest.raises(SystemExit):
    cli.main(['train', '--dataset', 'mnist'])
  capsys.readouterr()
  # The message alone, on stderr, exit code 2; --debug shows the trace.
  assert cli.main(['train', '--depth', '19', '--model-path',
                   str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith('resnet-tf1 train: invalid config: unknown depth 19')
  assert 'Traceback' not in err
  with pytest.raises(ValueError, match='unknown depth 19'):
    cli.main(['--debug', 'train', '--depth', '19', '--model-path',
              str(tmp_path)])
  assert cli.main(['train', '--dataset', 'cifar10', '--data-path',
                   str(tmp_path / 'nowhere'), '--model-path',
                   str(tmp_path)]) == 2
  assert 'nowhere' in capsys.readouterr().err
  bad_yaml = tmp_path / 'bad.yaml'
  bad_yaml.write_text('depth: [18\n')
  assert cli.main(['train', '--config', str(bad_yaml)]) == 2
  assert 'bad.yaml is not valid YAML' in capsys.readouterr().err


def test_a_run_is_rebuilt_from_its_directory_alone(tmp_path, capsys):
  model_path = str(tmp_path / 'model')
  assert cli.main(['train', '--model', 'cifar_resnet20', '--image-size', '8',
                   '--epoch', '1', '--batch-size', '128',
                   '--model-path', model_path,
                   '--summary-path', str(tmp_path / 'summary')]) == 0
  out = capsys.readouterr().out
  assert 'training cifar_resnet20 on digits' in out
  accuracy = float(out.split('test accuracy: ')[1].split()[0])
  saved = json.load(open(tmp_path / 'model' / 'config.json'))
  assert saved['model'] == 'cifar_resnet20'

  # No --model, no shape flags: config.json names the network.
  assert cli.main(['evaluate', '--model-path', model_path]) == 0
  out = capsys.readouterr().out
  assert float(out.split('test accuracy: ')[1].split()[0]) == pytest.approx(
      accuracy, abs=1e-6)
  frozen = tmp_path / 'model.pb'
  assert cli.main(['export', '--model-path', model_path,
                   '--frozen', str(frozen)]) == 0
  assert frozen.stat().st_size > 0


def test_model_choices_come_from_the_registry(tmp_path, capsys):
  with pytest.raises(SystemExit):
    cli.main(['train', '--model', 'resnet_v3_50'])
  assert 'cifar_plain110' in capsys.readouterr().err
  assert cli.main(['export', '--model-path', str(tmp_path), '--frozen',
                   str(tmp_path / 'm.pb')]) == 2
  assert 'not a training run' in capsys.readouterr().err
