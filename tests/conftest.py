"""Suite-wide settings: one torch thread in the test process.

The models under test are tiny; with more runnable threads than free cores (a shared 2-core
machine, the sandbox workers of the code tests) OpenMP threads spin-wait and a tiny forward pass
slows down ~100x (measured: 0.38 s vs 0.003 s). Subprocesses a test starts keep their defaults.
"""

import torch

torch.set_num_threads(1)
