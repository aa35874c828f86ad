"""resnet-tf1: ResNet the TensorFlow-1 way, on TensorFlow 2.x.

TensorFlow itself is an extra, because its CPU and GPU builds are different
distributions that install the same `tensorflow` module:

  pip install -e '.[cpu]'   # tensorflow-cpu: a fraction of the full wheel
  pip install -e '.[gpu]'   # tensorflow[and-cuda]: CUDA and cuDNN from PyPI

With TensorFlow >= 2.16 already installed (any build), plain
`pip install -e .` keeps it. `scripts/install.sh` makes that choice for you.
"""

from setuptools import find_packages, setup

TENSORFLOW_VERSION = '>=2.16'

setup(
    name='resnet-tf1',
    version='0.1.0',
    description=('ResNet v1/v2 in TensorFlow-1 graph mode (sessions, '
                 'placeholders, slim-compatible checkpoints) on TensorFlow 2.x'),
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['resnet_v1_graph', 'resnet_v1_graph.*',
                                    'resnet_v2_slim', 'resnet_v2_slim.*']),
    install_requires=[
        'numpy',
        'tf-slim>=1.1',
        'scikit-learn',
        'h5py',
        'matplotlib',
        'pyyaml',
        'tqdm',
    ],
    extras_require={
        'cpu': ['tensorflow-cpu' + TENSORFLOW_VERSION],
        'gpu': ['tensorflow[and-cuda]' + TENSORFLOW_VERSION],
        # tf-keras (the reference oracles) requires the full `tensorflow`
        # distribution by name; scripts/install.sh adds it without deps so it
        # sits beside tensorflow-cpu instead of pulling a second TensorFlow.
        # pytest-xdist runs the suite in two processes (scripts/test.sh).
        'test': ['pytest', 'pytest-xdist'],
        # ONNX export and its check (export --onnx).
        'onnx': ['tf2onnx>=1.17', 'onnxruntime'],
        # Running the teaching notebooks (python -m
        # resnet_v1_graph.tools.notebooks) and their tests.
        'notebooks': ['nbclient', 'nbformat', 'ipykernel'],
    },
    entry_points={
        'console_scripts': [
            'resnet-tf1=resnet_v1_graph.cli:main',
            'resnet-tf1-benchmark=resnet_v1_graph.tools.benchmark:main',
        ],
    },
    license='Apache-2.0',
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: Apache Software License',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
