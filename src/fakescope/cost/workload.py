"""The monthly workload being priced, and the quantities each cost component bills for."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fakescope.cost.prices import LoadedPreset
from fakescope.errors import CostInputError

# How each field is named on the command line, so that errors point at what the user typed.
OPTION_NAMES = {
    "images_per_month": "--images-per-month",
    "videos_per_month": "--videos-per-month",
    "video_minutes_per_month": "--video-minutes",
    "storage_tb": "--storage-tb",
    "invocations_per_month": "invocations per month",
    "frames_per_video_minute": "--frames-per-video-minute",
    "inference_instances": "--inference-instances",
}


class Workload(BaseModel):
    """One month of work. ``source`` says where the volumes came from (printed with them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images_per_month: int = Field(default=0, ge=0)
    videos_per_month: int = Field(default=0, ge=0)
    video_minutes_per_month: Decimal = Field(default=Decimal(0), ge=0)
    storage_tb: Decimal = Field(default=Decimal(0), ge=0)
    # None: one invocation per file (images + videos). Presets may carry their own figure.
    invocations_per_month: int | None = Field(default=None, ge=0)
    # No defaults: both are assumptions, and they come from the preset (or the user), not code.
    frames_per_video_minute: int = Field(ge=0)
    inference_instances: int = Field(ge=0)
    source: str = "command-line options"

    @model_validator(mode="after")
    def _videos_have_minutes(self) -> Workload:
        if (self.videos_per_month == 0) != (self.video_minutes_per_month == 0):
            raise ValueError("--videos-per-month and --video-minutes go together: "
                             "give both (or neither) as more than zero")
        return self

    @property
    def invocations(self) -> int:
        if self.invocations_per_month is not None:
            return self.invocations_per_month
        return self.images_per_month + self.videos_per_month

    @property
    def video_frames(self) -> Decimal:
        return self.video_minutes_per_month * self.frames_per_video_minute

    @property
    def face_detection_images(self) -> Decimal:
        """Images a managed face-detection API bills: every photo plus the sampled video frames."""
        return self.images_per_month + self.video_frames


def make_workload(**values: Any) -> Workload:
    """Validate a workload, turning pydantic's errors into one-line :class:`CostInputError`."""
    try:
        return Workload.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = OPTION_NAMES.get(field, field)
        if err["type"] == "greater_than_equal":
            raise CostInputError(f"{name} must be zero or more (got {err['input']})") from exc
        if not err["loc"]:  # a model-level rule: its message is already written for a person
            raise CostInputError(str(err["msg"]).removeprefix("Value error, ")) from exc
        raise CostInputError(f"{name}: {err['msg']} (got {err['input']!r})") from exc


def preset_workload(loaded: LoadedPreset, **overrides: Any) -> Workload:
    preset = loaded.preset
    w = preset.workload
    values: dict[str, Any] = {
        "images_per_month": w.images_per_month,
        "videos_per_month": w.videos_per_month,
        "video_minutes_per_month": w.video_minutes_per_month,
        "storage_tb": w.storage_tb,
        "invocations_per_month": w.invocations_per_month,
        "frames_per_video_minute": preset.frames_per_video_minute,
        "inference_instances": preset.inference_instances,
        "source": f"preset {preset.name}" + (f", {w.note}" if w.note else ""),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return make_workload(**values)


def options_workload(loaded: LoadedPreset, *, images_per_month: int | None = None,
                     videos_per_month: int | None = None,
                     video_minutes_per_month: Decimal | None = None,
                     storage_tb: Decimal | None = None, **overrides: Any) -> Workload:
    """Volumes from the command line; a volume not given is zero (never the preset's)."""
    values: dict[str, Any] = {
        "images_per_month": images_per_month or 0,
        "videos_per_month": videos_per_month or 0,
        "video_minutes_per_month": video_minutes_per_month or Decimal(0),
        "storage_tb": storage_tb or Decimal(0),
        "frames_per_video_minute": loaded.preset.frames_per_video_minute,
        "inference_instances": loaded.preset.inference_instances,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return make_workload(**values)
