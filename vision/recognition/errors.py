"""Exceptions of the recognition package; each names one kind of failure."""

from __future__ import annotations


class RecognitionError(Exception):
    """Base class of every recognition failure."""


class NoInterpreterError(RecognitionError):
    """No TFLite interpreter backend can be imported on this device."""


class ModelLoadError(RecognitionError):
    """The model file is missing, unreadable or not a valid TFLite flatbuffer."""


class ModelShapeError(RecognitionError):
    """The model's input or output tensors are not what the recogniser expects."""


class GalleryError(RecognitionError):
    """The gallery file is unreadable, belongs to another model or is inconsistent."""


class GalleryModelMismatch(GalleryError):
    """The gallery holds embeddings of another model (or projection): its products must be enrolled again."""

    def __init__(self, message: str, stored_id: str) -> None:
        super().__init__(message)
        self.stored_id = stored_id


class EnrolmentError(RecognitionError):
    """Photos given for enrolment could not be used."""


class FrameError(RecognitionError, ValueError):
    """A frame has a type, dtype or shape that cannot be recognised."""


class DatasetError(RecognitionError):
    """A dataset list or classes file is missing or malformed."""


class CatalogError(RecognitionError):
    """The product catalogue CSV is missing or lacks vision labels."""
