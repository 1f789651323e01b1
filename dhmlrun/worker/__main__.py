"""`python -m dhmlrun.worker REQUEST.json RESULT.json` (see `main.py`)."""

import sys

from dhmlrun.worker.main import main

sys.exit(main(sys.argv[1:]))
