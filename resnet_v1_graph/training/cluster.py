"""A task's role in a TensorFlow cluster, read from TF_CONFIG or TF1 flags.

A cluster has `worker` tasks, which compute gradients, and optionally
parameter-server tasks (`ps`), which hold the variables; worker 0 is the
chief, which initialises or restores the variables and writes checkpoints
and summaries. Without a ps job the workers keep their own copies of the
variables and average their gradients by all-reduce (`allreduce`). A task
learns its role in one of two standard forms:

  TF_CONFIG='{"cluster": {"ps": ["10.0.0.1:2222"],
                          "worker": ["10.0.0.2:2222", "10.0.0.3:2222"]},
              "task": {"type": "worker", "index": 0}}'

  --ps-hosts 10.0.0.1:2222 --worker-hosts 10.0.0.2:2222,10.0.0.3:2222
  --job-name worker --task-index 0

Both give the same `Role`; flags win over the environment.

Typical use:

  role = cluster.resolve(environ=os.environ)        # None: no cluster
  server = cluster.start_server(role, session_config)
"""

import dataclasses
import json
import os
import socket
import time

import tensorflow.compat.v1 as tf

JOBS = ('ps', 'worker')
TF_CONFIG = 'TF_CONFIG'
# How often a task retries an address that is not accepting connections yet.
CONNECT_RETRY_SECONDS = 0.25


class ClusterError(ValueError):
  """A cluster description or task role that cannot work, and why."""


def _check_address(address, where):
  host, _, port = str(address).rpartition(':')
  if not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise ClusterError('%s: %r is not host:port (e.g. 10.0.0.1:2222)' %
                       (where, address))


@dataclasses.dataclass(frozen=True)
class Role:
  """One task of a cluster.

  Attributes:
    cluster: {'ps': [host:port, ...], 'worker': [host:port, ...]}.
    job: 'ps' or 'worker'.
    index: The task's index in its job.
  """
  cluster: dict
  job: str
  index: int

  def __post_init__(self):
    _validate(self)

  @property
  def is_chief(self):
    return self.job == 'worker' and self.index == 0

  @property
  def num_workers(self):
    return len(self.cluster['worker'])

  @property
  def num_ps(self):
    return len(self.cluster.get('ps') or ())

  @property
  def all_reduce(self):
    """Whether the workers hold the variables (no ps job)."""
    return not self.num_ps

  @property
  def watched_job(self):
    """The job a worker cannot train without: the ps tasks, or with
    all-reduce the other workers."""
    return 'worker' if self.all_reduce else 'ps'

  @property
  def address(self):
    return self.cluster[self.job][self.index]

  @property
  def device(self):
    """The task's device prefix, e.g. '/job:worker/task:1'."""
    return '/job:%s/task:%d' % (self.job, self.index)

  @property
  def device_filters(self):
    """What a worker's session may talk to: the ps tasks and itself.

    Without filters every session waits for every task of the cluster, so a
    worker that died would stop the others from (re)starting. Collectives
    find the other workers without the session's help.
    """
    return ([] if self.all_reduce else ['/job:ps']) + [self.device]

  def cluster_spec(self):
    return tf.train.ClusterSpec(
        {job: hosts for job, hosts in self.cluster.items() if hosts})

  def describe(self):
    return '%s %d of %d%s at %s' % (
        self.job, self.index, len(self.cluster[self.job]),
        ' (chief)' if self.is_chief else '', self.address)

  def tf_config(self):
    """This role as TF_CONFIG's JSON text."""
    return json.dumps({'cluster': self.cluster,
                       'task': {'type': self.job, 'index': self.index}})


def _validate(role):
  cluster = role.cluster
  if not isinstance(cluster, dict):
    raise ClusterError('the cluster must map job names to address lists, '
                       'got %r' % (cluster,))
  if 'chief' in cluster:
    raise ClusterError(
        "this trainer has no separate 'chief' job: worker 0 is the chief; "
        "list its address first under 'worker'")
  unknown = sorted(set(cluster) - set(JOBS))
  if unknown:
    raise ClusterError('unknown job(s) %s in the cluster; the jobs are %s' %
                       (unknown, ' and '.join(JOBS)))
  for job in JOBS:
    addresses = cluster.get(job, [] if job == 'ps' else None)
    if not isinstance(addresses, list) or (job == 'worker' and
                                           not addresses):
      raise ClusterError('the cluster needs a list of %s addresses%s; got %r'
                         % (job, ' with at least one' if job == 'worker'
                            else '', addresses))
    for address in addresses:
      _check_address(address, 'cluster %s' % job)
  every = (cluster.get('ps') or []) + cluster['worker']
  repeated = sorted({a for a in every if every.count(a) > 1})
  if repeated:
    raise ClusterError('address(es) %s are given to more than one task; '
                       'each task needs its own port' % repeated)
  if role.job not in JOBS:
    raise ClusterError('unknown job name %r; choose %s' %
                       (role.job, ' or '.join(JOBS)))
  count = len(cluster.get(role.job) or ())
  if not count:
    raise ClusterError('this task is a %s but the cluster lists no %s tasks'
                       % (role.job, role.job))
  if (not isinstance(role.index, int) or isinstance(role.index, bool) or
      not 0 <= role.index < count):
    raise ClusterError('task index %r is out of range: the cluster has %d '
                       '%s task(s), indexed 0 to %d' %
                       (role.index, count, role.job, count - 1))


def from_tf_config(text):
  """The `Role` in TF_CONFIG's JSON text.

  Raises:
    ClusterError: If the text is not JSON of the standard form, or names a
      job or index the cluster does not have.
  """
  try:
    value = json.loads(text)
  except ValueError as error:
    raise ClusterError('%s is not valid JSON (%s); expected {"cluster": '
                       '{"ps": [...], "worker": [...]}, "task": {"type": '
                       '"worker", "index": 0}}' % (TF_CONFIG, error)) from None
  if not isinstance(value, dict) or not isinstance(value.get('task'), dict):
    raise ClusterError('%s needs a "cluster" mapping and a "task" with '
                       '"type" and "index"; got %r' % (TF_CONFIG, value))
  task = value['task']
  if 'type' not in task:
    raise ClusterError('%s\'s task has no "type" (ps or worker): %r' %
                       (TF_CONFIG, task))
  cluster = value.get('cluster')
  if isinstance(cluster, dict):
    # Only the two jobs this trainer runs are kept; an empty list of any
    # other job (TF writes "evaluator": [] in some tools) means nothing.
    cluster = {job: hosts for job, hosts in cluster.items()
               if job in JOBS or hosts}
  return Role(cluster, task['type'], task.get('index', 0))


def from_flags(ps_hosts, worker_hosts, job_name, task_index):
  """The `Role` given by the TF1 flags; hosts are comma-separated.

  Without `ps_hosts` the workers train by all-reduce.
  """
  missing = [flag for flag, value in (
      ('--worker-hosts', worker_hosts),
      ('--job-name', job_name), ('--task-index', task_index))
             if value is None]
  if missing:
    raise ClusterError('a cluster task needs --worker-hosts, --job-name '
                       'and --task-index (and --ps-hosts to keep the '
                       'variables on parameter servers); missing %s' %
                       ', '.join(missing))

  def hosts(text):
    return [h.strip() for h in text.split(',') if h.strip()]

  cluster = {'worker': hosts(worker_hosts)}
  if ps_hosts:
    cluster['ps'] = hosts(ps_hosts)
  return Role(cluster, job_name, task_index)


def resolve(ps_hosts=None, worker_hosts=None, job_name=None, task_index=None,
            environ=None):
  """The role from the flags if any is given, else from TF_CONFIG, else None.

  Args:
    ps_hosts, worker_hosts, job_name, task_index: The TF1 flags' values.
    environ: The environment (default `os.environ`).
  """
  if any(v is not None for v in (ps_hosts, worker_hosts, job_name,
                                 task_index)):
    return from_flags(ps_hosts, worker_hosts, job_name, task_index)
  text = (os.environ if environ is None else environ).get(TF_CONFIG)
  if not text:
    return None
  return from_tf_config(text)


def wait_for_tasks(role, job, timeout):
  """Waits until every task of `job` accepts TCP connections.

  TensorFlow itself waits for an absent task without end, logging every 10
  seconds; this check turns that into an error that says what is missing.

  Raises:
    ClusterError: If a task is still unreachable after `timeout` seconds.
  """
  deadline = time.monotonic() + timeout
  for index, address in enumerate(role.cluster.get(job) or ()):
    host, _, port = address.rpartition(':')
    while True:
      try:
        with socket.create_connection((host, int(port)),
                                      timeout=CONNECT_RETRY_SECONDS):
          break
      except OSError:
        if time.monotonic() > deadline:
          raise ClusterError(
              '%s task %d at %s is unreachable after %.0f s. Start it (or '
              'restart it; training then resumes from the last checkpoint) '
              'and check the address and any firewall between the tasks.' %
              (job, index, address, timeout)) from None
        time.sleep(CONNECT_RETRY_SECONDS)


def start_server(role, config=None):
  """Starts this task's gRPC server (it listens on every interface)."""
  return tf.train.Server(role.cluster_spec(), job_name=role.job,
                         task_index=role.index, config=config)
