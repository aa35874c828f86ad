"""A whole cluster on this machine, in one command, on the loopback address.

  resnet-tf1 cluster --ps 1 --workers 2 -- train --dataset digits --epoch 3

starts each task as its own process (`python -m resnet_v1_graph.cli train
...` with its TF_CONFIG) on 127.0.0.1 with free ports, prefixes every line a
task prints with its name (`[ps0]`, `[worker1]`), stops the ps tasks once the
workers have finished (a ps serves until it is stopped, as in TF 1), and
returns the chief's exit code. Ctrl-C stops every task. `--ps 0` starts
workers only, which train by all-reduce.

Typical use from Python:

  code = launcher.launch(['train', '--dataset', 'digits'], ps=1, workers=2)
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading

from resnet_v1_graph.training import cluster as cluster_lib

LOOPBACK = '127.0.0.1'
# How long a ps task gets to exit after SIGTERM before it is killed.
STOP_SECONDS = 5


def free_ports(count):
  """`count` distinct TCP ports that are free on the loopback address now.

  All sockets stay open until every port is chosen, so none repeats; a
  port can still be taken by another program before a task binds it.
  """
  with contextlib.ExitStack() as stack:
    sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
    for s in sockets:
      s.bind((LOOPBACK, 0))
    return [s.getsockname()[1] for s in sockets]


def local_cluster(ps, workers):
  """{'ps': [...], 'worker': [...]} on free loopback ports."""
  ports = free_ports(ps + workers)
  addresses = ['%s:%d' % (LOOPBACK, port) for port in ports]
  return {'ps': addresses[:ps], 'worker': addresses[ps:]}


def _relay(stream, prefix, out, lock):
  """Copies a task's output line by line, each line after `prefix`."""
  for line in iter(stream.readline, ''):
    with lock:
      out.write(prefix + line)
      out.flush()
  stream.close()


class _Task:
  """One task's process and the thread relaying its output."""

  def __init__(self, role, task_args, out, lock):
    self.role = role
    self.name = '%s%d' % (role.job, role.index)
    env = dict(os.environ, TF_CONFIG=role.tf_config(),
               PYTHONUNBUFFERED='1')
    self.process = subprocess.Popen(
        [sys.executable, '-m', 'resnet_v1_graph.cli'] + list(task_args),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, errors='replace')
    self.thread = threading.Thread(
        target=_relay, args=(self.process.stdout, '[%s] ' % self.name, out,
                             lock), daemon=True)
    self.thread.start()

  def stop(self):
    if self.process.poll() is None:
      self.process.send_signal(signal.SIGTERM)
      try:
        self.process.wait(STOP_SECONDS)
      except subprocess.TimeoutExpired:
        self.process.kill()
        self.process.wait()
    self.thread.join()


def launch(task_args, ps=1, workers=2, out=None):
  """Runs `resnet-tf1 <task_args>` as every task of a local cluster.

  Args:
    task_args: The command line each task runs, starting with 'train'.
    ps, workers: How many parameter-server and worker tasks.
    out: Where the prefixed lines go (default sys.stdout).

  Returns:
    The chief's (worker 0's) exit code.

  Raises:
    ValueError: If `task_args` does not run `train`, or on fewer than one
      worker or a negative ps count.
  """
  task_args = list(task_args)
  if task_args[:1] == ['--']:
    task_args = task_args[1:]
  if task_args[:1] != ['train']:
    raise ValueError('a cluster runs `train`: give `resnet-tf1 cluster --ps '
                     'N --workers M -- train [flags]`, got %r' % task_args)
  if ps < 0 or workers < 1:
    raise ValueError('a cluster needs at least 1 worker task and 0 or more '
                     'ps tasks (0: all-reduce), got --ps %d --workers %d' %
                     (ps, workers))
  spec = local_cluster(ps, workers)
  out = out or sys.stdout
  lock = threading.Lock()
  tasks = []
  try:
    # The ps tasks first: workers wait for them, not the other way round.
    for job in cluster_lib.JOBS:
      for index in range(len(spec[job])):
        tasks.append(_Task(cluster_lib.Role(spec, job, index), task_args,
                           out, lock))
    workers_tasks = [t for t in tasks if t.role.job == 'worker']
    codes = [t.process.wait() for t in workers_tasks]
  finally:
    for task in tasks:
      task.stop()
  with lock:
    out.write('cluster finished: %s\n' % ', '.join(
        '%s exit %d' % (t.name, code) for t, code in zip(workers_tasks,
                                                        codes)))
  return codes[0]
