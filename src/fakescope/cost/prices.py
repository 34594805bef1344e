"""Price sheets and presets: YAML data under ``cost/prices/``, validated into pydantic models.

Prices are data, not code: one YAML file per provider and date, each price with its unit,
its tiers and where it came from. Numbers are read as exact ``Decimal`` (a YAML float such
as ``0.0008`` never passes through a binary float), so that money arithmetic stays exact.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fakescope.errors import CostInputError

PRICES_DIR = Path(__file__).parent / "prices"
PRESETS_FILE = "presets.yaml"

Basis = Literal["seed", "published", "derived", "assumed"]
ComponentKey = Literal["storage", "compute", "face_detection", "ml_inference", "monitoring"]

# The estimator feeds each component a quantity in exactly one unit; a sheet that prices a
# component in another unit would be silently mispriced, so the unit is checked on load.
COMPONENT_UNITS: dict[str, str] = {
    "storage": "TB-month",
    "compute": "invocation",
    "face_detection": "image",
    "ml_inference": "instance-month",
    "monitoring": "month",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    """A graduated tier: units in (previous ``up_to``, ``up_to``] cost ``price_per_unit`` each."""

    up_to: Decimal | None = Field(default=None, gt=0)
    price_per_unit: Decimal = Field(ge=0)
    basis: Basis | None = None


class PricedComponent(_Strict):
    """One line of the managed architecture (storage, compute, ...) on one provider."""

    service: str = Field(min_length=1)
    # Shown next to the amount in the table (the seed shows the inference instance type).
    detail: str | None = None
    # The product or SKU priced (storage class, API operation): in JSON and CSV only.
    product: str | None = None
    unit: str
    basis: Basis
    source: str = Field(min_length=1)
    note: str | None = None
    tiers: list[Tier] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _flat_price_is_one_tier(cls, data: Any) -> Any:
        if isinstance(data, dict) and "price_per_unit" in data:
            if "tiers" in data:
                raise ValueError("give either price_per_unit or tiers, not both")
            data = dict(data)
            data["tiers"] = [{"up_to": None, "price_per_unit": data.pop("price_per_unit")}]
        return data

    @model_validator(mode="after")
    def _tiers_ascend_and_end_open(self) -> PricedComponent:
        bounds = [t.up_to for t in self.tiers]
        if bounds[-1] is not None:
            raise ValueError("the last tier must have up_to: null (no upper bound)")
        closed = bounds[:-1]
        if any(b is None for b in closed):
            raise ValueError("only the last tier may have up_to: null")
        if any(b2 <= b1 for b1, b2 in pairwise(closed)):  # type: ignore[operator]
            raise ValueError("tier bounds (up_to) must increase")
        return self


class Components(_Strict):
    storage: PricedComponent
    compute: PricedComponent
    face_detection: PricedComponent
    ml_inference: PricedComponent
    monitoring: PricedComponent

    @model_validator(mode="after")
    def _units_match(self) -> Components:
        for key, unit in COMPONENT_UNITS.items():
            got = getattr(self, key).unit
            if got != unit:
                raise ValueError(f"{key} must be priced per {unit}, not per {got}")
        return self

    def get(self, key: str) -> PricedComponent:
        return getattr(self, key)  # type: ignore[no-any-return]


class Instance(_Strict):
    """A general-purpose VM that runs fakescope itself (self-hosted sizing)."""

    type: str = Field(min_length=1)
    vcpus: int = Field(gt=0)
    memory_gib: Decimal = Field(gt=0)
    price_per_hour: Decimal = Field(gt=0)
    basis: Basis
    source: str = Field(min_length=1)


class PriceSheet(_Strict):
    provider: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    prices_as_of: str
    currency: Literal["USD"]
    region: str
    components: Components
    self_hosted_instances: list[Instance] = Field(min_length=1)


class PresetWorkload(_Strict):
    images_per_month: int = Field(ge=0)
    videos_per_month: int = Field(ge=0)
    video_minutes_per_month: Decimal = Field(ge=0)
    storage_tb: Decimal = Field(ge=0)
    invocations_per_month: int | None = Field(default=None, ge=0)
    note: str | None = None


class SelfHostedAssumptions(_Strict):
    hours_per_month: Decimal = Field(gt=0)
    target_utilisation: Decimal = Field(gt=0, le=1)
    min_instances: int = Field(ge=0)
    throughput_scaling: Literal["linear_in_vcpus"]
    excluded: list[str] = Field(default_factory=list)


class Preset(_Strict):
    name: str
    description: str
    source: str
    sheets: dict[str, str] = Field(min_length=1)
    workload: PresetWorkload
    frames_per_video_minute: int = Field(ge=0)
    inference_instances: int = Field(ge=0)
    self_hosted: SelfHostedAssumptions


class LoadedPreset(BaseModel):
    """A preset with its price sheets loaded, in the preset's provider order."""

    model_config = ConfigDict(frozen=True)

    preset: Preset
    sheets: dict[str, PriceSheet]
    prices_dir: Path


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that reads floats as exact decimals."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node))
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation as exc:
        raise yaml.constructor.ConstructorError(None, None, f"not a number: {text!r}",
                                                node.start_mark) from exc
    if not value.is_finite():
        raise yaml.constructor.ConstructorError(None, None, f"not a finite number: {text!r}",
                                                node.start_mark)
    return value


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CostInputError(f"cannot read price data {path}: {exc.strerror or exc}") from exc
    try:
        # A SafeLoader subclass: no arbitrary objects, only decimals in place of floats.
        return yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as exc:
        raise CostInputError(f"malformed price data {path}: {exc}") from exc


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "top level"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def load_sheet(path: Path) -> PriceSheet:
    data = _read_yaml(path)
    try:
        return PriceSheet.model_validate(data)
    except ValidationError as exc:
        raise CostInputError(f"malformed price sheet {path}: {_explain(exc)}") from exc


def available_presets(prices_dir: Path = PRICES_DIR) -> list[str]:
    data = _read_yaml(prices_dir / PRESETS_FILE)
    if not isinstance(data, dict):
        raise CostInputError(f"malformed price data {prices_dir / PRESETS_FILE}: expected a mapping")
    return [str(k) for k in data]


def load_preset(name: str, prices_dir: Path | None = None) -> LoadedPreset:
    """Load preset ``name`` and each of its provider price sheets."""
    prices_dir = prices_dir or PRICES_DIR
    presets_path = prices_dir / PRESETS_FILE
    data = _read_yaml(presets_path)
    if not isinstance(data, dict):
        raise CostInputError(f"malformed price data {presets_path}: expected a mapping of presets")
    if name not in data:
        known = ", ".join(str(k) for k in data) or "none"
        raise CostInputError(f"unknown preset {name!r} (known: {known})")
    entry = data[name]
    if not isinstance(entry, dict):
        raise CostInputError(f"malformed preset {name!r} in {presets_path}: expected a mapping")
    try:
        preset = Preset.model_validate({"name": name, **entry})
    except ValidationError as exc:
        raise CostInputError(f"malformed preset {name!r} in {presets_path}: {_explain(exc)}") from exc
    sheets: dict[str, PriceSheet] = {}
    for provider, filename in preset.sheets.items():
        sheet = load_sheet(prices_dir / filename)
        if sheet.provider != provider:
            raise CostInputError(f"price sheet {prices_dir / filename} is for {sheet.provider!r}, "
                                 f"but preset {name!r} lists it for {provider!r}")
        sheets[provider] = sheet
    return LoadedPreset(preset=preset, sheets=sheets, prices_dir=prices_dir)
