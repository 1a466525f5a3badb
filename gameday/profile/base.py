"""What every part of the profile shares: where profiles are found, its limits, names and the strict base model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gameday.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROFILES_DIR = PROJECT_ROOT / "profiles"
DEFAULT_PROFILE = PROFILES_DIR / "ecommerce-backend.yaml"
LOCAL_FILE = "gameday.yaml"
ENV_VAR = "GAMEDAY_PROFILE"
# a profile is a page of YAML: anything beyond these limits is refused before it is parsed or validated
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
OnOutage = Literal["outage", "degraded"]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)]

# placeholders every replica-side string may use, besides <dependency>.<attribute>, config.<KEY>, file.<name>,
# env.<NAME> and lb.url
REPLICA_PLACEHOLDERS = ("port", "replica", "version", "python", "profile_dir", "state_dir", "service")
LB_URL = "lb.url"  # the service's public address: through the load balancer, as users reach it
# heads of dotted placeholders that are not dependencies: a dependency named so could not be told apart
PLACEHOLDER_HEADS = ("config", "file", "database", "env", "lb")
# placeholders of journeys and endpoints that are not captures
REQUEST_BUILTINS = ("run_id", "uuid")


class ProfileError(UsageError):
    """A profile that cannot be used: one line per problem, each naming the file and the field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StrictModel(BaseModel):
    """Strict: an unknown key is a typo, refused with the closest valid name."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def is_env_name(name: str) -> bool:
    """Whether ``name`` can be an environment variable's name (``{env.NAME}``)."""
    return bool(name) and name.replace("_", "a").isascii() and name.replace("_", "a").isalnum() \
        and not name[0].isdigit()
