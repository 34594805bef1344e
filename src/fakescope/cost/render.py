"""A cost report as a table (rich), JSON or CSV. Money is rounded to the cent here and only here."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fakescope.cost.estimate import COMPONENT_LABELS, Estimate, LineItem, cents
from fakescope.cost.report import CostReport

TOTAL_LABEL = "Total (approx.)"
CSV_COLUMNS = ["architecture", "provider", "component", "service", "detail", "product", "quantity",
               "unit", "amount_usd", "basis"]


def money(amount: Decimal) -> str:
    value = cents(amount)
    return f"-${-value:,}" if value < 0 else f"${value:,}"


def compact(quantity: Decimal | int) -> str:
    """1000000 -> 1M, 2500000 -> 2.5M, 12345 -> 12,345 (row labels, as the seed table writes them)."""
    q = Decimal(quantity)
    if q >= 1_000_000 and (q / 1_000_000) == (q / 1_000_000).quantize(Decimal("0.01")):
        return f"{(q / 1_000_000).normalize():f}M"
    return f"{q.normalize():,f}"


def row_label(item: LineItem) -> str:
    if item.component == "storage":
        return f"{item.label} ({compact(item.quantity)} TB)"
    if item.component == "compute" and item.unit == "invocation":
        return f"{item.label} ({compact(item.quantity)} invocations)"
    if item.component == "compute":
        return f"{item.label} (fakescope instances)"
    if item.component == "face_detection":
        return f"{item.label} ({compact(item.quantity)} images)"
    if item.component == "ml_inference" and item.unit == "instance-month" and item.quantity != 1:
        return f"{item.label} ({compact(item.quantity)} instances)"
    return item.label


def cell(item: LineItem) -> str:
    detail = f" ({item.detail})" if item.detail else ""
    return f"{item.service}: {money(item.amount)}{detail}"


def _component_table(estimates: list[Estimate]) -> Table:
    table = Table(box=box.MARKDOWN, show_edge=True, pad_edge=True)
    table.add_column("Service component")
    for est in estimates:
        table.add_column(est.provider_name)
    for key in COMPONENT_LABELS:
        items = [est.item(key) for est in estimates]
        table.add_row(row_label(items[0]), *(cell(i) for i in items))
    table.add_row(TOTAL_LABEL, *(money(est.total) for est in estimates), style="bold")
    return table


def _sizing_table(report: CostReport) -> Table:
    table = Table(box=box.MARKDOWN, show_edge=True)
    for name in ("Provider", "Instance", "vCPU", "USD/h", "photos/s each", "busy h/month", "count",
                 "monthly cost", "chosen"):
        table.add_column(name)
    for hosted in report.self_hosted or []:
        for opt in hosted.sizing.options:
            table.add_row(
                hosted.estimate.provider_name, opt.instance.type, str(opt.instance.vcpus),
                f"{opt.instance.price_per_hour}",
                f"{opt.photos_per_s.normalize():f}" if opt.photos_per_s is not None else "-",
                f"{opt.busy_hours:,.1f}", str(opt.count), money(opt.monthly_cost),
                "yes" if opt is hosted.sizing.chosen else "",
            )
    return table


def _comparison_table(report: CostReport) -> Table:
    table = Table(box=box.MARKDOWN, show_edge=True)
    for name in ("Provider", "Managed APIs", "Self-hosted fakescope", "Managed minus self-hosted"):
        table.add_column(name)
    for managed, hosted in zip(report.managed, report.self_hosted or [], strict=True):
        diff = managed.total - hosted.estimate.total
        table.add_row(managed.provider_name, money(managed.total), money(hosted.estimate.total),
                      money(diff))
    return table


def _print_markdown(console: Console, table: Table) -> None:
    """Print a markdown-boxed table without the blank rule lines rich draws above and below it,
    so that the output pastes into an issue or a doc as a markdown table."""
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        text = Text.from_ansi(line.rstrip())
        if text.plain.strip():
            console.print(text, soft_wrap=True)


def print_table(report: CostReport, console: Console) -> None:
    say = console.print
    say(f"Monthly cost, managed APIs (USD, preset {report.preset})", markup=False, style="bold")
    _print_markdown(console, _component_table(report.managed))
    if report.self_hosted:
        say()
        say("Monthly cost, self-hosted fakescope (USD, same workload)", markup=False, style="bold")
        _print_markdown(console, _component_table([h.estimate for h in report.self_hosted]))
        say()
        say("Self-hosted sizing", markup=False, style="bold")
        _print_markdown(console, _sizing_table(report))
        say()
        say("Managed APIs vs self-hosted fakescope (USD per month)", markup=False, style="bold")
        _print_markdown(console, _comparison_table(report))
    say()
    say("Assumptions:", markup=False, style="bold")
    for line in report.assumptions:
        say(f"- {line}", markup=False, highlight=False, soft_wrap=True)


def _str(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _item_dict(item: LineItem) -> dict[str, Any]:
    return {
        "component": item.component,
        "service": item.service,
        "detail": item.detail,
        "product": item.product,
        "quantity": _str(item.quantity),
        "unit": item.unit,
        "amount": str(cents(item.amount)),
        "amount_exact": _str(item.amount),
        "basis": item.basis,
        "source": item.source,
        "note": item.note,
        "tiers": [{"quantity": _str(t.quantity), "price_per_unit": _str(t.price_per_unit),
                   "amount_exact": _str(t.amount)} for t in item.tiers],
    }


def _estimate_dict(est: Estimate) -> dict[str, Any]:
    return {
        "provider": est.provider,
        "name": est.provider_name,
        "architecture": est.architecture,
        "prices_as_of": est.prices_as_of,
        "region": est.region,
        "items": [_item_dict(i) for i in est.items],
        "total": str(cents(est.total)),
        "total_exact": _str(est.total),
    }


def to_dict(report: CostReport) -> dict[str, Any]:
    """Amounts are decimal strings in USD: ``amount``/``total`` to the cent, ``*_exact`` unrounded."""
    w = report.workload
    out: dict[str, Any] = {
        "currency": "USD",
        "preset": {"name": report.preset, "description": report.preset_description,
                   "source": report.preset_source},
        "workload": {
            "source": w.source,
            "images_per_month": w.images_per_month,
            "videos_per_month": w.videos_per_month,
            "video_minutes_per_month": _str(w.video_minutes_per_month),
            "storage_tb": _str(w.storage_tb),
            "invocations_per_month": w.invocations,
            "frames_per_video_minute": w.frames_per_video_minute,
            "face_detection_images": _str(w.face_detection_images),
            "inference_instances": w.inference_instances,
        },
        "managed": [_estimate_dict(e) for e in report.managed],
        "self_hosted": None,
        "assumptions": report.assumptions,
    }
    if report.self_hosted is not None:
        hosted = []
        for h in report.self_hosted:
            d = _estimate_dict(h.estimate)
            d["sizing"] = {
                "video_rate_estimated": h.sizing.video_rate_estimated,
                "chosen": h.sizing.chosen.instance.type,
                "options": [{
                    "instance": o.instance.type, "vcpus": o.instance.vcpus,
                    "price_per_hour": _str(o.instance.price_per_hour), "source": o.instance.source,
                    "photos_per_s": _str(o.photos_per_s) if o.photos_per_s is not None else None,
                    "video_minutes_per_s": (_str(o.video_minutes_per_s)
                                            if o.video_minutes_per_s is not None else None),
                    "busy_hours": _str(o.busy_hours), "count": o.count,
                    "monthly_cost": str(cents(o.monthly_cost)),
                } for o in h.sizing.options],
            }
            hosted.append(d)
        out["self_hosted"] = hosted
    return out


def to_json(report: CostReport) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"


def to_csv(report: CostReport) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    estimates = report.managed + [h.estimate for h in report.self_hosted or []]
    for est in estimates:
        for i in est.items:
            writer.writerow([est.architecture, est.provider, i.component, i.service, i.detail or "",
                             i.product or "", _str(i.quantity), i.unit, cents(i.amount), i.basis])
        writer.writerow([est.architecture, est.provider, "total", "", "", "", "", "", cents(est.total), ""])
    return buf.getvalue()
