"""`python -m aegis_cli`: the same as the `aegis` command."""

import sys

from aegis_cli.main import main

sys.exit(main())
