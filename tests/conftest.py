"""Test-suite settings shared by every test module."""

import torch

# The tests train many tiny networks: on a 2-core machine torch's intra-op threads cost far more
# in synchronisation than they gain on such small matrices (measured 4x slower with 2 threads).
torch.set_num_threads(1)
