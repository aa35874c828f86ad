"""`evaluate --watch` follows a training run that another process writes."""

import glob
import os
import re
import subprocess
import sys

import pytest

from resnet_v1_graph import classifier
from resnet_v1_graph import cli
from resnet_v1_graph import data
from resnet_v1_graph.training import rundir

TRAIN = ['--model', 'cifar_resnet20', '--image-size', '8', '--epoch', '3',
         '--batch-size', '128']


def test_watch_evaluates_checkpoints_as_they_appear_then_stops(tmp_path,
                                                               capsys):
  model_path = str(tmp_path / 'model')
  summary_path = str(tmp_path / 'summary')
  # Started before training exists: it waits for the run to appear.
  watcher = subprocess.Popen(
      [sys.executable, '-m', 'resnet_v1_graph.cli', 'evaluate', '--watch',
       '--timeout', '25', '--model-path', model_path,
       '--summary-path', summary_path],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    assert cli.main(['train', '--model-path', model_path, '--summary-path',
                     summary_path] + TRAIN) == 0
    capsys.readouterr()
    out, _ = watcher.communicate(timeout=240)
  finally:
    watcher.kill()
  assert watcher.returncode == 0, out
  rows = re.findall(r'step (\d+): top-1 ([\d.]+) top-5 ([\d.]+) loss', out)
  steps = [int(step) for step, _, _ in rows]
  assert steps and steps == sorted(set(steps)), out
  # The newest checkpoint is always among those evaluated.
  last = max(int(re.search(r'-(\d+)\.index$', p).group(1))
             for p in glob.glob(os.path.join(model_path, 'model.ckpt-*.index')))
  assert steps[-1] == last, out
  assert re.search(r'evaluated %d checkpoints?; none new for 25 s'
                   % len(steps), out), out
  # Its numbers are those of that checkpoint, evaluated on its own.
  checkpoint = os.path.join(model_path, 'model.ckpt-%d' % last)
  cfg = rundir.RunDir.read_config(model_path)
  model = classifier.Classifier(cfg.replace(verbose=False))
  model.restore(checkpoint)
  metrics = model.evaluate(data.load_digits(image_size=8).test)
  model.close()
  assert float(rows[-1][1]) == pytest.approx(metrics['accuracy'], abs=1e-4)
  assert float(rows[-1][2]) == pytest.approx(metrics['top5'], abs=1e-4)
  assert glob.glob(os.path.join(summary_path, 'evaluation', 'events.*'))


def test_watch_without_a_run_stops_on_its_timeout(tmp_path, capsys):
  assert cli.main(['evaluate', '--watch', '--timeout', '1',
                   '--model-path', str(tmp_path / 'none')]) == 1
  assert 'no training run appeared' in capsys.readouterr().out
