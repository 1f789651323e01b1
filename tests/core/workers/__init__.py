"""Stand-in worker programs for executor tests: real processes that talk HTTP to the core.

They play the runtime's part of the remote-run contract (`python -m MODULE PROJECT RUN_ID`, with
`DHCORE_ENDPOINT` and the core's token set) so the job runner can be tested without mlrun.
"""
