"""Run kind `mlrun+job:run`: spec (inputs, outputs, parameters, values), status and entity.

After execution `status.outputs` maps each output name to an entity key and `status.results`
holds the values, so `run.output("dataset")` is a dataitem (with `.as_df()`) and
`run.result("rows")` a value.
"""

from __future__ import annotations

from typing import Any

from digitalhub.entities._commons.enums import EntityTypes, Relationship
from digitalhub.entities._commons.utils import get_entity_type_from_key
from digitalhub.entities.run._base.builder import RunBuilder
from digitalhub.entities.run._base.entity import Run
from digitalhub.entities.run._base.spec import RunSpec, RunValidator
from digitalhub.entities.run._base.status import RunStatus
from pydantic import field_validator

from dhmlrun.runtime.function import RuntimeEntityBuilderMlrun
from dhmlrun.runtime.ioforms import as_mapping, as_names
from dhmlrun.runtime.kinds import Kind
from dhmlrun.runtime.taskparams import TASK_PARAM_FIELDS, TaskParams

STORE_PREFIX = "store://"
FUNCTION_FIELDS = ("source", "handler", "image", "tag", "requirements")
RUN_FIELDS = ("inputs", "outputs", "parameters", "values", "local_execution")


class RunSpecMlrunJob(RunSpec):
    """Spec of an `mlrun+job:run`: run fields plus the function and task fields merged in at build."""

    def __init__(
        self, task: str, function: str | None = None, workflow: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(task=task, function=function, workflow=workflow)
        for name in (*TASK_PARAM_FIELDS, *FUNCTION_FIELDS, *RUN_FIELDS):
            setattr(self, name, kwargs.get(name))
        self.local_execution = bool(kwargs.get("local_execution", False))


class RunValidatorMlrunJob(TaskParams, RunValidator):
    """Validates an `mlrun+job:run` spec; inputs/outputs accept the dict and the list form."""

    source: dict | None = None
    handler: str | None = None
    image: str | None = None
    tag: str | None = None
    requirements: list[str] | str | None = None

    inputs: dict[str, str] | None = None
    "mlrun input name → entity key (store://…) of a dataitem, artifact or model."
    outputs: dict[str, str] | None = None
    "mlrun output key → name of the entity the runtime creates for it."
    parameters: dict[str, Any] | None = None
    "mlrun params; `parameters['inputs']` (a mapping) is merged into the inputs."
    values: list[str] | None = None
    "Names of mlrun results to keep in `status.results` (empty: all of them)."
    local_execution: bool = False

    @field_validator("inputs", "outputs", mode="before")
    @classmethod
    def _mapping(cls, value: Any, info: Any) -> Any:
        return as_mapping(value, info.field_name)

    @field_validator("values", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return as_names(value, "values")


class RunStatusMlrunJob(RunStatus):
    """Status of an `mlrun+job:run`: the SDK's fields plus `outputs` (entity keys) and `results`."""

    def __init__(
        self,
        state: str,
        message: str | None = None,
        transitions: list[dict] | None = None,
        k8s: dict | None = None,
        metrics: dict | None = None,
        outputs: dict | None = None,
        results: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(state, message, transitions, k8s, metrics, **kwargs)
        self.outputs = outputs
        self.results = results


class RunMlrunJob(Run):
    """A run of an `mlrun` function."""

    def local_execution(self) -> bool:
        return bool(self.spec.local_execution)

    def _setup_execution(self) -> None:
        """Record what the run consumes; inputs are resolved by the runtime, where failures become ERROR."""
        keys = [k for k in (self.spec.inputs or {}).values() if k.startswith(STORE_PREFIX)]
        if not keys:
            return
        self.refresh()
        for key in keys:
            self.add_relationship(relation=Relationship.CONSUMES.value, dest=key)
        self.save(update=True)

    def set_status(self, status: dict) -> None:
        """Merge outputs instead of replacing them, as the SDK's python runtime does."""
        if "outputs" in status and self.status.outputs:
            status["outputs"] = {**self.status.outputs, **(status["outputs"] or {})}
        super().set_status(status)

    def inputs(self, as_dict: bool = False) -> dict:
        """The input entities by name (entity keys only; other inputs are plain paths)."""
        entities = {
            name: read_material_entity(key)
            for name, key in (self.spec.inputs or {}).items()
            if key.startswith(STORE_PREFIX)
        }
        return {name: e.to_dict() for name, e in entities.items()} if as_dict else entities

    def outputs(self, as_key: bool = False, as_dict: bool = False) -> dict:
        """The entities the run produced, by output name."""
        result: dict = {}
        for name, key in (self.status.outputs or {}).items():
            if as_key:
                result[name] = key
                continue
            entity = read_material_entity(key)
            result[name] = entity.to_dict() if as_dict else entity
        return result

    def output(self, output_name: str, as_key: bool = False, as_dict: bool = False) -> Any:
        """One produced entity by output name (None when the run did not produce it)."""
        key = (self.status.outputs or {}).get(output_name)
        if key is None:
            return None
        if as_key:
            return key
        entity = read_material_entity(key)
        return entity.to_dict() if as_dict else entity

    def results(self) -> dict:
        """The run's values (mlrun results)."""
        return dict(self.status.results or {})

    def result(self, result_name: str) -> Any:
        """One value by name."""
        return self.results().get(result_name)


def read_material_entity(key: str) -> Any:
    """Read a dataitem, artifact or model by key."""
    from digitalhub.entities.artifact.crud import get_artifact
    from digitalhub.entities.dataitem.crud import get_dataitem
    from digitalhub.entities.model.crud import get_model

    getters = {
        EntityTypes.DATAITEM.value: get_dataitem,
        EntityTypes.ARTIFACT.value: get_artifact,
        EntityTypes.MODEL.value: get_model,
    }
    entity_type = get_entity_type_from_key(key)
    if entity_type not in getters:
        raise ValueError(f"{key!r} is not a dataitem, artifact or model key")
    return getters[entity_type](key)


class RunMlrunJobBuilder(RunBuilder, RuntimeEntityBuilderMlrun):
    """Builds `mlrun+job:run` runs."""

    ENTITY_CLASS = RunMlrunJob
    ENTITY_SPEC_CLASS = RunSpecMlrunJob
    ENTITY_SPEC_VALIDATOR = RunValidatorMlrunJob
    ENTITY_STATUS_CLASS = RunStatusMlrunJob
    ENTITY_KIND = Kind.RUN_JOB.value
