"""Running a graph model: sessions, the run directory, the training loop.

  * `session`: the one factory of sessions, honouring every session setting
    of a `config.Config` (threads, precision, XLA);
  * `rundir`: `RunDir`, the only code that knows where a run's files go;
  * `summaries`: TensorBoard scalars and the curves PNG;
  * `trainer`: `Trainer`, which fits, evaluates and predicts any
    `model.GraphModel`;
  * `finetune`: starting a model from another model's checkpoint;
  * `cluster`: a task's role in a cluster, from TF_CONFIG or TF 1 flags;
  * `replicas`: `ClusterTrainer`, between-graph training on a cluster;
  * `allreduce`: the collective all-reduce of clusters without ps tasks.
"""
