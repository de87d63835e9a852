"""`python3 -m lockstep_probe ARGS`. bundle.ts also puts this file at the top of the zipapp,
where `python3 lockstep_probe.pyz ARGS` runs it with the archive on sys.path, so the import is
absolute."""

import sys

from lockstep_probe.cli import main

sys.exit(main())
