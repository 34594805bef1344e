"""Prometheus metrics, in a registry per app (several apps can live in one test process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fakescope.report.schema import ScanReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SCAN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
_PROBABILITY_BUCKETS = tuple(round(0.1 * k, 1) for k in range(1, 10))


class _QueueDepth(Collector):
    def __init__(self, depth: Callable[[], dict[str, int]]) -> None:
        self.depth = depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("fakescope_queue_depth", "Scan jobs waiting or running", labels=["status"])
        try:
            for status, n in self.depth().items():
                g.add_metric([status], n)
        except Exception:  # a database outage must not break the whole scrape
            pass
        yield g


class Metrics:
    def __init__(self, queue_depth: Callable[[], dict[str, int]]) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Histogram(
            "fakescope_http_request_duration_seconds", "API request latency",
            ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.scans = Counter("fakescope_scans_total", "Finished scans", ["verdict", "media_type"],
                             registry=r)
        self.scan_seconds = Histogram("fakescope_scan_duration_seconds",
                                      "Time a worker spent on one scan", buckets=_SCAN_BUCKETS, registry=r)
        self.analyzer_seconds = Histogram("fakescope_analyzer_duration_seconds",
                                          "Analyzer latency per file", ["analyzer"],
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self.uploads_rejected = Counter("fakescope_uploads_rejected_total",
                                        "Uploads refused, by reason", ["reason"], registry=r)
        self.purged = Counter("fakescope_scans_purged_total", "Scans removed by retention", registry=r)
        # agreement: label == verdict among fake/real verdicts (docs/feedback.md has the queries)
        self.reviews = Counter("fakescope_reviews_total", "Reviews recorded, by the scan's media type "
                               "and verdict and the reviewer's label", ["media_type", "verdict", "label"],
                               registry=r)
        # drift: how each kind of evidence scores this deployment's media, and each model
        # version's verdicts (docs/feedback.md, "Drift")
        self.evidence = Histogram("fakescope_evidence_probability", "Each kind of evidence's probability "
                                  "per finished scan", ["media_type", "kind"], buckets=_PROBABILITY_BUCKETS,
                                  registry=r)
        self.model_scans = Counter("fakescope_model_scans_total", "Finished scans by the version of each "
                                   "model the scanner holds and the verdict", ["model", "version", "verdict"],
                                   registry=r)
        r.register(_QueueDepth(queue_depth))

    def observe_report(self, report: ScanReport, seconds: float) -> None:
        media = report.media_type or "unknown"
        self.scans.labels(report.verdict, media).inc()
        self.scan_seconds.observe(seconds)
        for kind, p in report.evidence.items():
            self.evidence.labels(media, kind).observe(p)
        for m in report.models:
            self.model_scans.labels(m.name, m.version, report.verdict).inc()
        for a in report.analyzers:
            self.analyzer_seconds.labels(a.name).observe(a.time_ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
