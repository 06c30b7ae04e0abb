"""On-device product recognition: a TFLite embedding model, a gallery of enrolled products, an async worker.

Typical use (the kiosk): `rec, why = try_open(data_dir=DATA)`; if `rec` is None recognition is off (`why` says
why); else `RecognitionWorker(rec).submit(frame, on_result)`. Staff enrolment: `rec.enrol(sku, photos)`.
Training (optional extra `.[train]`) lives in `vision.recognition.training` and is never imported here.
"""

from vision.recognition.errors import (
    EnrolmentError,
    FrameError,
    GalleryError,
    GalleryModelMismatch,
    ModelLoadError,
    ModelShapeError,
    NoInterpreterError,
    RecognitionError,
)
from vision.recognition.recognizer import Match, Recognition, Recognizer, try_open
from vision.recognition.worker import RecognitionWorker

__all__ = [
    "EnrolmentError",
    "FrameError",
    "GalleryError",
    "GalleryModelMismatch",
    "Match",
    "ModelLoadError",
    "ModelShapeError",
    "NoInterpreterError",
    "Recognition",
    "RecognitionError",
    "RecognitionWorker",
    "Recognizer",
    "try_open",
]
