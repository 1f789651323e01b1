"""The seed's k8s task parameters, validated in DHCore's shapes (friendlier forms accepted).

Shared by the task spec and the run spec (the SDK merges function, task and run specs into the
run when it is built). `env` is accepted as DHCore's `envs`; maps are accepted where DHCore
wants lists of pairs (`node_selector`, `envs`) and normalised to the list form.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

QUANTITY = r"^\d+(\.\d+)?([a-zA-Z]{1,2})?$"
CRON_FIELD = r"^[\d*/,\-?LW#A-Za-z]+$"
CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

Quantity = Annotated[str, Field(pattern=QUANTITY)] | int | float


class ResourceRange(BaseModel):
    """Kubernetes requests and limits of one resource."""

    model_config = ConfigDict(extra="forbid")

    requests: Quantity | None = None
    limits: Quantity | None = None


ResourceValue = Quantity | ResourceRange


class Resources(BaseModel):
    """CPU, memory, GPU and disk; a bare value means requests = limits (GPU: limits only)."""

    model_config = ConfigDict(extra="forbid")

    cpu: ResourceValue | None = None
    mem: ResourceValue | None = None
    gpu: ResourceValue | None = None
    disk: ResourceValue | None = None


class KeyValue(BaseModel):
    """One node-selector pair."""

    key: str
    value: str


class EnvVar(BaseModel):
    """One environment variable."""

    name: str
    value: str


class Toleration(BaseModel):
    """A Kubernetes toleration (snake_case or camelCase seconds)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = Field(
        default=None, validation_alias=AliasChoices("toleration_seconds", "tolerationSeconds")
    )


class Volume(BaseModel):
    """A volume as DHCore takes it (`CoreVolume`): its `spec` is a map of strings whose keys depend
    on the type (`claimName` for a shared volume, `size` and `storage_class` for a claim made per
    run, `size` and `storageClass` for an ephemeral one, `sizeLimit` for an empty dir, `subPath`
    for any). The SDK's own model drops those keys, so it is not used here."""

    model_config = ConfigDict(extra="forbid")

    volume_type: Literal["persistent_volume_claim", "empty_dir", "ephemeral", "shared_volume"]
    name: str = Field(min_length=1)
    mount_path: str = Field(min_length=1)
    spec: dict[str, str] | None = None

    @field_validator("spec", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items() if v is not None}
        return value


class TaskParams(BaseModel):
    """Task parameters for remote execution, as the seed lists them."""

    node_selector: list[KeyValue] | None = None
    volumes: list[Volume] | None = None
    resources: Resources | None = None
    affinity: dict[str, Any] | None = None
    tolerations: list[Toleration] | None = None
    envs: list[EnvVar] | None = Field(default=None, validation_alias=AliasChoices("envs", "env"))
    secrets: list[str] | None = None
    backoff_limit: int | None = Field(default=None, ge=0)
    schedule: str | None = None
    replicas: int | None = Field(default=None, ge=1)
    profile: str | None = None
    timeout: int | float | None = Field(default=None, gt=0)
    "Seconds a run may execute (inputs, source, handler) before it is ended as ERROR; worker runs only."

    @field_validator("node_selector", mode="before")
    @classmethod
    def _node_selector_pairs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"key": k, "value": str(v)} for k, v in value.items()]
        return value

    @field_validator("envs", mode="before")
    @classmethod
    def _env_pairs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"name": k, "value": str(v)} for k, v in value.items()]
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or value.strip() in CRON_MACROS:
            return value
        fields = value.split()
        if len(fields) not in (5, 6) or not all(re.match(CRON_FIELD, f) for f in fields):
            raise ValueError(f"schedule {value!r} is not a cron expression (5 fields, e.g. '0 3 * * *')")
        return value


TASK_PARAM_FIELDS = tuple(TaskParams.model_fields)
