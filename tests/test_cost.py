"""`fakescope cost`: the seed-2025 table to the cent, graduated tiers at their bounds, bad
inputs, output formats and self-hosted sizing from a throughput file, all hand-computed."""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakescope.cli import main
from fakescope.cost import build_report, cents, load_preset, tiered_cost
from fakescope.cost.prices import PRICES_DIR, Tier
from fakescope.errors import CostInputError

D = Decimal

# The table, cell by cell: (service, amount, detail shown in brackets).
SEED = {
    "aws": {
        "storage": ("S3", "21.85", None),
        "compute": ("Lambda", "16.34", None),
        "face_detection": ("Rekognition", "1000.00", None),
        "ml_inference": ("SageMaker", "209.00", "ml.g4dn.xlarge"),
        "monitoring": ("CloudWatch", "12.00", None),
    },
    "gcp": {
        "storage": ("Cloud Storage", "19.00", None),
        "compute": ("Cloud Functions", "15.68", None),
        "face_detection": ("Vision API", "1200.00", None),
        "ml_inference": ("Vertex AI", "235.00", "n1-standard-4 + T4 GPU"),
        "monitoring": ("Cloud Logging", "9.50", None),
    },
    "azure": {
        "storage": ("Blob Storage", "17.48", None),
        "compute": ("Functions", "15.52", None),
        "face_detection": ("Face API", "1000.00", None),
        "ml_inference": ("Azure ML", "240.00", "Standard_NC6s_v3"),
        "monitoring": ("Application Insights", "16.50", None),
    },
}
SEED_TOTALS = {"aws": "1259.19", "gcp": "1479.18", "azure": "1289.50"}


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["cost", *args])
    return result.exit_code, result.stdout, result.stderr


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


# -- the seed table -------------------------------------------------------------------------

def test_seed_table_adds_up() -> None:
    # The issue's own arithmetic: its components sum to its totals, so both can be matched.
    for provider, cells in SEED.items():
        assert sum(D(amount) for _, amount, _ in cells.values()) == D(SEED_TOTALS[provider])


@pytest.mark.parametrize("provider", list(SEED))
def test_seed_preset_reproduces_every_cell_and_total(provider: str) -> None:
    report = build_report(preset="seed-2025", provider="all")
    est = next(e for e in report.managed if e.provider == provider)
    for component, (service, amount, detail) in SEED[provider].items():
        item = est.item(component)
        assert (item.service, cents(item.amount), item.detail) == (service, D(amount), detail)
        assert item.amount == D(amount)  # exact, not merely rounded to it
    assert est.total == D(SEED_TOTALS[provider])


def test_seed_preset_cli_prints_the_table() -> None:
    code, out, _ = cli("--preset", "seed-2025", "--provider", "all")
    assert code == 0
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ") and "---" not in line}
    assert rows["Service component"] == ["AWS", "GCP", "Azure"]
    assert rows["Storage (1 TB)"] == ["S3: $21.85", "Cloud Storage: $19.00", "Blob Storage: $17.48"]
    assert rows["Compute (10M invocations)"] == ["Lambda: $16.34", "Cloud Functions: $15.68",
                                                 "Functions: $15.52"]
    assert rows["Face detection (1M images)"] == ["Rekognition: $1,000.00", "Vision API: $1,200.00",
                                                  "Face API: $1,000.00"]
    assert rows["ML inference"] == ["SageMaker: $209.00 (ml.g4dn.xlarge)",
                                    "Vertex AI: $235.00 (n1-standard-4 + T4 GPU)",
                                    "Azure ML: $240.00 (Standard_NC6s_v3)"]
    assert rows["Monitoring"] == ["CloudWatch: $12.00", "Cloud Logging: $9.50",
                                  "Application Insights: $16.50"]
    assert rows["Total (approx.)"] == ["$1,259.19", "$1,479.18", "$1,289.50"]
    assert "Assumptions:" in out and "10,000,000 invocations a month, the preset's own figure" in out


def test_one_provider() -> None:
    code, out, _ = cli("--provider", "GCP")
    assert code == 0 and "$1,479.18" in out and "AWS" not in out


# -- price data -----------------------------------------------------------------------------

def test_price_sheets_are_exact_and_say_where_each_price_comes_from() -> None:
    loaded = load_preset("seed-2025")
    assert list(loaded.sheets) == ["aws", "gcp", "azure"]
    lam = loaded.sheets["aws"].components.compute.tiers[0].price_per_unit
    assert lam == D("0.000001634") and isinstance(lam, Decimal)  # never a binary float
    for sheet in loaded.sheets.values():
        for key in ("storage", "compute", "face_detection", "ml_inference", "monitoring"):
            c = sheet.components.get(key)
            assert c.source.strip() and c.basis in {"seed", "published", "derived", "assumed"}
        assert all(i.source and i.price_per_hour > 0 for i in sheet.self_hosted_instances)


# -- tiers ----------------------------------------------------------------------------------

def test_tier_bounds_are_inclusive() -> None:
    tiers = [Tier(up_to=D(10), price_per_unit=D(2)), Tier(up_to=None, price_per_unit=D(1))]
    assert tiered_cost(tiers, 0)[0] == 0
    assert tiered_cost(tiers, 10)[0] == D(20)          # exactly at the bound: all in tier 1
    assert tiered_cost(tiers, 11)[0] == D(21)          # one unit over: that unit in tier 2
    assert tiered_cost(tiers, D("10.5"))[0] == D("20.5")  # fractional units (TB) split the same way
    _, used = tiered_cost(tiers, 11)
    assert [(u.quantity, u.amount) for u in used] == [(D(10), D(20)), (D(1), D(1))]
    with pytest.raises(ValueError):
        tiered_cost(tiers, -1)


@pytest.mark.parametrize(("images", "expected"), [
    (0, "0"),
    (1, "0.001"),
    (1_000_000, "1000"),                        # first tier full
    (1_000_001, "1000.0008"),                   # one image at the second rate
    (10_000_000, "8200"),                       # 1000 + 9M x 0.0008
    (10_000_001, "8200.0006"),
    (100_000_000, "62200"),                     # + 90M x 0.0006
    (100_000_001, "62200.00025"),
])
def test_rekognition_tiers(images: int, expected: str) -> None:
    tiers = load_preset("seed-2025").sheets["aws"].components.face_detection.tiers
    assert tiered_cost(tiers, images)[0] == D(expected)


@pytest.mark.parametrize(("tb", "expected"), [
    ("50", "1092.50"),                 # 50 x 21.85
    ("51", "1113.40"),                 # + 1 x 20.90
    ("500", "10497.50"),               # 1092.50 + 450 x 20.90
    ("501", "10517.45"),               # + 1 x 19.95
])
def test_s3_storage_tiers_through_the_cli(tb: str, expected: str) -> None:
    code, out, _ = cli("--storage-tb", tb, "--provider", "aws", "--format", "json")
    assert code == 0
    storage = json.loads(out)["managed"][0]["items"][0]
    assert storage["component"] == "storage" and D(storage["amount"]) == D(expected)


def test_vision_api_tier_at_5m() -> None:
    tiers = load_preset("seed-2025").sheets["gcp"].components.face_detection.tiers
    assert tiered_cost(tiers, 5_000_000)[0] == D(6000)
    assert tiered_cost(tiers, 5_000_001)[0] == D("6000.00048")


def test_volumes_from_options_replace_the_preset_workload() -> None:
    report = build_report(images_per_month=2_000_000, videos_per_month=100, video_minutes=D(500),
                          provider="aws", frames_per_video_minute=12)
    w = report.workload
    assert w.invocations == 2_000_100                      # one per file
    assert w.face_detection_images == 2_000_000 + 500 * 12
    est = report.managed[0]
    assert est.item("storage").amount == 0                 # not given: zero, not the preset's 1 TB
    assert est.item("compute").amount == D("2000100") * D("0.000001634")
    assert est.item("face_detection").amount == D(1000) + D(1_006_000) * D("0.0008")
    assert est.total == sum((i.amount for i in est.items), D(0))


# -- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"images_per_month": -1}, "--images-per-month must be zero or more"),
    ({"storage_tb": D("-0.5")}, "--storage-tb must be zero or more"),
    ({"videos_per_month": 3, "video_minutes": D(-2)}, "--video-minutes must be zero or more"),
    ({"videos_per_month": 3}, "go together"),
    ({"provider": "ibm"}, "unknown provider 'ibm'"),
    ({"preset": "nope"}, "unknown preset 'nope'"),
])
def test_bad_input_is_a_typed_error(kwargs: dict, needle: str) -> None:
    with pytest.raises(CostInputError, match=needle) as info:
        build_report(**kwargs)
    assert info.value.code == "cost_input"


@pytest.mark.parametrize("args", [
    ["--images-per-month", "-5"],
    ["--storage-tb", "-1"],
    ["--provider", "oracle"],
    ["--preset", "2019"],
    ["--inference-instances", "-1"],
])
def test_bad_input_exits_2_with_one_line(args: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("fakescope: ") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda s: s.replace("up_to: 500,", "up_to: 40,"), "tier bounds (up_to) must increase"),
    (lambda s: s.replace("unit: TB-month", "unit: GB-month"), "storage must be priced per TB-month"),
    (lambda s: s.replace("price_per_unit: 12.00", "price_per_unit: -12.00"), "greater than or equal"),
    (lambda s: s.replace("source: 'Seed table, \"CloudWatch: $12.00\".'", "source: "), "source"),
    (lambda s: s + "\n  - [unclosed\n", "malformed price data"),
])
def test_malformed_price_sheet_exits_2(tmp_path: Path, edit, needle: str) -> None:  # type: ignore[no-untyped-def]
    prices = tmp_path / "prices"
    shutil.copytree(PRICES_DIR, prices)
    sheet = prices / "aws-2025-seed.yaml"
    text = sheet.read_text()
    assert edit(text) != text
    sheet.write_text(edit(text))
    code, _, err = cli("--prices-dir", str(prices))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "aws-2025-seed.yaml" in err and needle in err


# -- formats --------------------------------------------------------------------------------

def test_json_output() -> None:
    code, out, _ = cli("--format", "json")
    assert code == 0
    data = json.loads(out)
    assert {e["provider"]: e["total"] for e in data["managed"]} == SEED_TOTALS
    assert data["self_hosted"] is None and data["assumptions"]
    s3 = data["managed"][0]["items"][0]
    assert s3["unit"] == "TB-month" and s3["basis"] == "seed" and "S3" in s3["source"]


def test_csv_output_and_assumptions_on_stderr() -> None:
    code, out, err = cli("--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 * 6  # five components and a total per provider
    totals = {r["provider"]: r["amount_usd"] for r in rows if r["component"] == "total"}
    assert totals == SEED_TOTALS
    assert "assumption:" in err


def test_html_chart_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "cost.html"
    throughput = write_json(tmp_path / "t.json", {"photos_per_s": 10, "machine": {"cpus": 2}})
    code, _, err = cli("--html", str(out), "--self-hosted", "--throughput-file", str(throughput))
    assert code == 0 and "written" in err
    html = out.read_text()
    assert "<svg" in html and html.count("<rect") >= 6 * 3  # legend + stacked segments
    assert "$1,259.19" in html and "self-hosted fakescope" in html
    for external in ("<script", "http://", "https://", "src=", "href=", "@import", "url("):
        assert external not in html


# -- self-hosted ----------------------------------------------------------------------------

def test_self_hosted_sizing_from_the_throughput_file(tmp_path: Path) -> None:
    photos = write_json(tmp_path / "photos.json",
                        {"photos_per_s": 10, "machine": {"cpus": 2}, "measured": "2025-06-01"})
    report = build_report(images_per_month=100_000_000, provider="aws", self_hosted=True,
                          throughput_files=[photos])
    assert report.self_hosted is not None
    hosted = report.self_hosted[0]
    # m6i.large, 2 vCPU: 10 photos/s; 730 h x 3600 s x 0.6 = 1,576,800 s -> 15,768,000 photos
    # an instance. 100M / 15.768M = 6.34 -> 7 instances x 730 h x $0.096 = $490.56.
    # m6i.2xlarge, 8 vCPU: 40 photos/s -> 63,072,000 -> 2 instances x 730 x $0.384 = $560.64.
    by_type = {o.instance.type: o for o in hosted.sizing.options}
    assert (by_type["m6i.large"].count, by_type["m6i.large"].monthly_cost) == (7, D("490.56"))
    assert (by_type["m6i.2xlarge"].count, by_type["m6i.2xlarge"].monthly_cost) == (2, D("560.64"))
    assert hosted.sizing.chosen.instance.type == "m6i.large"
    est = hosted.estimate
    assert est.item("compute").amount == D("490.56") and est.item("compute").detail == "7 x m6i.large"
    assert est.item("face_detection").amount == 0 and est.item("ml_inference").amount == 0
    assert est.item("storage").amount == 0 and est.item("monitoring").amount == D(12)
    assert est.total == D("502.56")
    text = " ".join(report.assumptions)
    assert "10 photos/s measured on a 2-CPU machine" in text and "linear in vCPUs" in text
    assert "730 hours" in text and "60% target utilisation" in text


def test_self_hosted_sizing_is_exact_at_capacity(tmp_path: Path) -> None:
    photos = write_json(tmp_path / "p.json", {"photos_per_s": 10, "machine": {"cpus": 2}})

    def count(images: int) -> int:
        report = build_report(images_per_month=images, provider="aws", self_hosted=True,
                              throughput_files=[photos])
        return report.self_hosted[0].sizing.options[0].count  # type: ignore[index]

    assert count(0) == 1                      # min_instances
    assert count(2 * 15_768_000) == 2         # exactly two instances' capacity
    assert count(2 * 15_768_000 + 1) == 3


def test_self_hosted_video_from_measured_rate(tmp_path: Path) -> None:
    photos = write_json(tmp_path / "photos.json", {"photos_per_s": 10, "machine": {"cpus": 2}})
    videos = write_json(tmp_path / "videos.json", {"video_minutes_per_s": 0.5, "machine": {"cpus": 4}})
    report = build_report(videos_per_month=1000, video_minutes=D(1_000_000), provider="gcp",
                          self_hosted=True, throughput_files=[photos, videos])
    opt = report.self_hosted[0].sizing.options[0]  # type: ignore[index]
    # e2-standard-2: 0.5 x 2 / 4 = 0.25 min/s; 1,576,800 s -> 394,200 min an instance -> 3.
    assert opt.instance.type == "e2-standard-2" and opt.count == 3
    assert not report.self_hosted[0].sizing.video_rate_estimated  # type: ignore[index]


def test_self_hosted_video_without_measurement_is_estimated_and_says_so(tmp_path: Path) -> None:
    photos = write_json(tmp_path / "photos.json", {"photos_per_s": 10, "machine": {"cpus": 2}})
    report = build_report(videos_per_month=10, video_minutes=D(300_000), provider="azure",
                          self_hosted=True, throughput_files=[photos])
    hosted = report.self_hosted[0]  # type: ignore[index]
    # 60 frames a minute at 10 photos/s: 6 s a minute; 1.8M s / 1,576,800 s -> 2 D2s instances.
    assert hosted.sizing.video_rate_estimated
    assert hosted.sizing.options[0].count == 2
    assert any("NOT MEASURED" in a for a in report.assumptions)


def test_self_hosted_without_throughput_file_is_a_clear_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import fakescope.cost.throughput as throughput

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(throughput, "_CHECKOUT", tmp_path)
    code, _, err = cli("--self-hosted")
    assert code == 2 and "bench_photos.py" in err and "--throughput-file" in err
    bad = write_json(tmp_path / "bad.json", {"photos_per_s": 0, "machine": {"cpus": 2}})
    code, _, err = cli("--self-hosted", "--throughput-file", str(bad))
    assert code == 2 and "photos_per_s" in err


def test_self_hosted_reads_the_benchmarks_default_location(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    write_json(results / "photos.json", {"photos_per_s": 5, "machine": {"cpus": 2}})
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("--self-hosted", "--provider", "aws")
    assert code == 0
    assert "Self-hosted sizing" in out and "5 photos/s measured on a 2-CPU machine" in out
    assert "| AWS      | $1,259.19    |" in out
