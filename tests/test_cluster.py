"""Training on a cluster: roles, the local launcher, sync and async runs.

Every cluster runs on the loopback address in processes of its own, on
tiny inputs (8x8 digits, cifar_resnet20). The oracles are a single-process
model restoring the chief's checkpoints, and the same arithmetic done by
hand: one synchronous step is the mean of the workers' gradients, applied
by Adam once.
"""

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import classifier
from resnet_v1_graph import cli
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import model as model_lib
from resnet_v1_graph.nets import registry
from resnet_v1_graph.tools import launcher
from resnet_v1_graph.training import cluster
from resnet_v1_graph.training import replicas
from resnet_v1_graph.training import rundir

# tf.train.AdamOptimizer's default epsilon.
ADAM_EPSILON = 1e-8
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 8
BATCH = 16
TRAIN_FLAGS = ['--dataset', 'digits', '--image-size', str(SIZE),
               '--model', 'cifar_resnet20', '--batch-size', str(BATCH),
               '--intra-op-threads', '1', '--inter-op-threads', '1',
               '--verbose', 'true']
CLUSTER = {'ps': ['127.0.0.1:2222'],
           'worker': ['127.0.0.1:2223', '127.0.0.1:2224']}


# Roles.


@pytest.mark.parametrize('job,index', [('ps', 0), ('worker', 0),
                                       ('worker', 1)])
def test_tf_config_and_flags_give_the_same_role(job, index):
  from_env = cluster.resolve(environ={cluster.TF_CONFIG: json.dumps(
      {'cluster': CLUSTER, 'task': {'type': job, 'index': index}})})
  from_flags = cluster.resolve(','.join(CLUSTER['ps']),
                               ','.join(CLUSTER['worker']), job, index)
  assert from_env == from_flags
  assert from_env.is_chief == (job == 'worker' and index == 0)
  assert from_env.address == CLUSTER[job][index]
  assert cluster.from_tf_config(from_env.tf_config()) == from_env
  assert cluster.resolve(environ={}) is None


@pytest.mark.parametrize('tf_config,message', [
    ('{"cluster": ', 'not valid JSON'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["b:2"]}}', 'needs a "cluster"'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["b:2"]}, "task": {"index": 0}}',
     'no "type"'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["b:2"]}, '
     '"task": {"type": "evaluator", "index": 0}}', 'unknown job name'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["b:2"]}, '
     '"task": {"type": "worker", "index": 1}}', 'out of range'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["b:2"], "chief": ["c:3"]}, '
     '"task": {"type": "worker", "index": 0}}', 'worker 0 is the chief'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["a:1"]}, '
     '"task": {"type": "worker", "index": 0}}', 'more than one task'),
    ('{"cluster": {"ps": ["a"], "worker": ["b:2"]}, '
     '"task": {"type": "worker", "index": 0}}', 'not host:port'),
    ('{"cluster": {"ps": ["a:1"]}, '
     '"task": {"type": "ps", "index": 0}}', 'list of worker addresses'),
    ('{"cluster": {"worker": ["b:2"]}, '
     '"task": {"type": "ps", "index": 0}}', 'lists no ps tasks'),
])
def test_malformed_tf_config_is_named(tf_config, message):
  with pytest.raises(cluster.ClusterError, match=message):
    cluster.resolve(environ={cluster.TF_CONFIG: tf_config})


def test_a_cluster_without_ps_trains_by_all_reduce():
  workers = {'worker': CLUSTER['worker']}
  from_env = cluster.resolve(environ={cluster.TF_CONFIG: json.dumps(
      {'cluster': workers, 'task': {'type': 'worker', 'index': 1}})})
  from_flags = cluster.resolve(worker_hosts=','.join(CLUSTER['worker']),
                               job_name='worker', task_index=1)
  assert from_env == from_flags and from_env.all_reduce
  assert not cluster.Role(CLUSTER, 'worker', 1).all_reduce
  assert from_env.watched_job == 'worker'
  assert from_env.device_filters == ['/job:worker/task:1']
  assert from_env.cluster_spec().jobs == ['worker']
  cfg = config_lib.DEFAULTS.replace(sync_replicas=False)
  with pytest.raises(cluster.ClusterError, match='all-reduce .* is '
                                                 'synchronous'):
    replicas.ClusterTrainer(cfg, from_env)


def test_bad_flags_fail_fast_on_the_command_line(capsys):
  started = time.monotonic()
  flags = ['train', '--ps-hosts', '127.0.0.1:2222', '--worker-hosts',
           '127.0.0.1:2223']
  assert cli.main(flags + ['--job-name', 'master', '--task-index', '0']) == 2
  assert 'unknown job name' in capsys.readouterr().err
  assert cli.main(flags + ['--job-name', 'worker', '--task-index', '3']) == 2
  assert 'task index 3 is out of range' in capsys.readouterr().err
  assert cli.main(flags + ['--job-name', 'worker']) == 2
  assert 'missing --task-index' in capsys.readouterr().err
  assert time.monotonic() - started < 5


def test_an_unreachable_ps_is_an_error_within_seconds(tmp_path):
  ps, worker = launcher.free_ports(2)
  started = time.monotonic()
  result = subprocess.run(
      [sys.executable, '-m', 'resnet_v1_graph.cli', 'train',
       '--ps-hosts', '127.0.0.1:%d' % ps,
       '--worker-hosts', '127.0.0.1:%d' % worker, '--job-name', 'worker',
       '--task-index', '0', '--ps-wait', '2',
       '--model-path', str(tmp_path / 'm'),
       '--summary-path', str(tmp_path / 's')] + TRAIN_FLAGS,
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 2, result.stderr[-2000:]
  assert ('ps task 0 at 127.0.0.1:%d is unreachable after 2 s' % ps
          in result.stderr)
  assert 'Traceback' not in result.stderr
  # Start-up (TensorFlow, data, graph) plus the 2 s wait, not a hang.
  assert time.monotonic() - started < 120


def test_the_launcher_wants_train():
  with pytest.raises(ValueError, match='a cluster runs `train`'):
    launcher.launch(['evaluate'])
  with pytest.raises(ValueError, match='0 or more ps'):
    launcher.launch(['train'], ps=-1)
  with pytest.raises(ValueError, match='at least 1 worker'):
    launcher.launch(['train'], ps=1, workers=0)


# Whole runs.


def _cluster_run(tmp_path, *flags, workers=2, ps=1):
  """Runs the local launcher; returns (exit code, output lines, config)."""
  model_path = tmp_path / 'model'
  command = ([sys.executable, '-m', 'resnet_v1_graph.cli', 'cluster',
              '--ps', str(ps), '--workers', str(workers), '--', 'train',
              '--model-path', str(model_path),
              '--summary-path', str(tmp_path / 'summary')] + TRAIN_FLAGS +
             list(flags))
  result = subprocess.run(command, capture_output=True, text=True,
                          timeout=900, check=False)
  lines = result.stdout.splitlines()
  return result.returncode, lines, rundir.RunDir.read_config(str(model_path))


def _steps_reported(lines):
  """{task: (steps it ran, global step it saw)} from the 'ran' lines."""
  reports = {}
  for line in lines:
    if ' ran ' in line and 'global step' in line:
      task = line.split(']')[0].strip('[')
      words = line.split()
      reports[task] = (int(words[words.index('ran') + 1]),
                       int(words[words.index('step') + 1]))
  return reports


@pytest.fixture(scope='module')
def digits():
  return data.load_digits(image_size=SIZE)


def test_synchronous_cluster_trains_and_its_checkpoint_restores(
    tmp_path, digits):
  code, lines, cfg = _cluster_run(tmp_path, '--epoch', '2')
  assert code == 0, '\n'.join(lines[-30:])
  assert 'cluster finished: worker0 exit 0, worker1 exit 0' in lines
  per_epoch = math.ceil(digits.train.num_examples / (2 * BATCH))
  assert replicas.steps_per_epoch(cfg, digits.train.num_examples,
                                  2) == per_epoch
  run = rundir.RunDir.from_config(cfg)
  assert run.latest_checkpoint().endswith('-%d' % (2 * per_epoch))
  step = checkpoints.read_arrays(run.latest_checkpoint())['global_step']
  assert step == 2 * per_epoch
  # Each synchronous step takes one batch from each worker.
  assert _steps_reported(lines) == {'worker0': (2 * per_epoch,
                                                2 * per_epoch),
                                    'worker1': (2 * per_epoch,
                                                2 * per_epoch)}
  history = json.load(open(run.history_path))
  assert history['epoch'] == [1, 2]
  assert history['train_loss'][1] < history['train_loss'][0]
  # The chief's best checkpoint restores into one process and scores what
  # the chief reported.
  model = classifier.Classifier(cfg.replace(verbose=False))
  model.restore()
  reported = [l for l in lines if 'test accuracy' in l]
  assert reported and reported[0].startswith('[worker0]')
  accuracy = float(reported[0].split('test accuracy: ')[1].split()[0])
  assert model.evaluate(digits.test)['accuracy'] == pytest.approx(
      accuracy, abs=1e-4)
  model.close()


def test_asynchronous_cluster_counts_every_workers_steps(tmp_path, digits):
  code, lines, cfg = _cluster_run(tmp_path, '--epoch', '1',
                                  '--sync-replicas', 'false')
  assert code == 0, '\n'.join(lines[-30:])
  last_step = math.ceil(digits.train.num_examples / BATCH)
  reports = _steps_reported(lines)
  assert set(reports) == {'worker0', 'worker1'}
  assert all(steps > 0 for steps, _ in reports.values())
  # Every worker step is a global step; each stops once it sees the last
  # one, so together they may pass it by at most one step each.
  total = sum(steps for steps, _ in reports.values())
  assert last_step <= total <= last_step + 2
  # The chief's last checkpoint holds its own last step; the other worker
  # may add one more after it.
  step = checkpoints.read_arrays(
      rundir.RunDir.from_config(cfg).latest_checkpoint())['global_step']
  assert last_step <= step <= total


def test_an_all_reduce_cluster_starts_from_init_from(tmp_path):
  """The chief fine-tunes from a checkpoint; every copy starts from it."""
  cfg = config_lib.DEFAULTS.replace(
      model='cifar_resnet20', height=SIZE, width=SIZE, channel=1)
  source = str(tmp_path / 'source' / 'weights.ckpt')
  graph_model = model_lib.GraphModel(cfg)
  with graph_model.graph.as_default(), tf.Session() as session:
    session.run(tf.global_variables_initializer())
    # Weights no seeded initialiser gives, so a restore is visible.
    weights = tf.trainable_variables()
    session.run([w.assign(w + 0.5) for w in weights])
    tf.train.Saver(weights).save(session, source)
  stored = checkpoints.read_arrays(source)
  code, lines, cfg = _cluster_run(tmp_path, '--epoch', '1', '--init-from',
                                  source, ps=0)
  assert code == 0, '\n'.join(lines[-30:])
  assert any(l.startswith('[worker0] initialised from %s' % source)
             for l in lines)
  start = os.path.join(cfg.model_path, rundir.CHECKPOINT_NAME + '-0')
  assert any(l.startswith('[worker1]') and 'session ready at global step 0'
             in l for l in lines)
  assert any(l.startswith('[worker0]') and 'restored from %s' % start in l
             for l in lines)
  first = checkpoints.read_arrays(start)
  head = [n for n in stored if n.startswith(registry.HEAD_SCOPES)]
  assert head and len(head) < len(stored)
  for name, value in stored.items():
    if name in head:  # excluded by default: left as initialised
      assert not np.allclose(first[name], value), name
    else:
      np.testing.assert_array_equal(first[name], value, err_msg=name)
  history = json.load(open(rundir.RunDir.from_config(cfg).history_path))
  assert history['epoch'] == [1]


FIRST_STEP_TASK = r'''
import json, sys
from resnet_v1_graph import config, data
from resnet_v1_graph.data import splits
from resnet_v1_graph.training import cluster, replicas
settings, count = json.loads(sys.argv[1]), int(sys.argv[2])
cfg = config.DEFAULTS.replace(**settings)
role = cluster.resolve()
if role.job == 'ps':
  cluster.start_server(role).join()
train = data.load_digits(image_size=%d).train
images, labels = train.arrays()
small = splits.ArraySplit(images[:count], labels[:count], scale=1.0)
print(json.dumps(replicas.ClusterTrainer(cfg, role).fit(small)))
''' % SIZE


def _first_batches(cfg, split, workers):
  """Each worker's first training batch, from the pipeline the worker uses."""
  batches = []
  for index in range(workers):
    with tf.Graph().as_default():
      tf.set_random_seed(cfg.seed)
      dataset = split.batched(cfg.batch_size, shuffle_buffer=split.num_examples,
                              seed=cfg.seed, shard=(workers, index),
                              repeat=True, drop_remainder=True)
      batch = tf.data.make_one_shot_iterator(dataset).get_next()
      with tf.Session() as session:
        batches.append(session.run(batch))
  return batches


@pytest.mark.parametrize('ps', [1, 0], ids=['sync-ps', 'all-reduce'])
def test_one_synchronous_step_is_adam_on_the_mean_gradient(tmp_path, digits,
                                                           ps):
  """Two workers, one step: the oracle is one process on the same batches.

  With a ps, SyncReplicasOptimizer averages the gradients on the ps; without,
  each worker averages them by all-reduce and applies the mean to its copy.
  """
  count = 2 * BATCH  # one synchronous step per epoch
  cfg = config_lib.DEFAULTS.replace(
      model='cifar_resnet20', height=SIZE, width=SIZE, channel=1,
      batch_size=BATCH, epoch=1, model_path=str(tmp_path / 'model'),
      summary_path=str(tmp_path / 'summary'), intra_op_threads=1,
      inter_op_threads=1, verbose=False)
  spec = launcher.local_cluster(ps, 2)
  script = tmp_path / 'task.py'
  script.write_text(FIRST_STEP_TASK)
  settings = {k: v for k, v in cfg.to_dict().items()
              if v != getattr(config_lib.DEFAULTS, k)}
  def start(job, index):
    # The ps is never read from, so its output must not fill a pipe.
    output = subprocess.DEVNULL if job == 'ps' else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(settings), str(count)],
        env=dict(os.environ, PYTHONPATH=ROOT,
                 TF_CONFIG=cluster.Role(spec, job, index).tf_config()),
        stdout=output, stderr=output, text=True)

  servers = [start('ps', index) for index in range(ps)]
  workers = [start('worker', index) for index in range(2)]
  try:
    outputs = [task.communicate(timeout=600) for task in workers]
  finally:
    for server in servers:
      server.kill()
      server.wait()
  for task, (_, err) in zip(workers, outputs):
    assert task.returncode == 0, err[-3000:]
  assert [json.loads(out.splitlines()[-1]) for out, _ in outputs] == [
      {'steps': 1, 'global_step': 1, 'last_step': 1, 'finished': True}] * 2
  # The oracle: the initial checkpoint in one process, each worker's first
  # batch through it, the mean gradient, one Adam update.
  images, labels = digits.train.arrays()
  small = data.splits.ArraySplit(images[:count], labels[:count], scale=1.0)
  batches = _first_batches(cfg, small, 2)
  assert not np.array_equal(batches[0][1], batches[1][1])
  model = model_lib.GraphModel(cfg)
  with model.graph.as_default():
    variables = tf.trainable_variables()
    restorer = tf.train.Saver(tf.global_variables())
    grads = [g for g, _ in model.gradients]
    mean = [tf.placeholder(tf.float32, v.shape) for v in variables]
    update = tf.train.AdamOptimizer(cfg.learning_rate).apply_gradients(
        zip(mean, variables))
    session = tf.Session()
    session.run(tf.global_variables_initializer())
    restorer.restore(session, str(tmp_path / 'model' / 'model.ckpt-0'))
    per_worker = []
    for batch_images, batch_labels in batches:
      per_worker.append(session.run(grads, {
          model.input_x: batch_images, model.is_training: True,
          model.input_y: np.eye(10)[batch_labels]}))
    names = [v.op.name for v in variables]
    before = dict(zip(names, session.run(variables)))
    gradients = [(a + b) / 2 for a, b in zip(*per_worker)]
    session.run(update, dict(zip(mean, gradients)))
    expected = dict(zip(names, session.run(variables)))
    session.close()
  after = checkpoints.read_arrays(str(tmp_path / 'model' / 'model.ckpt-1'))
  for name, gradient in zip(names, gradients):
    # Adam's first step moves each weight by lr * g / (|g| + epsilon): about
    # the learning rate, in the direction of the gradient's sign; one
    # worker's gradient alone would flip many signs. Near g = 0 the step's
    # slope, lr * epsilon / (|g| + epsilon)^2, magnifies float rounding
    # (which differs between CPUs' kernels) a thousandfold or more; there,
    # only Adam's bound holds.
    tiny = np.abs(gradient) < 1e4 * ADAM_EPSILON
    assert tiny.mean() < 0.2, name  # most weights are still checked exactly
    np.testing.assert_allclose(after[name][~tiny], expected[name][~tiny],
                               rtol=1e-5, atol=1e-2 * cfg.learning_rate,
                               err_msg=name)
    assert (np.abs(after[name] - before[name])[tiny] <=
            cfg.learning_rate * (1 + 1e-5)).all(), name
