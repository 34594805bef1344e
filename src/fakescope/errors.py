"""Typed errors a user can meet, each explained in one line.

Every error has a stable machine-readable ``code`` (it lands in the JSON report) and a
human message. The pipeline turns them into an ``error`` verdict for the one input
that failed; they never abort the rest of a batch.
"""

from __future__ import annotations


class FakescopeError(Exception):
    """Base class: ``code`` is stable, ``str(err)`` is one line for a person."""

    code = "error"

    def __init__(self, message: str) -> None:
        # One line, always: multi-line reasons break line-oriented output.
        super().__init__(" ".join(str(message).split()))


class InputNotFoundError(FakescopeError):
    code = "not_found"


class UnsupportedMediaError(FakescopeError):
    """The file is not a kind of media fakescope reads (or its content is not what its name says)."""

    code = "unsupported_media"


class EmptyFileError(FakescopeError):
    code = "empty_file"


class TruncatedFileError(FakescopeError):
    code = "truncated_file"


class CorruptMediaError(FakescopeError):
    code = "corrupt_media"


class MediaLimitError(FakescopeError):
    """The file exceeds a configured limit (bytes, pixels, dimensions): refused before decoding."""

    code = "limit_exceeded"


class DependencyMissingError(FakescopeError):
    code = "dependency_missing"


class ModelError(FakescopeError):
    code = "model_error"


class DatasetError(FakescopeError):
    """A labelled evaluation/training folder is missing its labels or has bad rows."""

    code = "dataset_error"


class CostInputError(FakescopeError):
    """`fakescope cost` was given a workload, provider, preset or price sheet it cannot price."""

    code = "cost_input"


class CredentialsError(FakescopeError):
    """A signing certificate chain or private key is missing, unreadable or does not match."""

    code = "credentials"


class SigningError(FakescopeError):
    """The C2PA SDK refused to sign (unsupported format, invalid certificate profile)."""

    code = "signing_failed"


class RegistryNotFoundError(FakescopeError):
    code = "registry_not_found"


class RegistryIntegrityError(FakescopeError):
    """The registry's entries no longer hash to its signed tree head: it was rewritten."""

    code = "registry_tampered"


class ProofError(FakescopeError):
    """An inclusion or consistency proof (or its signed tree head) does not verify."""

    code = "proof_invalid"


class LiveSourceError(FakescopeError):
    """`fakescope watch` cannot open or keep reading a live source (bad address, no video
    stream, a protocol this FFmpeg build lacks, reconnections exhausted)."""

    code = "live_source"


class SourceNotAllowedError(FakescopeError):
    """The service refuses to watch a source its operator has not allowed."""

    code = "source_not_allowed"
