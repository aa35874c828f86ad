"""A cluster's tasks killed with SIGKILL and restarted: what survives.

Each test starts 1 ps and 2 workers, or 2 workers by all-reduce (8x8
digits, cifar_resnet20, synchronous, a checkpoint every 10 steps) as
separate processes on the loopback address, kills one task once a
checkpoint exists, restarts it, and checks what the README promises:
training finishes at its last step, and the chief's `global_step` never
goes back past the latest checkpoint. (Later saves rotate old checkpoints out as `max_to_keep` says: the
restoring chief's saver takes over the list of checkpoints on disk.)
"""

import glob
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from resnet_v1_graph import data
from resnet_v1_graph.tools import launcher
from resnet_v1_graph.training import cluster
from resnet_v1_graph.training import rundir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 2
FLAGS = ['train', '--dataset', 'digits', '--image-size', '8',
         '--model', 'cifar_resnet20', '--batch-size', '16',
         '--epoch', str(EPOCHS), '--validate-every', '10',
         '--learning-decay-steps', '1000', '--intra-op-threads', '1',
         '--inter-op-threads', '1', '--ps-wait', '3']
TIMEOUT = 600


class Cluster:
  """`ps` ps + 2 workers as processes; each task's output goes to a file."""

  def __init__(self, path, ps=1):
    self.path = path
    self.spec = launcher.local_cluster(ps, 2)
    self.model_path = str(path / 'model')
    self.processes = {}
    self.starts = {}

  def start(self, job, index):
    name = '%s%d' % (job, index)
    self.starts[name] = self.starts.get(name, 0) + 1
    log = open(self.path / ('%s.%d.log' % (name, self.starts[name])), 'w')
    env = dict(os.environ, PYTHONPATH=ROOT,
               TF_CONFIG=cluster.Role(self.spec, job, index).tf_config())
    self.processes[name] = subprocess.Popen(
        [sys.executable, '-m', 'resnet_v1_graph.cli'] + FLAGS +
        ['--model-path', self.model_path,
         '--summary-path', str(self.path / 'summary')],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    log.close()

  def start_all(self):
    for job in cluster.JOBS:
      for index in range(len(self.spec[job])):
        self.start(job, index)

  def kill(self, name, number=signal.SIGKILL):
    self.processes[name].send_signal(number)
    return self.processes[name].wait(TIMEOUT)

  def kill_all(self):
    for name in list(self.processes):
      self.kill(name)

  def wait(self, name):
    return self.processes[name].wait(TIMEOUT)

  def log(self, name, start=None):
    start = start or self.starts[name]
    return (self.path / ('%s.%d.log' % (name, start))).read_text()

  def checkpoint_steps(self):
    """The steps of the complete checkpoints on disk."""
    return [int(p.rsplit('-', 1)[1]) for p in
            rundir.RunDir(self.model_path, '').checkpoints()]

  def checkpoint(self, step):
    return os.path.join(self.model_path, '%s-%d' % (rundir.CHECKPOINT_NAME,
                                                    step))

  def wait_for_checkpoint(self, step):
    """Waits until a checkpoint of at least `step` is on disk."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
      if any(s >= step for s in self.checkpoint_steps()):
        return max(self.checkpoint_steps())
      time.sleep(0.1)
    raise AssertionError('no checkpoint at step %d:\n%s' % (
        step, self.log('worker0')[-3000:]))

  def stop(self):
    for process in self.processes.values():
      if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture
def tasks(tmp_path, request):
  """A cluster of 2 workers and 1 ps, or `request.param` ps tasks."""
  running = Cluster(tmp_path, ps=getattr(request, 'param', 1))
  yield running
  running.stop()


def _last_step():
  train = data.load_digits(image_size=8).train
  return EPOCHS * -(-train.num_examples // 32)


def _ready_steps(log):
  return [int(m) for m in re.findall(r'session ready at global step (\d+)',
                                     log)]


def _finished(tasks, names):
  for name in names:
    assert tasks.wait(name) == 0, tasks.log(name)[-3000:]
  final = tasks.checkpoint_steps()
  assert final and max(final) == _last_step()
  assert 'test accuracy' in tasks.log('worker0')
  assert os.path.exists(rundir.RunDir(tasks.model_path, '').best_path)


def test_a_killed_worker_restarts_and_rejoins(tasks):
  tasks.start_all()
  tasks.wait_for_checkpoint(10)
  tasks.kill('worker1')
  tasks.start('worker', 1)
  _finished(tasks, ['worker0', 'worker1'])
  log = tasks.log('worker1')
  assert _ready_steps(log) and _ready_steps(log)[0] >= 10
  assert 'ran' in log


def test_a_killed_chief_resumes_from_its_checkpoint(tasks):
  tasks.start_all()
  saved = tasks.wait_for_checkpoint(10)
  tasks.kill('worker0')
  before = tasks.checkpoint_steps()
  assert max(before) >= saved
  tasks.start('worker', 0)
  _finished(tasks, ['worker0', 'worker1'])
  log = tasks.log('worker0')
  # The restarted chief restores the latest checkpoint: global_step is
  # that checkpoint's step, not less.
  assert _ready_steps(log)[0] == max(before), log[-3000:]
  assert 'restored from %s-%d' % (os.path.join(tasks.model_path,
                                               rundir.CHECKPOINT_NAME),
                                  max(before)) in log


@pytest.mark.parametrize('tasks,killed,survivors', [
    (1, 'ps0', ['worker0', 'worker1']),
    (0, 'worker1', ['worker0']),
], ids=['ps', 'all-reduce-worker'], indirect=['tasks'])
def test_a_lost_task_stops_the_workers_and_a_restart_resumes(
    tasks, killed, survivors):
  """A ps, or with all-reduce another worker, is what a worker needs."""
  tasks.start_all()
  saved = tasks.wait_for_checkpoint(10)
  tasks.kill(killed)
  started = time.monotonic()
  job, index = killed[:-1], killed[-1]
  for name in survivors:
    assert tasks.wait(name) == 2, tasks.log(name)[-3000:]
    assert re.search(r'stops: %s task %s at 127\.0\.0\.1:\d+ is unreachable '
                     r'after 3 s' % (job, index), tasks.log(name)), (
                         tasks.log(name)[-3000:])
  assert time.monotonic() - started < 60
  before = tasks.checkpoint_steps()
  assert max(before) >= saved
  tasks.start_all()
  _finished(tasks, ['worker0', 'worker1'])
  # Every worker starts again from the chief's restored checkpoint.
  for name in ('worker0', 'worker1'):
    assert _ready_steps(tasks.log(name))[0] == max(before), name


def _files(prefix):
  return {path: open(path, 'rb').read() for path in glob.glob(prefix + '.*')}


def test_a_chief_resumes_from_the_files_past_a_damaged_checkpoint(tasks):
  """A junk state file and a truncated latest checkpoint: the restarted
  chief says so, restores the one before (untouched), and finishes."""
  tasks.start_all()
  tasks.wait_for_checkpoint(20)
  tasks.kill_all()
  *_, before, latest = tasks.checkpoint_steps()
  kept = _files(tasks.checkpoint(before))
  with open(os.path.join(tasks.model_path, 'checkpoint'), 'w') as f:
    f.write('junk')
  data_file, = glob.glob(tasks.checkpoint(latest) + '.data-*')
  os.truncate(data_file, os.path.getsize(data_file) // 2)
  tasks.start_all()
  _finished(tasks, ['worker0', 'worker1'])
  log = tasks.log('worker0')
  assert '%s cannot be read' % tasks.checkpoint(latest) in log, log[-3000:]
  assert 'restored from %s' % tasks.checkpoint(before) in log
  assert _ready_steps(log)[0] == before
  assert _ready_steps(tasks.log('worker1'))[0] == before
  if before in tasks.checkpoint_steps():  # not yet rotated out
    assert _files(tasks.checkpoint(before)) == kept


def test_sigterm_stops_the_chief_after_saving_and_the_lock_holds(tasks):
  """SIGTERM: the chief saves the step it was at and exits 143, and its
  synchronous cluster ends with it (its token queue closes); while another
  process holds the run's lock a chief is refused; the cluster started
  again resumes from the saved step."""
  tasks.start_all()
  tasks.wait_for_checkpoint(10)
  assert tasks.kill('worker0', signal.SIGTERM) == 128 + signal.SIGTERM
  log = tasks.log('worker0')
  stopped = re.search(r'SIGTERM: training stopped at step (\d+) and saved '
                      r'(\S+);', log)
  assert stopped, log[-3000:]
  step = int(stopped.group(1))
  assert stopped.group(2) == tasks.checkpoint(step)
  assert max(tasks.checkpoint_steps()) == step
  assert 'Traceback' not in log
  assert tasks.wait('worker1') == 0
  assert re.search(r'global step %d of %d; not finished: start every task '
                   r'again' % (step, _last_step()), tasks.log('worker1'))
  tasks.kill('ps0')
  run = rundir.RunDir(tasks.model_path, '')
  with run.lock():
    tasks.start('worker', 0)
    assert tasks.wait('worker0') == 2
    assert 'is being trained by process %d' % os.getpid() in tasks.log(
        'worker0')
  tasks.start_all()
  _finished(tasks, ['worker0', 'worker1'])
  assert _ready_steps(tasks.log('worker0'))[0] == step
