import sys

from trueloop.cli import main

sys.exit(main())
