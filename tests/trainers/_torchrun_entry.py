"""The ``rome-smplx`` command for the multi-process tests, started by ``torch.distributed.run``.

* oneDNN convolutions are off, so a convolution gives each sample the same result whatever the batch
  size (the 2-process run and the 1-process run with the same global batch then agree to float
  rounding, not to the kernel choice);
* ``ROME_SMPLX_TEST_SGD=1`` replaces Adam by plain SGD at the same learning rate. Adam moves every
  weight by about ``lr`` whatever the gradient's size, so gradients that are zero up to rounding
  (e.g. convolution biases before a normalisation) turn into full steps of either sign; with SGD
  the weights are a linear function of the averaged gradients and can be compared tightly.
"""

import os
import sys

import torch

torch.backends.mkldnn.enabled = False
torch.set_num_threads(1)
if os.environ.get("ROME_SMPLX_TEST_SGD") == "1":
    def _sgd(params, lr, betas=None, **_):
        return torch.optim.SGD(params, lr=lr)

    torch.optim.Adam = _sgd

from rome_smplx.cli import main  # noqa: E402

sys.exit(main())
