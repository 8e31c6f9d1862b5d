import os
import sys

# `python -m ecobench` puts the current folder first on the import path: a checkout there (anyone's) would then
# shadow the optional packages ecobench imports on demand. ecobench itself is imported by now; drop it.
if sys.path and sys.path[0] in ("", os.getcwd()) and not getattr(sys.flags, "safe_path", False):
    del sys.path[0]

from ecobench.cli import main

sys.exit(main())
