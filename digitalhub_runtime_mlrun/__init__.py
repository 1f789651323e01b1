"""The mlrun runtime for the digitalhub SDK, discovered by the SDK by this module's name.

The SDK scans top-level modules named `digitalhub_runtime_*` for `entity_builders` and
`runtime_builders`; the implementation lives in `dhmlrun.runtime`. Importing this module does
not import mlrun.
"""

from dhmlrun.runtime import entity_builders, runtime_builders

__all__ = ["entity_builders", "runtime_builders"]
