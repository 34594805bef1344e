"""The arithmetic: graduated tiers and the managed-API architecture, exact to the last digit.

All amounts are exact ``Decimal`` values; they are rounded to the cent (half up) only when
shown (:func:`cents`), so a total is the sum of exact line items, not of rounded ones.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from fakescope.cost.prices import Basis, PricedComponent, PriceSheet, Tier
from fakescope.cost.workload import Workload

CENT = Decimal("0.01")

# Row order and labels of the comparison table (the seed table's order).
COMPONENT_LABELS: dict[str, str] = {
    "storage": "Storage",
    "compute": "Compute",
    "face_detection": "Face detection",
    "ml_inference": "ML inference",
    "monitoring": "Monitoring",
}

Architecture = Literal["managed", "self-hosted"]


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class TierUse(BaseModel):
    model_config = ConfigDict(frozen=True)

    quantity: Decimal
    price_per_unit: Decimal
    amount: Decimal


def tiered_cost(tiers: list[Tier], quantity: Decimal | int) -> tuple[Decimal, list[TierUse]]:
    """Price ``quantity`` units through graduated ``tiers``.

    A tier covers (previous ``up_to``, ``up_to``]: a quantity exactly at a bound is billed
    wholly at that tier's rate, and only units beyond it reach the next tier.
    """
    quantity = Decimal(quantity)
    if quantity < 0:
        raise ValueError(f"quantity must not be negative, got {quantity}")
    total = Decimal(0)
    used: list[TierUse] = []
    lower = Decimal(0)
    for tier in tiers:
        if quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        span = upper - lower
        amount = span * tier.price_per_unit
        used.append(TierUse(quantity=span, price_per_unit=tier.price_per_unit, amount=amount))
        total += amount
        if tier.up_to is None:
            break
        lower = tier.up_to
    return total, used


class LineItem(BaseModel):
    """One cost component on one provider and architecture."""

    model_config = ConfigDict(frozen=True)

    component: str
    label: str
    service: str
    detail: str | None = None
    product: str | None = None
    quantity: Decimal
    unit: str
    amount: Decimal
    basis: Basis | Literal["included"]
    source: str
    note: str | None = None
    tiers: list[TierUse] = []


class Estimate(BaseModel):
    """One provider's monthly bill for one architecture."""

    model_config = ConfigDict(frozen=True)

    provider: str
    provider_name: str
    architecture: Architecture
    prices_as_of: str
    region: str
    items: list[LineItem]

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.items), Decimal(0))

    def item(self, component: str) -> LineItem:
        return next(i for i in self.items if i.component == component)


def price_component(key: str, priced: PricedComponent, quantity: Decimal | int,
                    detail: str | None = None) -> LineItem:
    amount, used = tiered_cost(priced.tiers, quantity)
    return LineItem(
        component=key, label=COMPONENT_LABELS[key], service=priced.service,
        detail=detail if detail is not None else priced.detail, product=priced.product,
        quantity=Decimal(quantity),
        unit=priced.unit, amount=amount, basis=priced.basis, source=priced.source,
        note=priced.note, tiers=used,
    )


def managed_quantities(workload: Workload) -> dict[str, Decimal]:
    """What each managed component bills for, in the unit its price sheet uses."""
    return {
        "storage": workload.storage_tb,
        "compute": Decimal(workload.invocations),
        "face_detection": workload.face_detection_images,
        "ml_inference": Decimal(workload.inference_instances),
        "monitoring": Decimal(1),
    }


def estimate_managed(sheet: PriceSheet, workload: Workload) -> Estimate:
    items = []
    for key, quantity in managed_quantities(workload).items():
        priced = sheet.components.get(key)
        detail = priced.detail
        if key == "ml_inference" and priced.detail and workload.inference_instances != 1:
            detail = f"{workload.inference_instances} x {priced.detail}"
        items.append(price_component(key, priced, quantity, detail))
    return Estimate(provider=sheet.provider, provider_name=sheet.name, architecture="managed",
                    prices_as_of=sheet.prices_as_of, region=sheet.region, items=items)
