"""The provenance block of the scan report (pydantic, part of the report schema).

Provenance is evidence about where media comes from, kept apart from the detectors'
guesses: Content Credentials (C2PA), an invisible watermark and the registry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

C2paState = Literal["valid", "invalid", "absent", "unverifiable"]


class C2paAction(BaseModel):
    action: str = Field(description="e.g. c2pa.created, c2pa.edited, c2pa.placed")
    digital_source_type: str | None = Field(
        None, description="IPTC digital source type, short form (e.g. trainedAlgorithmicMedia)"
    )
    software_agent: str | None = None
    when: str | None = None
    manifest: str | None = Field(None, description="label of the manifest that lists the action")


class C2paIngredient(BaseModel):
    title: str | None = None
    format: str | None = None
    relationship: str | None = Field(None, description="parentOf, componentOf or inputTo")
    has_manifest: bool = Field(False, description="the ingredient carried its own manifest")


class C2paInfo(BaseModel):
    state: C2paState = Field(
        description="valid: a manifest is present and validates; invalid: present but fails "
        "validation; absent: no manifest; unverifiable: cannot be checked offline or parsed"
    )
    trusted: bool = Field(False, description="the signer chains to a configured trust anchor")
    signer: str | None = Field(None, description="common name of the signing certificate")
    issuer: str | None = Field(None, description="issuer (organisation) of the signing certificate")
    signed_at: str | None = Field(None, description="time of signing, when time-stamped")
    claim_generator: str | None = Field(None, description="the software that wrote the manifest")
    manifest_count: int = Field(0, description="manifests in the store (the edit history)")
    actions: list[C2paAction] = Field(default_factory=list)
    digital_source_types: list[str] = Field(
        default_factory=list, description="every IPTC digital source type declared anywhere"
    )
    ai_generated: bool = Field(
        False, description="a manifest declares trained-algorithmic (AI) generation of content"
    )
    ingredients: list[C2paIngredient] = Field(default_factory=list)
    validation_errors: list[str] = Field(
        default_factory=list,
        description="failure codes with explanations, except the signer-trust one (see `trusted`)",
    )
    reason: str | None = Field(None, description="why the state is absent or unverifiable")
    remote_manifest_url: str | None = None


class WatermarkInfo(BaseModel):
    method: str = "dwtDctSvd"
    checked: bool = Field(False, description="false when the media was too small or not an image")
    detected: bool = False
    payload: str | None = Field(None, description="hex of the 32-bit payload when detected")
    bit_accuracy: float | None = Field(
        None, ge=0, le=1, description="share of the fakescope magic bits read correctly"
    )
    reason: str | None = None


class RegistryMatch(BaseModel):
    entry_id: int
    kind: Literal["exact", "near"]
    distance: float | None = Field(
        None, description="0 for exact; for near, normalised fingerprint distance (0..1)"
    )
    sha256: str
    registered_at: str
    label: str | None = None


class RegistryInfo(BaseModel):
    checked: bool = False
    matched: Literal["exact", "near", "none"] = "none"
    matches: list[RegistryMatch] = Field(default_factory=list)
    tree_size: int | None = None
    reason: str | None = None


class Provenance(BaseModel):
    c2pa: C2paInfo
    watermark: WatermarkInfo | None = None
    registry: RegistryInfo | None = Field(
        None, description="null when no registry is configured (scans never create one)"
    )
