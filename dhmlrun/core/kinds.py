"""The kinds the core knows, as one table: per (entity type, kind), its runtime and its spec fields.

Why a table: a stock DHCore 0.15 accepts only the kinds its spec registry holds (404 `No such
spec.` for any other), keeps only the spec fields each kind's class declares (unknown keys
vanish, nulls are dropped), and describes every kind at `GET /api/v1/schemas/{entity}`. The
embedded core answers the same, from this table, and dhmlrun asks that endpoint whether a
platform knows the `mlrun` kinds. Field names, types, requirements and defaults come from
DHCore 0.15's spec classes (docs/dhcore.md §12); the JSON Schemas served are
derived from this table, not copied from DHCore.

Shape of the table:
- `RUNTIMES`: one `Runtime` per runtime. Its executable kind is named after it (`python`); each
  task action gives a task kind `<runtime>+<action>` (the executable reference, the runtime's
  task base fields, the action's extras); each task kind gives a run kind `<task kind>:run`,
  which keeps the run's own fields plus, unwrapped, the task's and the executable's fields
  (DHCore's run spec classes `@JsonUnwrapped` both, and the build merges them into the run).
- `OTHER_KINDS`: the kinds without a runtime (artifacts, dataitems, models, secrets, triggers,
  the project, logs).
- dhmlrun's own `mlrun` runtime is marked `stock=False`: known unless the core runs `--stock`.

Nested shapes are kept as sent except `resources`, whose unknown keys DHCore drops (a verified
fact); type errors are not checked here (DHCore answers them with Jackson's 400).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dhmlrun.core.entities import CONTEXT_TYPES
from dhmlrun.core.errors import bad_request, missing_spec, no_such_spec
from dhmlrun.core.levels import DEFAULT_LEVEL, LEVEL_ONLY_TYPES, api_level
from dhmlrun.core.specs import check_mlrun_function, check_mlrun_run, check_mlrun_task
from dhmlrun.vocabulary.kinds import MLRUN_KIND, runtime_name, task_action

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SCHEMA_ENTITIES: tuple[str, ...] = (*CONTEXT_TYPES, "project", "metadata", "extension", "extensiondefinition")
"""The `{entity}` segments DHCore's schema controller answers (any other: 404 with no body).
The last three have kinds in DHCore that the embedded core does not model: their lists are empty."""

Check = Callable[[dict[str, Any]], None]
INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
NUMBER_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _json_kind(value: Any) -> str:
    """How Jackson names a JSON token it could not bind."""
    if isinstance(value, dict):
        return "Object value (token `JsonToken.START_OBJECT`)"
    if isinstance(value, list):
        return "Array value (token `JsonToken.START_ARRAY`)"
    if isinstance(value, bool):
        return f"Boolean value ({str(value).lower()})"
    return f'String "{value}"' if isinstance(value, str) else f"value {value!r}"


@dataclass(frozen=True)
class Field:
    """One spec field: its JSON type, whether DHCore requires it, and what DHCore adds or drops."""

    name: str
    type: str | None = None
    """JSON Schema type (None: any)."""
    required: bool = False
    enum: tuple[str, ...] = ()
    items: str | None = None
    """JSON type of an array's items, when they are scalars."""
    keys: tuple[str, ...] = ()
    """For an object of strings: the only keys DHCore keeps (empty: kept as sent)."""
    default: Any = None
    """What DHCore stores when the field is absent (its spec class initialises it)."""

    def problem(self, value: Any) -> str | None:
        """Why Jackson could not bind `value` to this field of the spec class (None when it can):
        scalars coerce between strings, numbers and booleans as Jackson's defaults allow
        (`"5"` to an int, `5` to a string), enums match exactly, objects and arrays must be."""
        if value is None or self.type is None:
            return None
        text = isinstance(value, str)
        if self.type == "string":
            if isinstance(value, dict | list):
                return f"Cannot deserialize value of type `java.lang.String` from {_json_kind(value)}"
            if self.enum and str(value) not in self.enum:
                allowed = ", ".join(self.enum)
                return (
                    f'Cannot deserialize value from String "{value}": not one of the values accepted '
                    f"for Enum class: [{allowed}]"
                )
            return None
        if self.type in ("integer", "number"):
            java = "java.lang.Integer" if self.type == "integer" else "java.lang.Double"
            if isinstance(value, bool | dict | list):
                return f"Cannot deserialize value of type `{java}` from {_json_kind(value)}"
            pattern = INTEGER_TEXT if self.type == "integer" else NUMBER_TEXT
            fraction = self.type == "integer" and isinstance(value, float) and not value.is_integer()
            if (text and not pattern.match(value.strip())) or fraction:
                shown = _json_kind(value)
                return f"Cannot deserialize value of type `{java}` from {shown}: not a valid `{java}` value"
            return None
        if self.type == "boolean":
            if isinstance(value, bool) or (text and value.strip().lower() in ("true", "false")):
                return None
            return f"Cannot deserialize value of type `java.lang.Boolean` from {_json_kind(value)}"
        expected = {"object": dict, "array": list}.get(self.type)
        if expected is not None and not isinstance(value, expected):
            java = "java.util.Map" if self.type == "object" else "java.util.List"
            return f"Cannot deserialize value of type `{java}` from {_json_kind(value)}"
        return None

    def shaped(self, value: Any) -> Any:
        """The value as DHCore stores it."""
        if self.keys and isinstance(value, dict):
            return {k: v for k, v in value.items() if k in self.keys and v is not None}
        return value

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {}
        if self.type is not None:
            schema["type"] = self.type
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.items is not None:
            schema["items"] = {"type": self.items}
        if self.keys:
            schema["properties"] = {key: {"type": "string"} for key in self.keys}
        if self.default is not None:
            schema["default"] = copy.deepcopy(self.default)
        return schema


Fields = tuple[Field, ...]


def _string(
    name: str, *, required: bool = False, enum: tuple[str, ...] = (), default: str | None = None
) -> Field:
    return Field(name, "string", required=required, enum=enum, default=default)


def _boolean(name: str) -> Field:
    return Field(name, "boolean")


def _integer(name: str) -> Field:
    return Field(name, "integer")


def _object(name: str, *, required: bool = False, default: dict[str, Any] | None = None) -> Field:
    return Field(name, "object", required=required, default=default)


def _array(name: str, items: str | None = None, *, required: bool = False) -> Field:
    return Field(name, "array", required=required, items=items)


@dataclass(frozen=True)
class Kind:
    """One registered kind: what `GET /schemas/{entity}/{kind}` describes and what a create keeps."""

    entity: str
    kind: str
    fields: Fields
    """The kind's own fields (the `properties` of its schema)."""
    runtime: str | None = None
    base: Kind | None = None
    """A run kind's task kind: its fields are kept too, and its schema is the run schema's `allOf`."""
    hidden: Fields = ()
    """Fields kept but not described (a run's unwrapped executable spec)."""
    stock: bool = True
    check: Check | None = None
    """dhmlrun's own validation of a kind it executes (its runtime's needs, core's 400 wording)."""
    level: int = DEFAULT_LEVEL
    """The first API level that has this kind (`levels.py`)."""

    @property
    def schema_id(self) -> str:
        return f"{self.entity.upper()}:{self.kind}"

    def kept_fields(self) -> Iterator[Field]:
        """Every field a spec of this kind keeps, own first."""
        yield from self.fields
        if self.base is not None:
            yield from self.base.kept_fields()
        yield from self.hidden

    def json_schema(self, *, root: bool = True) -> dict[str, Any]:
        """A minimal JSON Schema of the spec: object, known properties, required ones, and for a
        run kind its task's schema under `allOf`."""
        schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT} if root else {}
        schema["type"] = "object"
        schema["properties"] = {f.name: f.json_schema() for f in self.fields}
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        if self.base is not None:
            schema["allOf"] = [self.base.json_schema(root=False)]
        return schema

    def document(self) -> dict[str, Any]:
        """The Schema object DHCore serves (`runtime` omitted for kinds without one)."""
        doc: dict[str, Any] = {"kind": self.kind, "entity": self.entity.upper(), "id": self.schema_id}
        if self.runtime is not None:
            doc["runtime"] = self.runtime
        doc["schema"] = self.json_schema()
        return doc

    def shape(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec as DHCore stores it: unknown keys and nulls dropped, defaults added."""
        known: dict[str, Field] = {}
        for f in self.kept_fields():
            known.setdefault(f.name, f)
        shaped = {name: known[name].shaped(value) for name, value in spec.items() if name in known}
        shaped = {name: value for name, value in shaped.items() if value is not None}
        for f in known.values():
            if f.default is not None and f.name not in shaped:
                shaped[f.name] = copy.deepcopy(f.default)
        return shaped

    def check_types(self, spec: dict[str, Any]) -> None:
        """400 with Jackson's message when a known field cannot be bound (`replicas: "abc"`, a
        `python_version` no enum constant names): DHCore converts the spec map to its kind's spec
        class (`Spec.configure`) and answers an IllegalArgumentException with 400."""
        known: dict[str, Field] = {}
        for f in self.kept_fields():
            known.setdefault(f.name, f)
        for name, value in spec.items():
            found = known.get(name)
            problem = found.problem(value) if found is not None else None
            if problem is not None:
                raise bad_request(f'{problem} (through reference chain: spec["{name}"])')

    def require(self, spec: dict[str, Any]) -> None:
        """400 like DHCore's spec validator when a required own field is missing."""
        missing = [f.name for f in self.fields if f.required and spec.get(f.name) in (None, "")]
        if missing:
            errors = " ".join(
                f"[Field error on field '{name}': rejected value [null]; default message [must not be null]]"
                for name in missing
            )
            raise bad_request(f"Validation failed: {errors}")


# -------------------------------------------------------------------------------- shared fields

SERVICE_TYPES = ("ExternalName", "ClusterIP", "NodePort", "LoadBalancer")
PYTHON_VERSIONS = ("PYTHON3_10", "PYTHON3_11", "PYTHON3_12", "PYTHON3_13")

RESOURCES = Field("resources", "object", keys=("cpu", "mem", "gpu", "disk"))
"""Flat strings (`{cpu: "1", mem: "1Gi"}`), not `{requests, limits}`; DHCore drops other keys."""
K8S_TASK: Fields = (
    _array("volumes"),
    _array("envs"),
    RESOURCES,
    _array("secrets", "string"),
    _string("profile"),
)
"""The k8s task fields of DHCore 0.15 (node_selector, affinity, tolerations, runtime_class and
priority_class were removed; unknown keys vanish)."""
SERVE_TASK: Fields = (
    _integer("replicas"),
    _string("service_type", enum=SERVICE_TYPES),
    _string("service_name"),
)
MODEL_SERVE_TASK: Fields = (
    _integer("replicas"),
    _string("service_type", enum=SERVICE_TYPES, default="ClusterIP"),
    _string("service_name"),
)
"""The model-serving runtimes' serve tasks, whose spec class initialises `service_type`."""
BUILD_TASK: Fields = (_array("instructions", "string"),)
CONTAINER_SECURITY: Fields = (_integer("fs_group"), _integer("run_as_user"), _integer("run_as_group"))

RUN_BASE: Fields = (
    _string("task", required=True),
    Field("local_execution", "boolean", default=False),
)
"""Every run: its task string (`<task kind>://<project>/<task id>`) and whether the client runs it."""

INPUTS = _object("inputs", default={})
OUTPUTS = _object("outputs", default={})
PARAMETERS = _object("parameters", default={})
INIT_PARAMETERS = _object("init_parameters", default={})

SOURCE = _object("source", required=True)
BASE_IMAGE, IMAGE, TAG, MODEL_NAME, URL = (
    _string(n) for n in ("base_image", "image", "tag", "model_name", "url")
)
REQUIREMENTS = _array("requirements", "string")
ARGS = _array("args", "string")
MODEL_PATH = _string("path", required=True)
ADAPTERS = _array("adapters")


# -------------------------------------------------------------------------------- runtimes

RUNTIME_MODULE_PREFIX = "digitalhub_runtime_"
PYTHON_MODULE = "digitalhub_runtime_python"
MODELSERVE_MODULE = "digitalhub_runtime_modelserve"
FLOWER_MODULE = "digitalhub_runtime_flower"
SERVE_ACTION = "serve"
"""The task action whose runs are services: kept running behind an endpoint, not run to an end."""


@dataclass(frozen=True)
class Runtime:
    """One runtime: its executable kind (named after it), task actions, and its runs' own fields."""

    name: str
    executable: Fields
    tasks: Mapping[str, Fields]
    """action → the task fields beyond the executable reference and `task_base`."""
    run: Fields = ()
    executable_entity: str = "function"
    task_base: Fields = K8S_TASK
    stock: bool = True
    checks: Mapping[str, Check] = field(default_factory=dict)
    """entity type → dhmlrun's own validation of that kind."""
    executable_hidden: Fields = ()
    """Executable fields kept but not described (DHCore's `@JsonSchemaIgnore`: a workflow's `build`)."""
    module: str | None = None
    """The SDK plugin that holds this runtime's entities and executes its runs, when it is not
    named after the runtime (`digitalhub_runtime_<name>`): the SDK finds a kind's classes in
    whichever `digitalhub_runtime_*` module lists it in `entity_builders`, and several runtimes
    share one package (the model-serving kinds are all digitalhub-runtime-modelserve's)."""

    @property
    def sdk_module(self) -> str:
        return self.module or RUNTIME_MODULE_PREFIX + self.name.replace("-", "_")

    def kinds(self) -> Iterator[Kind]:
        """The executable kind, then each task kind followed by its run kind."""
        executable = Kind(
            self.executable_entity,
            self.name,
            self.executable,
            runtime=self.name,
            hidden=self.executable_hidden,
            stock=self.stock,
            check=self.checks.get(self.executable_entity),
        )
        yield executable
        reference = _string(self.executable_entity, required=True)
        for action, extras in self.tasks.items():
            task = Kind(
                "task",
                f"{self.name}+{action}",
                (reference, *self.task_base, *extras),
                runtime=self.name,
                stock=self.stock,
                check=self.checks.get("task"),
            )
            yield task
            yield Kind(
                "run",
                f"{task.kind}:run",
                (*RUN_BASE, *self.run),
                runtime=self.name,
                base=task,
                hidden=(*self.executable, *self.executable_hidden),
                stock=self.stock,
                check=self.checks.get("run"),
            )


PYTHON_RUN: Fields = (INPUTS, PARAMETERS, INIT_PARAMETERS)
KUBEAI_SERVE_TASK: Fields = (_string("profile"),)
"""KubeAI serve tasks are not k8s tasks: only the function reference and a profile."""
KUBEAI_RUN: Fields = (
    ARGS,
    _string("cache_profile"),
    _object("envs"),
    _array("files"),
    _integer("processors"),
    _object("scaling"),
    _array("secrets", "string"),
    URL,
)
VLLM_FUNCTION: Fields = (ADAPTERS, IMAGE, MODEL_NAME, _string("url", required=True))
VLLM_RUN: Fields = (ARGS, _boolean("enable_telemetry"), URL, _boolean("use_cpu_image"))
MODEL_SERVE_FUNCTION: Fields = (IMAGE, MODEL_NAME, MODEL_PATH)
HUGGINGFACE_SERVE_TASK: Fields = (
    *MODEL_SERVE_TASK,
    _string("backend", enum=("AUTO", "VLLM", "HUGGINGFACE")),
    _boolean("disable_log_requests"),
    _boolean("disable_lower_case"),
    _boolean("disable_special_tokens"),
    _string("dtype", enum=("AUTO", "FLOAT16", "FLOAT32", "BFLOAT16", "FLOAT", "HALF")),
    _string("huggingface_task"),
    _integer("max_length"),
    _integer("max_log_len"),
    _boolean("return_probabilities"),
    _boolean("return_token_type_ids"),
    _array("tensor_input_names", "string"),
    _string("tokenizer_revision"),
    _boolean("trust_remote_code"),
)
FLOWER_FUNCTION: Fields = (BASE_IMAGE, IMAGE, REQUIREMENTS)
FLOWER_PEER_RUN: Fields = (_string("root_certificates"), _string("superlink"))
WORKFLOW_EXECUTABLE: Fields = (IMAGE, SOURCE, TAG)
WORKFLOW_BUILD: Fields = (_object("build"),)
"""The built Argo workflow (`{base64, lang: yaml}`) DHCore stores after a build (`HeraWorkflowSpec`,
`KFPWorkflowSpec`: `@JsonSchemaIgnore`); docs/dhcore-runs.md §2."""

MLRUN_TASK: Fields = (
    _array("node_selector"),
    _array("volumes"),
    _object("resources"),
    _object("affinity"),
    _array("tolerations"),
    _array("envs"),
    _array("secrets", "string"),
    _integer("backoff_limit"),
    _string("schedule"),
    _integer("replicas"),
    _string("profile"),
    Field("timeout", "number"),
)
"""dhmlrun's `mlrun+job` task parameters (`runtime/taskparams.py`; a test keeps them in step)."""

RUNTIMES: tuple[Runtime, ...] = (
    Runtime(
        "python",
        executable=(
            SOURCE,
            _string("python_version", required=True, enum=PYTHON_VERSIONS),
            IMAGE,
            BASE_IMAGE,
            REQUIREMENTS,
        ),
        tasks={"job": (), "serve": SERVE_TASK, "build": BUILD_TASK},
        run=PYTHON_RUN,
    ),
    Runtime(
        "guardrail",
        executable=(
            BASE_IMAGE,
            IMAGE,
            _string(
                "processing_mode", required=True, enum=("preprocessor", "postprocessor", "wrapprocessor")
            ),
            _string("python_version", required=True, enum=PYTHON_VERSIONS),
            REQUIREMENTS,
            SOURCE,
        ),
        tasks={"build": BUILD_TASK, "serve": SERVE_TASK},
        run=(INIT_PARAMETERS,),
        module=PYTHON_MODULE,
    ),
    Runtime(
        "openinference",
        executable=(
            BASE_IMAGE,
            IMAGE,
            _array("inputs", required=True),
            _string("model_name", required=True),
            _array("outputs"),
            _string("python_version", required=True, enum=PYTHON_VERSIONS),
            REQUIREMENTS,
            SOURCE,
        ),
        tasks={"build": BUILD_TASK, "serve": SERVE_TASK},
        run=(INIT_PARAMETERS,),
        module=PYTHON_MODULE,
    ),
    Runtime(
        "container",
        executable=(
            BASE_IMAGE,
            _string("command"),
            IMAGE,
            _string("image_pull_policy", enum=("IfNotPresent", "Always", "Never")),
            _object("source"),
        ),
        tasks={
            "job": CONTAINER_SECURITY,
            "deploy": (*CONTAINER_SECURITY, _integer("replicas")),
            "serve": (*CONTAINER_SECURITY, *SERVE_TASK, _array("service_ports")),
            "build": BUILD_TASK,
        },
        run=(ARGS,),
    ),
    Runtime("dbt", executable=(SOURCE,), tasks={"transform": ()}, run=(INPUTS, OUTPUTS, PARAMETERS)),
    Runtime(
        "kfp",
        executable=WORKFLOW_EXECUTABLE,
        executable_hidden=WORKFLOW_BUILD,
        executable_entity="workflow",
        tasks={"pipeline": (), "build": ()},
        run=(INPUTS, OUTPUTS, PARAMETERS),
    ),
    Runtime(
        "hera",
        executable=WORKFLOW_EXECUTABLE,
        executable_hidden=WORKFLOW_BUILD,
        executable_entity="workflow",
        tasks={"pipeline": (), "build": ()},
        run=(PARAMETERS,),
    ),
    Runtime(
        "kubeai-text",
        executable=(
            ADAPTERS,
            _string("engine", required=True, enum=("OLlama", "VLLM", "Infinity")),
            _array("features", "string", required=True),
            IMAGE,
            MODEL_NAME,
            _string("url", required=True),
        ),
        tasks={"serve": ()},
        task_base=KUBEAI_SERVE_TASK,
        run=KUBEAI_RUN,
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "kubeai-speech",
        executable=(ADAPTERS, IMAGE, MODEL_NAME, _string("url", required=True)),
        tasks={"serve": ()},
        task_base=KUBEAI_SERVE_TASK,
        run=KUBEAI_RUN,
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "mlflowserve",
        executable=MODEL_SERVE_FUNCTION,
        tasks={"serve": MODEL_SERVE_TASK, "build": BUILD_TASK},
        run=(_string("path"),),
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "sklearnserve",
        executable=MODEL_SERVE_FUNCTION,
        tasks={"serve": MODEL_SERVE_TASK},
        run=(_string("path"),),
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "huggingfaceserve",
        executable=MODEL_SERVE_FUNCTION,
        tasks={"serve": HUGGINGFACE_SERVE_TASK},
        run=(ARGS, _string("path")),
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "vllmserve-text",
        executable=VLLM_FUNCTION,
        tasks={"serve": MODEL_SERVE_TASK},
        run=VLLM_RUN,
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "vllmserve-speech",
        executable=VLLM_FUNCTION,
        tasks={"serve": MODEL_SERVE_TASK},
        run=VLLM_RUN,
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "vllmserve-pooling",
        executable=VLLM_FUNCTION,
        tasks={"serve": MODEL_SERVE_TASK},
        run=VLLM_RUN,
        module=MODELSERVE_MODULE,
    ),
    Runtime(
        "flower-app",
        executable=(*FLOWER_FUNCTION, _object("fab_source")),
        tasks={"train": ()},
        run=(_string("federation"), PARAMETERS, *FLOWER_PEER_RUN),
        module=FLOWER_MODULE,
    ),
    Runtime(
        "flower-client",
        executable=FLOWER_FUNCTION,
        tasks={"build": BUILD_TASK, "deploy": ()},
        run=(
            _string("isolation", enum=("process", "subprocess"), default="subprocess"),
            _object("node_config", default={}),
            _string("private_key_secret"),
            _string("public_key_secret"),
            *FLOWER_PEER_RUN,
        ),
        module=FLOWER_MODULE,
    ),
    Runtime(
        "flower-server",
        executable=FLOWER_FUNCTION,
        tasks={"build": BUILD_TASK, "deploy": ()},
        run=(_array("auth_public_keys", "string"), Field("insecure", "boolean", default=False)),
        module=FLOWER_MODULE,
    ),
    Runtime(
        MLRUN_KIND,
        executable=(SOURCE, _string("handler"), IMAGE, TAG, Field("requirements")),
        tasks={"job": ()},
        task_base=MLRUN_TASK,
        run=(_object("inputs"), _object("outputs"), _object("parameters"), _array("values", "string")),
        stock=False,
        checks={"function": check_mlrun_function, "task": check_mlrun_task, "run": check_mlrun_run},
    ),
)
"""Stock DHCore 0.15 ships every runtime here but `mlrun` (dropped in DHCore 0.8)."""

RUNTIMES_BY_NAME: dict[str, Runtime] = {runtime.name: runtime for runtime in RUNTIMES}


def sdk_module(kind: str) -> str:
    """The SDK plugin module that holds `kind`'s classes and executes its runs: the runtime's
    `module` in the table, else the SDK's naming convention for a runtime this core does not list."""
    runtime = RUNTIMES_BY_NAME.get(runtime_name(kind))
    if runtime is not None:
        return runtime.sdk_module
    return RUNTIME_MODULE_PREFIX + runtime_name(kind).replace("-", "_")


def is_service(run_kind: str) -> bool:
    """Whether runs of `run_kind` are services, kept running behind an endpoint (`docs/services.md`)."""
    return run_kind.endswith(":run") and task_action(run_kind) == SERVE_ACTION


MODEL_FIELDS: Fields = (
    MODEL_PATH,
    _string("framework"),
    _string("algorithm"),
    _object("parameters", default={}),
)

OTHER_KINDS: tuple[Kind, ...] = (
    Kind("artifact", "artifact", (MODEL_PATH, _string("src_path"))),
    Kind("dataitem", "dataitem", (MODEL_PATH,)),
    Kind("dataitem", "table", (MODEL_PATH, _object("schema"))),
    Kind("dataitem", "croissant", (MODEL_PATH,)),
    Kind("model", "model", MODEL_FIELDS),
    Kind("model", "sklearn", MODEL_FIELDS),
    Kind(
        "model",
        "mlflow",
        (
            *MODEL_FIELDS,
            _string("flavor"),
            _object("model_config"),
            _array("input_datasets"),
            _object("signature"),
        ),
    ),
    Kind(
        "model",
        "huggingface",
        (*MODEL_FIELDS, _string("base_model"), _string("model_id"), _string("model_revision")),
    ),
    Kind(
        "secret",
        "secret",
        (_string("path", required=True), _string("provider", required=True, enum=("kubernetes",))),
    ),
    Kind(
        "trigger",
        "scheduler",
        (
            _string("function"),
            _string("schedule", required=True),
            _string("task", required=True),
            _object("template", required=True),
            _string("workflow"),
        ),
    ),
    Kind(
        "trigger",
        "lifecycle",
        (
            _string("function"),
            _string("key", required=True),
            _array("states", "string"),
            _string("task", required=True),
            _object("template", required=True),
            _string("workflow"),
        ),
    ),
    Kind(
        "project",
        "project",
        (
            _string("source"),
            _object("config"),
            *(_array(f"{t}s") for t in ("function", "artifact", "workflow", "dataitem", "model")),
        ),
    ),
    Kind("log", "log", (_string("run", required=True), _integer("timestamp"))),
    Kind("containerimage", "container-image", (_string("image", required=True),), level=16),
)

ALL_KINDS: tuple[Kind, ...] = (*(k for runtime in RUNTIMES for k in runtime.kinds()), *OTHER_KINDS)


class KindRegistry:
    """The kinds of one core: stock DHCore 0.15's, plus dhmlrun's own unless `stock`.

    `admit` is the create-time rule: an unknown kind is refused and known fields must bind to
    their types, in both modes. Stock: the spec is also shaped as DHCore stores it and its
    required fields are checked. Otherwise (plan and apply's core): specs are stored as sent
    (dhmlrun's own kinds carry more than DHCore's classes), and dhmlrun's kinds are checked.
    """

    def __init__(self, *, stock: bool = False, level: int = DEFAULT_LEVEL) -> None:
        self.stock = stock
        self.level = api_level(level)
        """The API level served (`levels.py`): its kinds and entity types only."""
        self._kinds = {
            (k.entity, k.kind): k for k in ALL_KINDS if (k.stock or not stock) and k.level <= level
        }
        self.entity_types = tuple(
            t for t in CONTEXT_TYPES if t not in LEVEL_ONLY_TYPES or t in self.level.types
        )
        """The context entity types of this level (0.16 adds container images)."""

    def find(self, entity: str, kind: str) -> Kind | None:
        return self._kinds.get((entity, kind))

    def schemas(self, entity: str, runtime: str | None = None) -> list[dict[str, Any]] | None:
        """Schema documents of `entity` (of one runtime when given), by kind; None: no such entity."""
        if not self._schema_entity(entity):
            return None
        found = [
            k
            for (e, _), k in sorted(self._kinds.items())
            if e == entity and (runtime is None or k.runtime == runtime)
        ]
        return [k.document() for k in found]

    def schema(self, entity: str, kind: str) -> dict[str, Any] | None:
        """One schema document; None: no such entity; 400 `missing spec`: no such kind there."""
        if not self._schema_entity(entity):
            return None
        found = self.find(entity, kind)
        if found is None:
            raise missing_spec()
        return found.document()

    def _schema_entity(self, entity: str) -> bool:
        return entity in SCHEMA_ENTITIES and (entity not in LEVEL_ONLY_TYPES or entity in self.level.types)

    def admit(self, entity: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec to store for a create (or a PUT that may change the spec): an unknown kind
        is `No such spec.` (404, DHCore's spec registry), a field of the wrong type 400."""
        found = self.find(entity, kind)
        if found is None:
            raise no_such_spec()
        found.check_types(spec)
        if found.check is not None:
            found.check(spec)
        if not self.stock:
            return spec
        shaped = found.shape(spec)
        found.require(shaped)
        return shaped

    def built_run_spec(
        self, run_kind: str, executable: dict[str, Any], task: dict[str, Any], run: dict[str, Any]
    ) -> dict[str, Any]:
        """The spec of a run after BUILD: the executable's, the task's and the run's specs merged,
        later ones winning (the digitalhub SDK's generic `Runtime.build`), then shaped as its kind
        keeps it in stock mode."""
        merged = {**executable, **task, **run}
        found = self.find("run", run_kind)
        if not self.stock or found is None:
            return merged
        return found.shape(merged)
