"""The DHCore API level the core speaks: 15 (DHCore 0.15, the default) or 16 (the 0.16 line).

The digitalhub SDK checks the level in every answer's `X-Api-Level` header and refuses a core
outside its range (SDK 0.15: 15 to 20; SDK 0.16: 16 to 20, `ClientConfig.min_api_level`), so the
0.16 SDK cannot use a 0.15 core at all. What level 16 adds here, from DHCore's main branch (0.16):

- `X-Api-Level: 16`, `X-Api-Version: 0.16.0`;
- container images, a versioned entity (`/api/v1/-/{p}/containerimages`,
  ContainerImageContextController; kind `container-image`, ContainerImageSpec: `image`,
  `@NotBlank`; ContainerImageState: the materials' lifecycle);
- `extensions` on logs (Log.extensions, a map);
- `k8s_resource_profiles` in `/.well-known/configuration` (K8sConfig: the profiles a task may
  name; the embedded core has no Kubernetes, so none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApiLevel:
    """What one level of the API serves beyond the types and kinds every level has."""

    level: int
    version: str
    types: tuple[str, ...] = ()
    """Entity types only this level serves."""
    configuration: tuple[tuple[str, Any], ...] = ()
    """Keys this level adds to `/.well-known/configuration`."""

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-version": self.version, "x-api-level": str(self.level)}


LEVELS: dict[int, ApiLevel] = {
    15: ApiLevel(15, "0.15.0"),
    16: ApiLevel(16, "0.16.0", types=("containerimage",), configuration=(("k8s_resource_profiles", ()),)),
}
DEFAULT_LEVEL = 15
LEVEL_ONLY_TYPES = frozenset(t for level in LEVELS.values() for t in level.types)
"""Types some level serves and another does not (unknown collections below that level)."""


def api_level(level: int) -> ApiLevel:
    """The level `level` (a ValueError naming the ones there are otherwise)."""
    found = LEVELS.get(level)
    if found is None:
        raise ValueError(f"API level {level} is not served (levels: {', '.join(map(str, LEVELS))})")
    return found
