"""Tools around the library: the benchmark and the reference builders.

  * `benchmark`: the side-by-side speed table and its command line
    (`python -m resnet_v1_graph.tools.benchmark`, `resnet-tf1-benchmark`);
  * `candidates`: what the benchmark measures: our networks from
    `nets.registry`, tf-slim's reference nets, Keras applications and the
    classic class fed through its input pipeline;
  * `timing`: round-robin step timing, the matmul peak, FLOP counts and the
    synthetic-data training and inference graphs;
  * `profiling`: where one step's time goes, op by op;
  * `report`: the results as rows, ours/theirs ratios and markdown tables;
  * `references`: tf-slim's own nets and the classic class written with
    `tf.compat.v1.layers`, which the tests and the benchmark compare with.
    They need tf-keras and `TF_USE_LEGACY_KERAS=1` before TensorFlow loads.

This is the top of the house: a tool may import anything in the packages,
and nothing in them imports a tool (the tests do).
"""
