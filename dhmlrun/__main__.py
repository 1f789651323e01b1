"""Allow `python -m dhmlrun`."""

from dhmlrun.cli import main

main()
