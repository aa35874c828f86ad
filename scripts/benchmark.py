#!/usr/bin/env python3
"""Speed side by side: see resnet_v1_graph/tools/benchmark.py.

The same program as `python -m resnet_v1_graph.tools.benchmark` and, once
installed, `resnet-tf1-benchmark`.
"""

import os
import sys

# Runs from a clone without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top
from resnet_v1_graph.tools import benchmark
# pylint: enable=g-import-not-at-top

if __name__ == '__main__':
  sys.exit(benchmark.main())
