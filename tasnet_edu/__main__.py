import sys

from tasnet_edu.cli import main

sys.exit(main())
