"""dhmlrun: DigitalHub and MLRun projects as code.

Kept import-free on purpose: `dhmlrun validate`, `plan` and `--help` must start fast and must
not pull in mlrun or digitalhub, so every heavy import lives inside the function that needs it.
"""

__version__ = "0.1.0"
