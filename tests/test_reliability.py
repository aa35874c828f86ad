"""What a run directory survives: damaged state files, copies and moves,
truncated checkpoints, NaN weights, failed resumes, kills between writes,
a second writer, and checkpoints whose global_step is int32 or int64.

Each test plants the failure first, then checks what the trainer does
against the files on disk (bytes hashed before and after) or a second
model restoring the same checkpoint.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import cli
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import export
from resnet_v1_graph import ResNet
from resnet_v1_graph.checkpoints import convert
from resnet_v1_graph.training import rundir
from resnet_v1_graph.training import trainer as trainer_lib

SIZE = 16
# 40 examples in batches of 8: 5 steps an epoch.
EXAMPLES, BATCH, STEPS = 40, 8, 5


def _split(seed=0):
  rng = np.random.RandomState(seed)
  images = rng.uniform(0, 1, (EXAMPLES, SIZE, SIZE, 1)).astype(np.float32)
  return data.ArraySplit(images, rng.randint(0, 10, EXAMPLES), scale=1.)


def _model(path, **kwargs):
  settings = dict(depth=18, height=SIZE, width=SIZE, channel=1,
                  num_classes=10, batch_size=BATCH, epoch=1,
                  model_path=str(path / 'model'),
                  summary_path=str(path / 'summary'), verbose=False)
  settings.update(kwargs)
  return ResNet(**settings)


def _train(path, epochs, **kwargs):
  model = _model(path, epoch=epochs, **kwargs)
  history = model.fit(_split(), _split(1))
  return model, history


def _hashes(directory):
  """{file name: sha256} of every file under `directory`."""
  found = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        found[os.path.relpath(path, directory)] = hashlib.sha256(
            f.read()).hexdigest()
  return found


def _probabilities(path, images):
  model = _model(path)
  try:
    return model.predict_proba(images)
  finally:
    model.close()


@pytest.mark.parametrize('damage', ['junk', 'stale', 'missing'])
def test_a_damaged_state_file_resumes_from_the_files(damage, tmp_path):
  _train(tmp_path, 1)[0].close()
  model_path = tmp_path / 'model'
  first = {n: h for n, h in _hashes(model_path).items()
           if n.startswith('model.ckpt-5.')}
  assert len(first) == 3  # .index, .data, .meta
  state = model_path / 'checkpoint'
  if damage == 'junk':
    state.write_text('junk\n')
  elif damage == 'stale':  # It names a checkpoint that was deleted.
    state.write_text('model_checkpoint_path: "model.ckpt-99"\n')
  else:
    state.unlink()
  model, history = _train(tmp_path, 2)
  # Resumed at step 5 and trained epoch 2 only: nothing was overwritten.
  assert history['step'] == [STEPS, 2 * STEPS]
  assert model.trainer.session.run(model.global_step) == 2 * STEPS
  model.close()
  after = _hashes(model_path)
  assert {n: after.get(n) for n in first} == first


def test_a_copied_and_a_moved_run_use_their_own_checkpoints(tmp_path):
  _train(tmp_path / 'a', 1)[0].close()
  # The state files hold relative paths.
  for state in ('model/checkpoint', 'model/best/checkpoint'):
    text = (tmp_path / 'a' / state).read_text()
    assert str(tmp_path) not in text and 'model.ckpt-5' in text
  images = _split(2).arrays()[0][:4]
  expected = _probabilities(tmp_path / 'a', images)
  shutil.copytree(tmp_path / 'a', tmp_path / 'copy')
  # The copy reads its own files, not the original's, which are gone.
  shutil.rmtree(tmp_path / 'a')
  np.testing.assert_array_equal(_probabilities(tmp_path / 'copy', images),
                                expected)
  os.rename(tmp_path / 'copy', tmp_path / 'moved')
  np.testing.assert_array_equal(_probabilities(tmp_path / 'moved', images),
                                expected)


def test_a_truncated_latest_checkpoint_falls_back_to_the_one_before(
    tmp_path, capsys):
  _train(tmp_path, 2)[0].close()
  data_file = tmp_path / 'model' / 'model.ckpt-10.data-00000-of-00001'
  size = os.path.getsize(data_file)
  with open(data_file, 'r+b') as f:
    f.truncate(size // 2)
  model, history = _train(tmp_path, 3, verbose=True)
  out = capsys.readouterr().out
  assert 'model.ckpt-10 cannot be read (Read less bytes than requested)' \
      in out
  assert 'resumed from %s at step 5' % (tmp_path / 'model' / 'model.ckpt-5') \
      in out
  assert history['step'] == [STEPS, 2 * STEPS, 3 * STEPS]
  model.close()
  # With every checkpoint damaged, nothing is initialised over them.
  for name in os.listdir(tmp_path / 'model'):
    if '.index' in name:
      (tmp_path / 'model' / name).write_bytes(b'junk')
  with pytest.raises(ValueError, match='none of the 3 checkpoints in .* '
                                       'reads; move them away'):
    _train(tmp_path, 4)


def test_weights_that_become_nan_are_never_saved(tmp_path, monkeypatch):
  _train(tmp_path, 1)[0].close()
  model_path = tmp_path / 'model'

  def saved():
    # Checkpoints, best and history; config.json takes the new epoch count.
    found = _hashes(model_path)
    found.pop('config.json')
    found.pop(rundir.LOCK_FILE, None)
    return found, _hashes(tmp_path / 'summary')[rundir.HISTORY_FILE]

  before = saved()
  train_epoch = trainer_lib.Trainer._train_epoch

  def poisoned(self, *args):
    # A step whose loss was finite but whose update was not.
    row = train_epoch(self, *args)
    bias, = [v for v in tf.global_variables() if v.op.name == 'dense/bias']
    bias.load(np.full(10, np.nan, np.float32), self.session)
    return row

  monkeypatch.setattr(trainer_lib.Trainer, '_train_epoch', poisoned)
  with pytest.raises(FloatingPointError,
                     match=r'NaN or infinite in epoch 2 \(step 10: 1 of '
                           r'\d+ variables, e\.g\. dense/bias\).*'
                           r'model\.ckpt-5, is the last finite one'):
    _train(tmp_path, 2)
  monkeypatch.undo()
  assert saved() == before  # Neither latest nor best nor history moved.
  # A NaN checkpoint made elsewhere is refused at evaluation.
  model = _model(tmp_path)
  model.restore()
  with model.graph.as_default():
    bias, = [v for v in tf.global_variables() if v.op.name == 'dense/bias']
    bias.load(np.full(10, np.inf, np.float32), model.trainer.session)
    nan_prefix = model.trainer.saver.save(
        model.trainer.session, str(tmp_path / 'nan' / 'model.ckpt'),
        global_step=5)
  model.close()
  with pytest.raises(ValueError, match='NaN or infinite weights .1 of'):
    _model(tmp_path).restore(nan_prefix)
  with pytest.raises(ValueError, match='learning_rate must be a finite '
                                       'number > 0, got inf'):
    config_lib.DEFAULTS.replace(learning_rate=float('inf'))


def test_a_failed_resume_leaves_the_run_as_it_was(tmp_path):
  _train(tmp_path, 1)[0].close()
  before = _hashes(tmp_path)
  with pytest.raises(checkpoints.CheckpointMismatchError):
    _train(tmp_path, 2, depth=34)
  assert _hashes(tmp_path) == before
  saved = rundir.RunDir.read_config(str(tmp_path / 'model'))
  assert saved.depth == 18


def test_a_kill_before_the_latest_save_loses_no_epoch(tmp_path, monkeypatch):
  _train(tmp_path, 1)[0].close()
  save = tf.train.Saver.save

  def killed(self, session, prefix, *args, **kwargs):
    if prefix.endswith(os.path.join('model', 'model.ckpt')):
      raise KeyboardInterrupt  # Stands for the kill.
    return save(self, session, prefix, *args, **kwargs)

  monkeypatch.setattr(tf.train.Saver, 'save', killed)
  with pytest.raises(KeyboardInterrupt):
    _train(tmp_path, 2)
  monkeypatch.undo()
  run = rundir.RunDir(str(tmp_path / 'model'), str(tmp_path / 'summary'))
  assert run.latest_checkpoint().endswith('model.ckpt-5')
  model, history = _train(tmp_path, 3)
  model.close()
  assert history['epoch'] == [1, 2, 3]
  assert history['step'] == [STEPS, 2 * STEPS, 3 * STEPS]
  written = json.load(open(run.history_path))
  assert written['step'] == history['step']
  best = json.load(open(os.path.join(run.best_path, rundir.BEST_RECORD)))
  accuracies = history['val_accuracy']
  # The best is the first epoch with the highest validation accuracy.
  assert best['step'] == history['step'][int(np.argmax(accuracies))]
  assert run.best_checkpoint().endswith('model.ckpt-%d' % best['step'])


def test_a_second_writer_is_refused_while_the_first_lives(tmp_path):
  run = rundir.RunDir(str(tmp_path / 'model'), str(tmp_path / 'summary'))
  holder = subprocess.Popen(
      [sys.executable, '-c',
       'import sys, time\n'
       'from resnet_v1_graph.training import rundir\n'
       'with rundir.RunDir(sys.argv[1], sys.argv[2]).lock():\n'
       '  print("held", flush=True)\n'
       '  time.sleep(60)\n', run.model_path, run.summary_path],
      stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    with pytest.raises(rundir.RunLockedError,
                       match='being trained by process %d' % holder.pid):
      _train(tmp_path, 1)
  finally:
    holder.kill()
    holder.wait()
  # Its process is gone: the lock is stale, and training goes ahead.
  assert os.path.exists(run.lock_path)
  _train(tmp_path, 1)[0].close()
  assert not os.path.exists(run.lock_path)


def test_leftovers_of_a_killed_save_are_removed(tmp_path, capsys):
  _train(tmp_path, 1)[0].close()
  model_path = tmp_path / 'model'
  leftovers = [model_path / 'model.ckpt-10.data-00000-of-00001.tempstate123',
               model_path / 'checkpoint.tmp0a1b', model_path / 'best' /
               'best.json.tmp']
  for path in leftovers:
    path.write_bytes(b'partial')
  (model_path / 'model.ckpt-10_temp_0a1b').mkdir()
  _train(tmp_path, 2, verbose=True)[0].close()
  out = capsys.readouterr().out
  for path in leftovers + [model_path / 'model.ckpt-10_temp_0a1b']:
    assert not os.path.exists(path)
    assert 'removed %s' % path in out


@pytest.mark.parametrize('dtype', ['int32', 'int64'])
def test_a_checkpoint_with_either_global_step_dtype_resumes(dtype,
                                                            tmp_path):
  _train(tmp_path / 'ours', 1)[0].close()
  source = str(tmp_path / 'ours' / 'model' / 'model.ckpt-5')
  values = {name: tf.train.load_checkpoint(source).get_tensor(name)
            for name in checkpoints.read_variables(source)}
  assert values['global_step'].dtype == np.int64  # What we write.
  # The same checkpoint rewritten as a class whose step is
  # tf.Variable(0) (int32) or get_or_create_global_step (int64) writes it,
  # at step 7.
  with tf.Graph().as_default(), tf.Session() as session:
    variables = [tf.Variable(value, name=name) for name, value in
                 values.items() if name != 'global_step']
    if dtype == 'int32':
      step = tf.Variable(7, trainable=False, name='global_step')
    else:
      step = tf.train.get_or_create_global_step()
    assert step.dtype.base_dtype.name == dtype
    session.run(tf.global_variables_initializer())
    step.load(7, session)
    os.makedirs(tmp_path / 'seed' / 'model')
    tf.train.Saver(variables + [step]).save(
        session, str(tmp_path / 'seed' / 'model' / 'model.ckpt'),
        global_step=7)
  model = _model(tmp_path / 'seed', epoch=3, verbose=False)
  history = model.fit(_split())
  # 40 examples, 5 steps an epoch: step 7 is in epoch 2, which trains on.
  assert history['step'] == [7 + STEPS, 7 + 2 * STEPS]
  weights = model.trainer.session.run(
      [v for v in model.graph.get_collection('variables')
       if v.op.name == 'dense/kernel'][0])
  assert not np.allclose(weights, values['dense/kernel'])
  model.close()
  restored = _model(tmp_path / 'seed')
  restored.restore(str(tmp_path / 'seed' / 'model' / 'model.ckpt-7'))
  session = restored.trainer.session
  assert session.run(restored.global_step) == 7
  with restored.graph.as_default():
    for variable in tf.global_variables():
      if variable.op.name != 'global_step':
        np.testing.assert_array_equal(session.run(variable),
                                      values[variable.op.name])
  restored.close()


def test_weights_only_checkpoints_load_in_one_call(tmp_path, capsys):
  model, _ = _train(tmp_path / 'run', 1)
  images = _split(2).arrays()[0][:6]
  expected = model.predict_proba(images)
  # The network's weights alone, as `convert` or an inference export
  # writes them.
  with model.graph.as_default():
    weights = [v for v in tf.global_variables()
               if not checkpoints.is_training_state(v.op.name)]
    prefix = tf.train.Saver(weights).save(
        model.trainer.session, str(tmp_path / 'weights' / 'net.ckpt'))
  model.close()
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match='training state only in B'):
    _model(tmp_path / 'other').restore(prefix)
  fresh = _model(tmp_path / 'other', verbose=True)
  report = fresh.load_weights(prefix)
  assert len(report.restored) == len(weights)
  assert 'global_step' in report.training_state
  out = capsys.readouterr().out
  assert 'loaded %d weights from %s; ' % (len(weights), prefix) in out
  assert 'global_step start fresh' in out
  np.testing.assert_allclose(fresh.predict_proba(images), expected,
                             rtol=1e-5, atol=1e-6)
  assert fresh.trainer.session.run(fresh.global_step) == 0
  fresh.close()
  # The command line's evaluate and predict take it too.
  assert cli.main(['evaluate', '--weights', prefix, '--depth', '18',
                   '--image-size', str(SIZE),
                   '--model-path', str(tmp_path / 'cli')]) == 0
  out = capsys.readouterr().out
  assert 'loaded %d weights' % len(weights) in out
  assert 'test accuracy: ' in out
  # A checkpoint lacking a network weight is refused, naming it.
  with tf.Graph().as_default(), tf.Session() as session:
    values = checkpoints.read_arrays(prefix)
    kept = [tf.Variable(v, name=n) for n, v in values.items()
            if n != 'dense/bias']
    session.run(tf.global_variables_initializer())
    partial = tf.train.Saver(kept).save(session,
                                        str(tmp_path / 'partial.ckpt'))
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match='(?s)does not hold every weight.*missing from '
                           'the checkpoint.*dense/bias'):
    _model(tmp_path / 'other').load_weights(partial)


def test_nothing_saved_is_replaced_without_force(tmp_path, capsys):
  _train(tmp_path / 'run', 1)[0].close()
  model_path = tmp_path / 'run' / 'model'
  frozen = tmp_path / 'net.pb'
  frozen.write_bytes(b'an older export')
  saved_model = tmp_path / 'saved'
  saved_model.mkdir()
  (saved_model / 'keep.txt').write_text('an older export')
  before = _hashes(tmp_path)
  for output in (['--frozen', str(frozen)],
                 ['--saved-model', str(saved_model)]):
    assert cli.main(['export', '--model-path', str(model_path)] + output) == 2
    assert 'exists; give a new ' in capsys.readouterr().err
  # A converted checkpoint onto a run's own, or a Keras file that exists.
  source = str(model_path / 'model.ckpt-5')
  with pytest.raises(FileExistsError, match='model.ckpt-5 exists'):
    convert.write_checkpoint(checkpoints.read_arrays(source), source)
  keras_file = tmp_path / 'net.weights.h5'
  keras_file.write_bytes(b'older weights')
  before[keras_file.name] = _hashes(tmp_path)[keras_file.name]
  assert cli.main(['convert', source, str(keras_file), '--model', 'resnet',
                   '--depth', '50']) == 2
  assert 'net.weights.h5 exists' in capsys.readouterr().err
  assert _hashes(tmp_path) == before
  # Beside a run's checkpoints, a new prefix leaves its state file alone.
  state = (model_path / 'checkpoint').read_bytes()
  convert.write_checkpoint(checkpoints.read_arrays(source),
                           str(model_path / 'converted.ckpt'))
  assert (model_path / 'checkpoint').read_bytes() == state
  # --force replaces, and what it writes works.
  assert cli.main(['export', '--model-path', str(model_path), '--frozen',
                   str(frozen), '--saved-model', str(saved_model),
                   '--force']) == 0
  images = _split(2).arrays()[0][:3]
  np.testing.assert_allclose(export.run_frozen(str(frozen), images),
                             _probabilities(tmp_path / 'run', images),
                             rtol=1e-5, atol=1e-6)
  assert not (saved_model / 'keep.txt').exists()
  assert (saved_model / 'saved_model.pb').exists()
  assert not os.path.exists(str(frozen) + '.partial')
