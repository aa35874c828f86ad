#!/usr/bin/env python3
"""Speed side by side: see resnet_v1_graph/benchmark.py (also `resnet-tf1-benchmark`)."""

import sys

from resnet_v1_graph import benchmark

if __name__ == '__main__':
  sys.exit(benchmark.main())
