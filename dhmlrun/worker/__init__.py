"""The processes that execute runs, and what crosses into them.

    protocol.py  typed requests, the Result, the table of operations (apply imports only this)
    main.py      `python -m dhmlrun.worker REQUEST RESULT`: apply's worker, one request each
    run.py       a run on the DigitalHub platform, through the SDK
    upload.py    a declared file to the project's files store
    on_mlrun.py  a function, run or schedule on the MLRun service, with mlrun's classes
    job.py       `python -m dhmlrun.worker.job PROJECT RUN_ID`: the embedded core's executor
    build.py     `python -m dhmlrun.worker.build PROJECT RUN_ID`: a function's build on the core
    pipeline.py  `python -m dhmlrun.worker.pipeline PROJECT RUN_ID`: a hera pipeline, as Argo runs it
    argo.py      the Argo Workflow spec a hera build yields, read into typed values
    walk.py      walking that spec as Argo's controller does (containers run by a callback)
    hera_step.py one step, as the hera wrapper's step.py runs it
    ending.py    marking a run ERROR, ending it and the process at once (shared by both)

Nothing here is imported by apply except `protocol`: the rest imports the SDK or mlrun.
"""
