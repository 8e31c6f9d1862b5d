import sys

from ecobench.cli import main

sys.exit(main())
