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
import signal
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
from resnet_v1_graph.data import splits
from resnet_v1_graph.training import rundir
from resnet_v1_graph.training import saving
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


@pytest.fixture(scope='module')
def one_epoch(module_dir):
  """A run trained for one epoch, to copy: `_copy_run(one_epoch, path)`."""
  path = module_dir('one_epoch')
  _train(path, 1)[0].close()
  return path


def _copy_run(source, path):
  """A copy of a run (its state files hold relative paths, so the copy
  resumes from its own checkpoints)."""
  for name in ('model', 'summary'):
    shutil.copytree(source / name, path / name)


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


def test_a_damaged_state_file_resumes_from_the_files(one_epoch, tmp_path):
  _copy_run(one_epoch, tmp_path)
  model_path = tmp_path / 'model'
  state = model_path / 'checkpoint'
  damages = {
      'junk': lambda: state.write_text('junk\n'),
      # It names a checkpoint that was deleted.
      'stale': lambda: state.write_text(
          'model_checkpoint_path: "model.ckpt-99"\n'),
      'missing': state.unlink}
  for epochs, (name, damage) in enumerate(damages.items(), start=2):
    done = (epochs - 1) * STEPS
    saved = {n: h for n, h in _hashes(model_path).items()
             if n.startswith('model.ckpt-%d.' % done)}
    assert len(saved) == 3, name  # .index, .data, .meta
    damage()
    model, history = _train(tmp_path, epochs)
    # Resumed at the last step and trained one epoch: nothing overwritten.
    assert history['step'][-2:] == [done, done + STEPS], name
    assert model.trainer.session.run(model.global_step) == done + STEPS
    model.close()
    after = _hashes(model_path)
    assert {n: after.get(n) for n in saved} == saved, name


def test_a_copied_and_a_moved_run_use_their_own_checkpoints(one_epoch,
                                                           tmp_path):
  (tmp_path / 'a').mkdir()
  _copy_run(one_epoch, tmp_path / 'a')
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
    one_epoch, tmp_path, capsys):
  _copy_run(one_epoch, tmp_path)
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


def test_weights_that_become_nan_are_never_saved(one_epoch, tmp_path,
                                                monkeypatch):
  _copy_run(one_epoch, tmp_path)
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


def test_a_failed_resume_leaves_the_run_as_it_was(one_epoch, tmp_path):
  _copy_run(one_epoch, tmp_path)
  before = _hashes(tmp_path)
  with pytest.raises(checkpoints.CheckpointMismatchError):
    _train(tmp_path, 2, depth=34)
  assert _hashes(tmp_path) == before
  saved = rundir.RunDir.read_config(str(tmp_path / 'model'))
  assert saved.depth == 18


def test_a_kill_before_the_latest_save_loses_no_epoch(one_epoch, tmp_path,
                                                      monkeypatch):
  _copy_run(one_epoch, tmp_path)
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


def test_leftovers_of_a_killed_save_are_removed(one_epoch, tmp_path, capsys):
  _copy_run(one_epoch, tmp_path)
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


@pytest.mark.parametrize('dtype', [np.int32, np.int64])
def test_a_checkpoint_with_either_global_step_dtype_resumes(dtype, one_epoch,
                                                            tmp_path):
  source = str(one_epoch / 'model' / 'model.ckpt-5')
  values = checkpoints.read_arrays(source)
  assert values['global_step'].dtype == np.int64  # What we write.
  # The same checkpoint as a class whose step is tf.Variable(0) (int32) or
  # get_or_create_global_step (int64) writes it, at step 7.
  values['global_step'] = np.asarray(7, dtype)
  convert.write_checkpoint(values,
                           str(tmp_path / 'seed' / 'model' / 'model.ckpt-7'))
  assert checkpoints.read_variables(
      str(tmp_path / 'seed' / 'model'))['global_step'].dtype == (
          np.dtype(dtype).name)
  model = _model(tmp_path / 'seed', epoch=2, verbose=False)
  history = model.fit(_split())
  # 40 examples, 5 steps an epoch: step 7 is within epoch 2, which goes on
  # with its 3 remaining steps.
  assert history['step'] == [2 * STEPS]
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


def test_weights_only_checkpoints_load_in_one_call(one_epoch, tmp_path,
                                                   capsys):
  model = _model(one_epoch)
  model.restore()
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


def test_nothing_saved_is_replaced_without_force(one_epoch, tmp_path, capsys):
  (tmp_path / 'run').mkdir()
  _copy_run(one_epoch, tmp_path / 'run')
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


def _weights(model, names=('dense/kernel', 'First_Conv/kernel')):
  with model.graph.as_default():
    variables = [v for v in tf.global_variables() if v.op.name in names]
    return dict(zip([v.op.name for v in variables],
                    model.trainer.session.run(variables)))


def test_a_stop_within_an_epoch_saves_and_resumes_where_it_stopped(
    tmp_path, monkeypatch):
  straight, history = _train(tmp_path / 'straight', 2)
  expected = _weights(straight)
  straight.close()
  check_finite = trainer_lib.Trainer._check_finite

  def interrupt_at_step_7(self, loss, step, epoch):
    check_finite(self, loss, step, epoch)
    if step == 7:  # Ctrl-C during step 7: it ends, is saved, then stops.
      os.kill(os.getpid(), signal.SIGINT)

  monkeypatch.setattr(trainer_lib.Trainer, '_check_finite',
                      interrupt_at_step_7)
  with pytest.raises(saving.TrainingStopped,
                     match='SIGINT: training stopped at step 7 and saved '
                           '.*model.ckpt-7; run it again to resume'):
    _train(tmp_path / 'stopped', 2, save_every_steps=2)
  monkeypatch.undo()
  run = rundir.RunDir(str(tmp_path / 'stopped' / 'model'),
                      str(tmp_path / 'stopped' / 'summary'))
  # Every 2 steps within an epoch, at the epoch's end, and at the stop.
  assert [int(p.rsplit('-', 1)[1]) for p in run.checkpoints()] == [
      2, 4, 5, 6, 7]
  assert not os.path.exists(run.lock_path)
  resumed, again = _train(tmp_path / 'stopped', 2)
  assert again['step'] == history['step'] == [STEPS, 2 * STEPS]
  # Epoch 2 went on with its 3 remaining batches, in the same order: the
  # weights are those of the run that was never stopped.
  for name, value in _weights(resumed).items():
    np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-5)
  resumed.close()


def test_sigterm_stops_the_command_after_saving(tmp_path):
  model_path = tmp_path / 'model'
  process = subprocess.Popen(
      [sys.executable, '-m', 'resnet_v1_graph.cli', 'train', '--depth', '18',
       '--image-size', str(SIZE), '--epoch', '20', '--batch-size', '64',
       '--model-path', str(model_path),
       '--summary-path', str(tmp_path / 'summary')],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    for line in process.stdout:
      if line.startswith('epoch 1/20'):
        break
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
  finally:
    process.kill()
  assert process.returncode == 128 + signal.SIGTERM
  assert 'Traceback' not in err
  line, = [l for l in err.splitlines() if 'SIGTERM' in l]
  step = int(line.split('stopped at step ')[1].split()[0])
  assert line == ('resnet-tf1 train: SIGTERM: training stopped at step %d '
                  'and saved %s; run it again to resume'
                  % (step, model_path / ('model.ckpt-%d' % step)))
  run = rundir.RunDir(str(model_path), str(tmp_path / 'summary'))
  assert run.latest_checkpoint() == str(model_path / ('model.ckpt-%d' % step))
  assert not os.path.exists(run.lock_path)


def test_inputs_that_would_give_silent_nonsense_are_refused(one_epoch,
                                                            capsys):
  with pytest.raises(SystemExit):
    cli.main(['train', '--image-size', '0'])
  assert "--image-size: must be an integer >= 1, got '0'" in \
      capsys.readouterr().err
  images = np.zeros((3, SIZE, SIZE, 1), np.float32)
  with pytest.raises(ValueError, match=r'whole numbers .*got 1\.7'):
    data.ArraySplit(images, np.array([0., 1.7, 2.]), scale=1.)
  with pytest.raises(ValueError, match=r'whole numbers .*got nan'):
    data.ArraySplit(images, np.array([0., np.nan, 2.]), scale=1.)
  assert data.ArraySplit(images, np.array([0., 1., 2.]),
                         scale=1.).labels.tolist() == [0, 1, 2]
  model = _model(one_epoch)
  pixels = _split(2).arrays()[0][:4]
  expected = model.predict(pixels)
  # uint8 pixels are scaled as the training data was; so are these.
  np.testing.assert_array_equal(
      model.predict(np.round(pixels * 255).astype(np.uint8)), expected)
  with pytest.raises(ValueError, match=r'float images must lie in \[0, 1\].*'
                                       r'got values in \[[\d.]+, 25\d'):
    model.predict(pixels * 255.)
  poisoned = pixels.copy()
  poisoned[0, 0, 0, 0] = np.nan
  with pytest.raises(ValueError, match='1 NaN or infinite values'):
    model.predict(poisoned)
  model.close()


def test_a_damaged_image_in_a_folder_is_named_or_skipped(tmp_path, capsys):
  rng = np.random.RandomState(0)
  for split in ('train', 'test'):
    for label in ('a', 'b'):
      folder = tmp_path / 'photos' / split / label
      folder.mkdir(parents=True)
      for i in range(6):
        pixels = rng.randint(0, 256, (SIZE, SIZE, 1)).astype(np.uint8)
        (folder / ('%d.png' % i)).write_bytes(
            tf.io.encode_png(pixels).numpy())
  train = tmp_path / 'photos' / 'train'
  text = train / 'a' / 'notes.png'
  text.write_text('not an image')
  whole = (train / 'b' / '0.png').read_bytes()
  cut = train / 'b' / 'cut.png'
  cut.write_bytes(whole[:len(whole) // 2])
  options = dict(image_size=SIZE, channels=1, validation_fraction=0.)
  strict = data.load_folder(str(tmp_path / 'photos'), **options)
  model = _model(tmp_path / 'strict')
  with pytest.raises(ValueError, match='an image of the data could not be '
                                       r'decoded: .*--skip-corrupt'):
    model.fit(strict.train)
  model.close()
  # The file that is no image at all is named by its path.
  with pytest.raises(ValueError, match='not a JPEG, PNG, GIF, BMP or WebP '
                                       'file.*' + str(text)):
    _model(tmp_path / 'one').fit(
        splits.FileSplit([str(text)] * 8, [0] * 8, (SIZE, SIZE), 1))
  lenient = data.load_folder(str(tmp_path / 'photos'), skip_corrupt=True,
                             **options)
  assert ('folder: skipped 2 undecodable images: %s, %s' % (text, cut)) in \
      capsys.readouterr().out
  assert lenient.train.num_examples == 12
  model = _model(tmp_path / 'lenient')
  assert model.fit(lenient.train)['step'] == [2]
  model.close()


def _train_command(tmp_path, *extra):
  return [sys.executable, '-m', 'resnet_v1_graph.cli', 'train', '--model',
          'cifar_resnet20', '--image-size', str(SIZE), '--epoch', '3',
          '--batch-size', '64', '--model-path', str(tmp_path / 'model'),
          '--summary-path', str(tmp_path / 'summary')] + list(extra)


def test_sigkill_at_any_moment_resumes_from_the_last_checkpoint(tmp_path):
  """Killed during steps and during checkpoint writes, then restarted:
  global_step never goes back past the last checkpoint, and the run ends
  where an uninterrupted one does."""
  straight = subprocess.run(_train_command(tmp_path / 'straight'),
                            capture_output=True, text=True, check=True)
  expected = float(straight.stdout.split('test accuracy: ')[1].split()[0])
  run = rundir.RunDir(str(tmp_path / 'killed' / 'model'),
                      str(tmp_path / 'killed' / 'summary'))
  rng = np.random.RandomState(0)
  # Saving every 2 steps puts checkpoint writes all through the run.
  command = _train_command(tmp_path / 'killed', '--save-every-steps', '2')
  kills, finished = 0, None
  while finished is None and kills < 4:
    before = run.latest_checkpoint()
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
      lines.append(line)
      if line.startswith('resumed from') or line.startswith('epoch 1/3'):
        break
    # Somewhere in the next second or two of steps and saves.
    try:
      process.wait(timeout=rng.uniform(0.5, 2.5))
    except subprocess.TimeoutExpired:
      process.kill()
      kills += 1
    rest = process.communicate()[0]
    output = ''.join(lines) + rest
    if process.returncode == 0:
      finished = output
    if before is not None:
      # It resumed from the newest complete checkpoint, never before it.
      step = int(before.rsplit('-', 1)[1])
      assert 'resumed from %s at step %d' % (before, step) in output
  assert kills >= 2, 'the run ended before it could be killed twice'
  if finished is None:
    finished = subprocess.run(command, capture_output=True, text=True,
                              check=True).stdout
  accuracy = float(finished.split('test accuracy: ')[1].split()[0])
  history = json.load(open(run.history_path))
  assert history['epoch'] == [1, 2, 3]
  # Same data, order and steps: the same accuracy within noise.
  assert abs(accuracy - expected) <= 0.05, (accuracy, expected)
