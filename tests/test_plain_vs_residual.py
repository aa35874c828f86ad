"""scripts/plain_vs_residual.py: its verdict logic and a short real run."""

import importlib.util
import json
import os

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'scripts',
                      'plain_vs_residual.py')


@pytest.fixture(scope='module')
def script():
  spec = importlib.util.spec_from_file_location('plain_vs_residual', SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _history(train_accuracy, val_accuracy):
  return {'epoch': [1, 2], 'train_accuracy': train_accuracy,
          'val_accuracy': val_accuracy, 'seconds': 1.0}


@pytest.mark.parametrize('plain_deep,residual_deep,shown', [
    (0.80, 0.99, True),    # Deep plain worse, deep residual better.
    (0.80, 0.915, True),   # Deep residual within the margin: holds.
    (0.895, 0.99, False),  # Deep plain within the margin: no degradation.
    (0.80, 0.85, False),   # Deep residual worse too.
])
def test_verdict(script, plain_deep, residual_deep, shown):
  results = {
      'cifar_plain20': [_history([0.5, 0.90], [0.5, 0.9])],
      'cifar_resnet20': [_history([0.5, 0.92], [0.5, 0.9])],
      'cifar_plain56': [_history([0.5, plain_deep], [0.5, 0.8])],
      'cifar_resnet56': [_history([0.5, residual_deep], [0.5, 0.95])],
  }
  rows, verdict = script.summarize(results, script._pairs('cifar', [20, 56]))
  assert verdict['shown'] is shown
  assert [r['network'] for r in rows] == ['cifar_plain20', 'cifar_resnet20',
                                          'cifar_plain56', 'cifar_resnet56']
  assert rows[2]['train_error'] == pytest.approx(1 - plain_deep)
  text = script.markdown(rows, verdict)
  assert ('Degradation shown' in text) is shown
  assert ('NOT shown' in text) is (not shown)


def test_short_run_writes_plot_and_table(script, tmp_path, capsys):
  assert script.main(['--depths', '20', '32', '--seeds', '0', '--epochs',
                      '1', '--image-size', '8', '--batch-size', '128',
                      '--output', str(tmp_path)]) == 0
  with open(tmp_path / 'plain_vs_residual.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  table = (tmp_path / 'plain_vs_residual.md').read_text().splitlines()
  assert table[0] == ('| network | depth | final training error | final '
                      'validation accuracy | wall time (s) |')
  assert len([l for l in table if l.startswith('| cifar_')]) == 4
  saved = json.load(open(tmp_path / 'plain_vs_residual.json'))
  assert set(saved['verdict']) == {'shallow', 'deep', 'plain_degrades',
                                   'residual_holds', 'shown'}
  assert 'wall time' in capsys.readouterr().out
