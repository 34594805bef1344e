"""One cost report: the workload, each provider's estimates and every assumption behind them.

This is what the renderers (table, JSON, CSV, HTML) present; nothing here is formatted.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from fakescope.cost.estimate import Estimate, estimate_managed
from fakescope.cost.prices import LoadedPreset, load_preset
from fakescope.cost.selfhosted import SelfHostedEstimate, estimate_self_hosted
from fakescope.cost.throughput import Throughput, read_throughput
from fakescope.cost.workload import Workload, options_workload, preset_workload
from fakescope.errors import CostInputError

DEFAULT_PRESET = "seed-2025"


class CostReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    preset: str
    preset_description: str
    preset_source: str
    prices_dir: Path
    workload: Workload
    managed: list[Estimate]
    self_hosted: list[SelfHostedEstimate] | None = None
    throughput: Throughput | None = None
    assumptions: list[str]


def select_providers(loaded: LoadedPreset, provider: str) -> list[str]:
    known = list(loaded.sheets)
    wanted = provider.strip().lower()
    if wanted == "all":
        return known
    if wanted not in known:
        raise CostInputError(f"unknown provider {provider!r} (choose from {', '.join(known)} or all)")
    return [wanted]


def _n(value: Decimal | int) -> str:
    return f"{Decimal(value).normalize():,f}"


def _managed_assumptions(loaded: LoadedPreset, w: Workload) -> list[str]:
    preset = loaded.preset
    out = [
        f"Workload ({w.source}): {_n(w.images_per_month)} images, {_n(w.videos_per_month)} videos "
        f"({_n(w.video_minutes_per_month)} minutes), {_n(w.storage_tb)} TB stored, per month.",
        (f"Compute: {_n(w.invocations)} invocations a month, the preset's own figure."
         if w.invocations_per_month is not None else
         f"Compute: one serverless invocation per file (images + videos = {_n(w.invocations)})."),
        (f"Face detection: one API call per image plus {w.frames_per_video_minute} sampled frames per "
         f"video minute ({_n(w.video_frames)} frames): {_n(w.face_detection_images)} images billed."
         if w.video_minutes_per_month > 0 else
         f"Face detection: one API call per image ({_n(w.face_detection_images)} images billed); "
         f"video would add {w.frames_per_video_minute} sampled frames per minute."),
        f"ML inference: {w.inference_instances} always-on instance(s) for the month "
        "(--inference-instances), not sized by volume.",
        "Monitoring: one flat monthly figure per provider, whatever the volume.",
        f"Prices: preset {preset.name}, sheets in {loaded.prices_dir}. Each price carries its unit, "
        "tiers, basis (seed, published, derived or assumed) and source; see --format json.",
        "Tiers are graduated and a tier's upper bound is inclusive. Amounts are exact and rounded "
        "half up to the cent only for display.",
    ]
    return out


def _self_hosted_assumptions(loaded: LoadedPreset, w: Workload, t: Throughput) -> list[str]:
    a = loaded.preset.self_hosted
    out = []
    scale_from = []
    if t.photos is not None:
        when = f", {t.photos.measured}" if t.photos.measured else ""
        what = f" with {t.photos.sample}" if t.photos.sample else ""
        out.append(f"Self-hosted throughput: {_n(t.photos.per_second)} photos/s measured{what} on a "
                   f"{t.photos.cpus}-CPU machine{when} ({t.photos.file}); "
                   "larger photos or more faces per photo scan slower.")
        scale_from.append(f"{t.photos.cpus} (photos)")
    if t.video_minutes is not None:
        when = f", {t.video_minutes.measured}" if t.video_minutes.measured else ""
        out.append(f"Self-hosted video throughput: {_n(t.video_minutes.per_second)} video minutes/s "
                   f"measured on a {t.video_minutes.cpus}-CPU machine{when} ({t.video_minutes.file}).")
        scale_from.append(f"{t.video_minutes.cpus} (video)")
    elif w.video_minutes_per_month > 0:
        out.append("Self-hosted video throughput: NOT MEASURED (no video_minutes_per_s in the throughput "
                   f"files); estimated as {w.frames_per_video_minute} sampled frames per video minute at "
                   "the measured photo rate. Video decoding is left out, so this underestimates.")
    else:
        out.append("Self-hosted video throughput: not measured; not needed (no video in the workload).")
    out += [
        "Scaling: throughput assumed linear in vCPUs (an instance with v vCPUs does the measured "
        f"rate x v / the benchmark machine's CPUs: {', '.join(scale_from) or '-'}).",
        f"Capacity: {_n(a.hours_per_month)} hours a month per instance at {_n(a.target_utilisation * 100)}% "
        f"target utilisation, at least {a.min_instances} instance(s); the cheapest instance type in "
        "each provider's sheet is chosen (on-demand list prices).",
        "Self-hosted face detection and the forgery model run on those instances: no per-image fee, "
        "no serverless invocations, no separate inference endpoint.",
        "Self-hosted storage and monitoring are priced as for the managed architecture.",
    ]
    if a.excluded:
        out.append(f"Not included in the self-hosted figures: {'; '.join(a.excluded)}.")
    return out


def build_report(*, preset: str = DEFAULT_PRESET, provider: str = "all",
                 images_per_month: int | None = None, videos_per_month: int | None = None,
                 video_minutes: Decimal | None = None, storage_tb: Decimal | None = None,
                 frames_per_video_minute: int | None = None, inference_instances: int | None = None,
                 self_hosted: bool = False, throughput_files: list[Path] | None = None,
                 prices_dir: Path | None = None) -> CostReport:
    """Price a month of work. With no volume given, the preset's own workload is priced."""
    loaded = load_preset(preset, prices_dir)
    providers = select_providers(loaded, provider)
    overrides = {"frames_per_video_minute": frames_per_video_minute,
                 "inference_instances": inference_instances}
    volumes = (images_per_month, videos_per_month, video_minutes, storage_tb)
    if all(v is None for v in volumes):
        workload = preset_workload(loaded, **overrides)
    else:
        workload = options_workload(loaded, images_per_month=images_per_month,
                                    videos_per_month=videos_per_month,
                                    video_minutes_per_month=video_minutes, storage_tb=storage_tb,
                                    **overrides)
    managed = [estimate_managed(loaded.sheets[p], workload) for p in providers]
    assumptions = _managed_assumptions(loaded, workload)
    hosted: list[SelfHostedEstimate] | None = None
    throughput: Throughput | None = None
    if self_hosted:
        throughput = read_throughput(throughput_files)
        hosted = [estimate_self_hosted(loaded.sheets[p], workload, throughput, loaded.preset.self_hosted)
                  for p in providers]
        assumptions += _self_hosted_assumptions(loaded, workload, throughput)
    return CostReport(
        preset=loaded.preset.name, preset_description=loaded.preset.description,
        preset_source=loaded.preset.source, prices_dir=loaded.prices_dir, workload=workload,
        managed=managed, self_hosted=hosted, throughput=throughput, assumptions=assumptions,
    )
