"""The same workload on fakescope itself: instances sized from measured throughput.

For each instance type in a provider's sheet::

    per-instance rate = measured rate x instance vCPUs / benchmark machine CPUs
    busy seconds      = images / photo rate + video minutes / video-minute rate
    count             = max(min_instances, ceil(busy seconds / (hours x 3600 x utilisation)))

and the cheapest type wins. Face detection and inference run on those instances, so they
carry no per-image fee; storage and monitoring are priced as for the managed architecture.
Sizing uses exact fractions, so a workload that exactly fills N instances needs N, not N+1.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from pydantic import BaseModel, ConfigDict

from fakescope.cost.estimate import COMPONENT_LABELS, Estimate, LineItem, price_component
from fakescope.cost.prices import Instance, PriceSheet, SelfHostedAssumptions
from fakescope.cost.throughput import Throughput
from fakescope.cost.workload import Workload
from fakescope.errors import CostInputError

SECONDS_PER_HOUR = 3600


class InstanceOption(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance: Instance
    count: int
    photos_per_s: Decimal | None           # per instance, scaled from the benchmark machine
    video_minutes_per_s: Decimal | None    # per instance; estimated from photos when not measured
    busy_hours: Decimal                    # the month's work on one such instance
    monthly_cost: Decimal


class Sizing(BaseModel):
    model_config = ConfigDict(frozen=True)

    chosen: InstanceOption
    options: list[InstanceOption]
    video_rate_estimated: bool


class SelfHostedEstimate(BaseModel):
    model_config = ConfigDict(frozen=True)

    estimate: Estimate
    sizing: Sizing


def _scaled(rate: Decimal, instance: Instance, cpus: int) -> Fraction:
    return Fraction(rate) * instance.vcpus / cpus


def _video_rate_is_estimated(workload: Workload, throughput: Throughput) -> bool:
    return workload.video_minutes_per_month > 0 and throughput.video_minutes is None


def _check_rates(workload: Workload, throughput: Throughput) -> None:
    if workload.images_per_month > 0 and throughput.photos is None:
        raise CostInputError("self-hosted sizing needs a measured photos_per_s "
                             "(run `python benchmarks/bench_photos.py` or pass --throughput-file)")
    if _video_rate_is_estimated(workload, throughput):
        if throughput.photos is None:
            raise CostInputError("self-hosted sizing of video needs video_minutes_per_s "
                                 "(benchmarks/results/videos.json) or at least photos_per_s")
        if workload.frames_per_video_minute == 0:
            raise CostInputError("no measured video throughput, and with --frames-per-video-minute 0 "
                                 "it cannot be estimated from the photo rate")


def size_option(instance: Instance, workload: Workload, throughput: Throughput,
                assumptions: SelfHostedAssumptions) -> InstanceOption:
    _check_rates(workload, throughput)
    busy = Fraction(0)  # seconds of one instance's time
    photo_rate: Fraction | None = None
    if throughput.photos is not None:
        photo_rate = _scaled(throughput.photos.per_second, instance, throughput.photos.cpus)
        busy += Fraction(workload.images_per_month) / photo_rate
    video_rate: Fraction | None = None
    if throughput.video_minutes is not None:
        video_rate = _scaled(throughput.video_minutes.per_second, instance, throughput.video_minutes.cpus)
    elif (workload.video_minutes_per_month > 0 and photo_rate is not None
          and workload.frames_per_video_minute > 0):
        # Unmeasured: a video minute costs its sampled frames at the photo rate. Video decoding
        # is not counted, so this underestimates; the assumption is printed with the result.
        video_rate = photo_rate / workload.frames_per_video_minute
    if workload.video_minutes_per_month > 0:
        assert video_rate is not None  # guaranteed by _check_rates
        busy += Fraction(workload.video_minutes_per_month) / video_rate
    capacity = (Fraction(assumptions.hours_per_month) * SECONDS_PER_HOUR
                * Fraction(assumptions.target_utilisation))
    count = max(assumptions.min_instances, math.ceil(busy / capacity))
    cost = count * assumptions.hours_per_month * instance.price_per_hour
    return InstanceOption(
        instance=instance, count=count,
        photos_per_s=_maybe_dec(photo_rate), video_minutes_per_s=_maybe_dec(video_rate),
        busy_hours=_dec(busy / SECONDS_PER_HOUR), monthly_cost=cost,
    )


def _dec(value: Fraction) -> Decimal:
    """For display only: sizing itself never rounds."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.0001"))


def _maybe_dec(value: Fraction | None) -> Decimal | None:
    return None if value is None else _dec(value)


def estimate_self_hosted(sheet: PriceSheet, workload: Workload, throughput: Throughput,
                         assumptions: SelfHostedAssumptions) -> SelfHostedEstimate:
    _check_rates(workload, throughput)
    options = [size_option(i, workload, throughput, assumptions) for i in sheet.self_hosted_instances]
    # Cheapest first; on a tie, fewer (larger) instances, then the sheet's order.
    chosen = min(options, key=lambda o: (o.monthly_cost, o.count))
    inst = chosen.instance
    hours = chosen.count * assumptions.hours_per_month
    included = "runs on the fakescope instances above; no per-image fee"
    items = [
        price_component("storage", sheet.components.storage, workload.storage_tb),
        LineItem(
            component="compute", label=COMPONENT_LABELS["compute"], service="fakescope",
            detail=f"{chosen.count} x {inst.type}", product=f"{inst.type} ({inst.vcpus} vCPU, "
            f"{inst.memory_gib} GiB)", quantity=hours, unit="instance-hour",
            amount=hours * inst.price_per_hour, basis=inst.basis, source=inst.source,
            note=f"{inst.price_per_hour} USD per instance-hour, on demand",
        ),
        LineItem(component="face_detection", label=COMPONENT_LABELS["face_detection"],
                 service="fakescope", detail="included", product="BlazeFace",
                 quantity=workload.face_detection_images, unit="image", amount=Decimal(0),
                 basis="included", source=included),
        LineItem(component="ml_inference", label=COMPONENT_LABELS["ml_inference"],
                 service="fakescope", detail="included", product="face-forgery ONNX model",
                 quantity=workload.face_detection_images, unit="image",
                 amount=Decimal(0), basis="included", source=included),
        price_component("monitoring", sheet.components.monitoring, 1),
    ]
    estimate = Estimate(provider=sheet.provider, provider_name=sheet.name, architecture="self-hosted",
                        prices_as_of=sheet.prices_as_of, region=sheet.region, items=items)
    sizing = Sizing(chosen=chosen, options=options,
                    video_rate_estimated=_video_rate_is_estimated(workload, throughput))
    return SelfHostedEstimate(estimate=estimate, sizing=sizing)
