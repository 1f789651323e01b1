"""Sources the workflow tests share: step functions and a two-step hera pipeline over them."""

STEP_FUNCTIONS = """
from digitalhub_runtime_python import handler


@handler(outputs=["dataset"])
def produce(project, rows: int = 3):
    return project.new_dataitem("produced", kind="table", path=f"s3://bucket/produced-{rows}.csv")


@handler(outputs=["summary"])
def consume(project, di, label: str = ""):
    return project.new_artifact("summary", kind="artifact", path=f"s3://bucket/{di.name}-{label}.txt")
"""
"""Two python handlers a pipeline chains: `produce` makes a dataitem, `consume` reads it."""

TWO_STEP_PIPELINE = """
from digitalhub_runtime_hera.dsl import step
from hera.workflows import DAG, Workflow


def pipeline():
    with Workflow(entrypoint="dag") as w:
        with DAG(name="dag"):
            a = step(template={"action": "job"}, function="prepare", outputs=["dataset"])
            b = step(template={"action": "job"}, function="train", inputs={"di": a.get_parameter("dataset")})
            a >> b
    return w
"""
"""A hera workflow whose `train` step reads the dataset its `prepare` step outputs."""

LABELLED_PIPELINE = """
from digitalhub_runtime_hera.dsl import step
from hera.workflows import DAG, Parameter, Workflow


def pipeline():
    with Workflow(entrypoint="dag", arguments=Parameter(name="label")) as w:
        with DAG(name="dag"):
            a = step(template={"action": "job", "parameters": {"rows": 7}}, function="produce",
                     outputs=["dataset"])
            b = step(
                template={"action": "job", "inputs": {"di": "{{inputs.parameters.di}}"},
                          "parameters": {"label": "{{workflow.parameters.label}}"}},
                function="consume",
                inputs={"di": a.get_parameter("dataset")},
            )
            a >> b
    return w
"""
"""A hera workflow over STEP_FUNCTIONS: `produce` 7 rows, then `consume` them with the workflow's
`label` argument."""
