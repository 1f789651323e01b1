"""The serving example's jobs as a pipeline the platform runs: prepare, then train, chained by a
hera workflow (digitalhub-runtime-hera's DSL). Each step runs the declared function of that name;
the flowers dataitem and C come in as the workflow's arguments (the pipeline run's inputs and
parameters in pipeline.yaml), and each step's outputs are output parameters (entity keys)."""

from digitalhub_runtime_hera.dsl import step
from hera.workflows import DAG, Parameter, Workflow


def pipeline():
    arguments = [Parameter(name="flowers"), Parameter(name="C")]
    with Workflow(entrypoint="dag", arguments=arguments) as workflow, DAG(name="dag"):
        prepare = step(
            template={"action": "job", "inputs": {"flowers": "{{workflow.parameters.flowers}}"}},
            function="prepare",
            outputs=["dataset"],
        )
        train = step(
            template={
                "action": "job",
                "inputs": {"dataset": "{{inputs.parameters.dataset}}"},
                "parameters": {"C": "{{workflow.parameters.C}}"},
            },
            function="train",
            inputs={"dataset": prepare.get_parameter("dataset")},
            outputs=["model"],
        )
        prepare >> train
    return workflow
