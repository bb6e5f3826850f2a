"""``python -m tasnet_edu.cli``: the ``tasnet-edu`` command, as ``torchrun … -m tasnet_edu.cli train …``
launches it on several GPUs."""

import sys

from tasnet_edu.cli import main

if __name__ == "__main__":
    sys.exit(main())
