"""Export: SavedModel and frozen GraphDef, reloaded in a fresh process.

The reload uses nothing of this project: TF2 eager `tf.saved_model.load`
with the `serving_default` signature, and `tf.compat.v1.import_graph_def`
of the frozen file run in a session by node names. Both must give what the
training graph gives in inference mode, with batch-norm statistics far from
their initial values so that a graph left in training mode would show. Run
with `-s` to see the measured differences.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import cli
from resnet_v1_graph import export
from resnet_v1_graph.training import rundir
from resnet_v1_graph import classifier

SIZE = 33
CLASSES = 5
README = os.path.join(os.path.dirname(__file__), '..', 'README.md')
README_SECTION = '## Checkpoint tools and export'
# Frozen and reloaded graphs run the same kernels on the same constants;
# what differs is grappler's rewrites (constant folding, fused batch norm),
# worth a few float32 ulps of the largest logit.
TOLERANCE = 1e-5

RELOAD = r'''
import json, sys
import numpy as np
import tensorflow as tf

jobs = json.loads(sys.argv[1])
report = {}
for name, job in jobs.items():
  images = np.load(job['images'])
  serve = tf.saved_model.load(job['saved_model']).signatures[
      'serving_default']
  eager = {k: v.numpy() for k, v in serve(images=tf.constant(images)).items()}
  graph_def = tf.compat.v1.GraphDef()
  with open(job['frozen'], 'rb') as f:
    graph_def.ParseFromString(f.read())
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.import_graph_def(graph_def, name='')
  # Grappler's constant folding of a frozen ResNet-50 takes seconds and
  # changes nothing here.
  config = tf.compat.v1.ConfigProto()
  config.graph_options.rewrite_options.disable_meta_optimizer = True
  with tf.compat.v1.Session(graph=graph, config=config) as session:
    names = job['outputs']
    frozen = dict(zip(names, session.run([n + ':0' for n in names],
                                         {job['input'] + ':0': images})))
  np.savez(job['result'], **{'eager_' + k: v for k, v in eager.items()},
           **{'frozen_' + k: v for k, v in frozen.items()})
  report[name] = {
      'signature_inputs': sorted(serve.structured_input_signature[1]),
      'signature_outputs': sorted(serve.structured_outputs),
      'placeholders': sorted(n.name for n in graph_def.node
                             if n.op == 'Placeholder'),
      'op_types': sorted({n.op for n in graph_def.node}),
      'nodes': sorted(n.name for n in graph_def.node),
      'batch_norm_training': sorted({bool(n.attr['is_training'].b)
                                     for n in graph_def.node
                                     if n.op.startswith('FusedBatchNorm')}),
  }
print(json.dumps(report))
'''


def _trained_looking(net, rng):
  """Initialises `net` and moves every batch-norm statistic and offset."""
  session = tf.Session(graph=net.graph)
  with net.graph.as_default():
    session.run(net.trainer.init_op)
    assignments = []
    for variable in tf.global_variables():
      name = variable.op.name
      shape = variable.shape.as_list()
      if name.endswith(('moving_mean', 'beta')):
        assignments.append(tf.assign(variable, rng.normal(0, 0.2, shape)))
      elif name.endswith('moving_variance'):
        assignments.append(tf.assign(variable, rng.uniform(0.5, 2.0, shape)))
      elif name.endswith('gamma'):
        assignments.append(tf.assign(variable, rng.uniform(0.2, 0.6, shape)))
    session.run(assignments)
  return session


def _saved_run(name, options, size, path, rng, step, count):
  """A network with trained-looking weights saved under `path/model`.

  Returns (the network, its checkpoint, `count` random images, the
  training graph's outputs for them in inference mode).
  """
  net = classifier.build(name, height=size, width=size, num_classes=CLASSES,
                         model_path=str(path / 'model'),
                         summary_path=str(path / 'summary'), verbose=False,
                         **options)
  session = _trained_looking(net, rng)
  os.makedirs(path / 'model')
  with net.graph.as_default():
    checkpoint = net.trainer.saver.save(
        session, str(path / 'model' / 'model.ckpt'), global_step=step)
  images = rng.uniform(0, 1, (count, size, size, net.config.channel)).astype(
      np.float32)
  expected = dict(zip(('logits', 'probabilities', 'classes'), session.run(
      [net.logits, net.probabilities, net.prediction], {net.input_x: images})))
  session.close()
  return net, checkpoint, images, expected


@pytest.fixture(scope='module')
def exported(module_dir):
  """Two runs exported, one through the CLI; reloaded in a fresh process.

  Returns {name: (expected outputs, reloaded outputs, report, run folder)}.
  """
  root = module_dir('export')
  rng = np.random.RandomState(0)
  runs = {'resnet_v2_50': dict(channel=3), 'resnet': dict(depth=18,
                                                          channel=1)}
  jobs, expected = {}, {}
  for name, options in runs.items():
    path = root / name
    net, checkpoint, images, expected[name] = _saved_run(
        name, options, SIZE, path, rng, step=7, count=2)
    job = {'saved_model': str(path / 'saved_model'),
           'frozen': str(path / 'frozen' / 'model.pb'),
           'images': str(path / 'images.npy'),
           'result': str(path / 'result.npz'),
           'input': export.INPUT_NAME, 'outputs': list(export.OUTPUT_NAMES)}
    np.save(job['images'], images)
    if name == 'resnet_v2_50':
      written = export.export(net, checkpoint, saved_model=job['saved_model'],
                              frozen=job['frozen'])
      assert written['checkpoint'] == checkpoint
    else:
      # The CLI rebuilds the run from the config.json that `train` writes.
      with open(path / 'model' / rundir.CONFIG_FILE, 'w') as f:
        json.dump(dict(net.config.to_dict(), model=name), f)
      assert cli.main(['export', '--model-path', str(path / 'model'),
                       '--saved-model', job['saved_model'],
                       '--frozen', job['frozen']]) == 0
    jobs[name] = job
  environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  environment.pop('TF_USE_LEGACY_KERAS', None)
  completed = subprocess.run([sys.executable, '-c', RELOAD, json.dumps(jobs)],
                             capture_output=True, text=True, check=True,
                             env=environment)
  report = json.loads(completed.stdout.strip().splitlines()[-1])
  return {name: (expected[name], dict(np.load(jobs[name]['result'])),
                 report[name], str(root / name)) for name in runs}


@pytest.mark.parametrize('name', ['resnet_v2_50', 'resnet'])
def test_reloaded_outputs_equal_the_session(exported, name):
  expected, reloaded, _, _ = exported[name]
  for output in ('logits', 'probabilities'):
    scale = max(1.0, np.abs(expected[output]).max())
    for how in ('eager', 'frozen'):
      got = reloaded['%s_%s' % (how, output)]
      print('\n%s %s %s: max |reloaded - session| = %.3g (values up to '
            '%.3g)' % (name, how, output,
                       np.abs(got - expected[output]).max(),
                       np.abs(expected[output]).max()))
      np.testing.assert_allclose(got, expected[output], rtol=0,
                                 atol=TOLERANCE * scale)
  for how in ('eager', 'frozen'):
    np.testing.assert_array_equal(reloaded[how + '_classes'],
                                  expected['classes'])
  # Moved batch-norm statistics make the logits far from uniform.
  assert np.ptp(expected['logits']) > 0.1


@pytest.mark.parametrize('name', ['resnet_v2_50', 'resnet'])
def test_exported_graph_is_clean(exported, name):
  _, _, report, _ = exported[name]
  assert report['signature_inputs'] == [export.INPUT_NAME]
  assert report['signature_outputs'] == sorted(export.OUTPUT_NAMES)
  assert report['placeholders'] == [export.INPUT_NAME]
  assert report['batch_norm_training'] == [False]
  ops = set(report['op_types'])
  assert not ops & {'VariableV2', 'VarHandleOp', 'ReadVariableOp',
                    'IteratorGetNext', 'ApplyAdam', 'Switch'}
  assert not [n for n in report['nodes'] if 'Adam' in n or 'global_step' in n]


def test_readme_lists_the_node_names(exported):
  with open(README, encoding='utf-8') as f:
    text = f.read()
  assert README_SECTION in text
  section = text.split(README_SECTION, 1)[1].split('\n## ', 1)[0]
  listed = re.findall(r'`(\w+):0`', section)
  assert listed == [export.INPUT_NAME] + list(export.OUTPUT_NAMES)
  for name in exported:
    nodes = exported[name][2]['nodes']
    assert set(listed) <= set(nodes)


def test_saved_model_is_never_overwritten(exported, tmp_path, capsys):
  run = os.path.join(exported['resnet'][3], 'model')
  existing = tmp_path / 'saved_model'
  existing.mkdir()
  assert cli.main(['export', '--model-path', run, '--saved-model',
                   str(existing)]) == 2
  assert 'give a new SavedModel' in capsys.readouterr().err
  assert cli.main(['export', '--model-path', str(tmp_path / 'nothing'),
                   '--frozen', str(tmp_path / 'f.pb')]) == 2
  assert 'no config.json' in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(['export', '--model-path', run])  # Nothing to write.


@pytest.mark.parametrize('name,options,size', [
    ('resnet', dict(depth=18, channel=1), SIZE),
    ('resnet', dict(depth=18, channel=1), 48),
    ('resnet_v2_50', dict(channel=3), 48)])
def test_onnx_round_trip(name, options, size, tmp_path):
  net, checkpoint, images, expected = _saved_run(
      name, options, size, tmp_path, np.random.RandomState(size), step=3,
      count=3)
  path = str(tmp_path / 'model.onnx')
  written = export.export(net, checkpoint, onnx=path)
  assert written['onnx'] == path
  assert written['onnx_gap'] <= export.ONNX_TOLERANCE * max(
      1., written['onnx_scale'])
  print('%s at %d: ONNX Runtime vs TensorFlow logits %.2g (scale %.3g)' % (
      name, size, written['onnx_gap'], written['onnx_scale']))
  # Run again here, on images the check never saw, against the training
  # graph's own outputs in inference mode.
  for output in ('logits', 'probabilities'):
    got = export.run_onnx(path, images, output)
    scale = max(1., np.abs(expected[output]).max())
    np.testing.assert_allclose(got, expected[output],
                               atol=export.ONNX_TOLERANCE * scale)
  np.testing.assert_array_equal(export.run_onnx(path, images, 'classes'),
                                expected['classes'])
  # It is an output like the others: never replaced without force.
  with pytest.raises(FileExistsError, match='ONNX file, or --force'):
    export.export(net, checkpoint, onnx=path)


def test_onnx_without_the_extra_says_what_to_install(exported, tmp_path,
                                                     monkeypatch, capsys):
  run = os.path.join(exported['resnet'][3], 'model')
  monkeypatch.setitem(sys.modules, 'tf2onnx', None)  # import fails
  assert cli.main(['export', '--model-path', run, '--onnx',
                   str(tmp_path / 'm.onnx')]) == 2
  assert "pip install 'resnet-tf1[onnx]'" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / 'm.onnx')


def test_predict_with_onnxruntime_matches_tensorflow(exported, tmp_path,
                                                     capsys):
  run = os.path.join(exported['resnet'][3], 'model')
  cfg = rundir.RunDir.read_config(run)
  rng = np.random.RandomState(5)
  pixels = rng.randint(0, 256, (6, SIZE, SIZE, 1)).astype(np.uint8)
  model = classifier.Classifier(cfg)
  expected = model.predict_proba(pixels)
  model.close()
  predictor = export.OnnxPredictor(cfg)
  assert predictor.path == os.path.join(run, 'onnx', 'model.ckpt-7.onnx')
  got = predictor.predict_proba(pixels)
  np.testing.assert_allclose(got, expected,
                             atol=export.ONNX_TOLERANCE * max(
                                 1., np.abs(expected).max()))
  np.testing.assert_array_equal(predictor.predict(pixels),
                                np.argmax(expected, axis=1))
  # Exported once: a second predictor reads the same file.
  written = os.path.getmtime(predictor.path)
  assert export.OnnxPredictor(cfg).path == predictor.path
  assert os.path.getmtime(predictor.path) == written
  paths = []
  for i, image in enumerate(pixels):
    paths.append(str(tmp_path / ('%d.png' % i)))
    with open(paths[-1], 'wb') as f:
      f.write(_png(image))
  labels = {}
  for runtime in ('tensorflow', 'onnxruntime'):
    assert cli.main(['predict', '--model-path', run, '--runtime', runtime,
                     '--images'] + paths) == 0
    labels[runtime] = capsys.readouterr().out
  assert labels['onnxruntime'] == labels['tensorflow']
  assert labels['tensorflow'].splitlines()[0] == '%s\t%d' % (
      paths[0], np.argmax(expected[0]))


def _png(image):
  with tf.Graph().as_default(), tf.Session() as session:
    return session.run(tf.image.encode_png(image))
