"""The mlrun runtime for the digitalhub SDK, discovered by the SDK by this module's name.

The SDK scans top-level modules named `digitalhub_runtime_*` for `entity_builders` and
`runtime_builders`; the implementation lives in `dhmlrun.runtime` (these tuples in
`dhmlrun.runtime.builders`). Importing this module does not import mlrun.

The runtime is written for the SDK's 0.15 line (`dhmlrun.compat.digitalhub.VERSIONS`). With
another SDK installed (the 0.16 pre-releases) it registers no kind: the 0.16 SDK imports every
`digitalhub_runtime_*` module and stops at the first that fails, so a runtime that cannot load
there would take every other runtime (python, hera, ...) down with it.
"""

from dhmlrun.compat.digitalhub import sdk_supported

if sdk_supported():
    from dhmlrun.runtime.builders import entity_builders, runtime_builders
else:  # another SDK line: nothing of the mlrun kinds, and nothing of the SDK imported here
    entity_builders: tuple = ()
    runtime_builders: tuple = ()

__all__ = ["entity_builders", "runtime_builders"]
