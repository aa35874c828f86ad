"""RunDir: one owner for the files of a run, checked against what is on disk."""

import json

import tensorflow.compat.v1 as tf

from resnet_v1_graph import config
from resnet_v1_graph.training import rundir


def _save(prefix, step):
  """Writes a real checkpoint of one variable at `prefix`-`step`."""
  graph = tf.Graph()
  with graph.as_default():
    tf.Variable(float(step), name='v')
    saver = tf.train.Saver()
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      return saver.save(session, prefix, global_step=step)


def test_config_round_trip_names_the_network(tmp_path):
  cfg = config.DEFAULTS.replace(model='cifar_resnet20',
                                model_path=str(tmp_path / 'model'),
                                summary_path=str(tmp_path / 'summary'))
  run = rundir.RunDir.from_config(cfg)
  assert rundir.RunDir.read_config(cfg.model_path) is None
  run.write_config(cfg)
  written = json.load(open(tmp_path / 'model' / 'config.json'))
  assert written['model'] == 'cifar_resnet20'
  assert rundir.RunDir.read_config(cfg.model_path) == cfg
  assert not list((tmp_path / 'model').glob('*.tmp'))


def test_best_falls_back_to_latest_and_history_follows_checkpoints(tmp_path):
  run = rundir.RunDir(str(tmp_path / 'model'), str(tmp_path / 'summary'))
  assert run.best_or_latest_checkpoint() is None
  assert run.read_history() == {'steps': []}
  run.make_checkpoint_dirs()
  run.write_history({'steps': [], 'epoch': [1]})
  # A history without checkpoints belongs to nothing on disk.
  assert run.read_history() == {'steps': []}
  latest = _save(run.checkpoint_prefix, 10)
  assert run.best_or_latest_checkpoint() == latest
  assert run.read_history() == {'steps': [], 'epoch': [1]}
  assert run.best_accuracy() is None
  best = _save(run.best_prefix, 5)
  run.write_best_record(0.75, 5, 1)
  assert run.best_or_latest_checkpoint() == best
  assert run.best_accuracy() == 0.75
  assert json.load(open(tmp_path / 'model' / 'best' / 'best.json')) == {
      'accuracy': 0.75, 'step': 5, 'epoch': 1}
