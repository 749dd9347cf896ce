"""The event catalogue of Timeline: value types, EDTF and figure rules, one encoder/decoder.

Depends on msgspec alone.
"""

from events.base import FieldError
from events.catalogue import (
    EVENT_TYPES,
    TAGS,
    AnyEvent,
    DevelopmentCorrected,
    DevelopmentReported,
    Event,
    Recorded,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    StatusChanged,
    StreamEvent,
)
from events.codec import InvalidEvent, Problem, decode_batch, decode_event, digest, encode
from events.edtf import Edtf, EdtfError, parse_edtf
from events.figures import Bounds, Figure, singular_of
from events.values import (
    Actors,
    DevelopmentChanges,
    Item,
    Report,
    ReportChanges,
    Source,
    Stance,
    Status,
    changed_fields,
)
from events.visible import decode_new_batch, decode_new_event

__all__ = [
    "EVENT_TYPES",
    "TAGS",
    "Actors",
    "AnyEvent",
    "Bounds",
    "DevelopmentChanges",
    "DevelopmentCorrected",
    "DevelopmentReported",
    "Edtf",
    "EdtfError",
    "Event",
    "FieldError",
    "Figure",
    "InvalidEvent",
    "Item",
    "Problem",
    "Recorded",
    "Report",
    "ReportAdded",
    "ReportChanges",
    "ReportCorrected",
    "ReportRetracted",
    "Source",
    "Stance",
    "Status",
    "StatusChanged",
    "StreamEvent",
    "changed_fields",
    "decode_batch",
    "decode_event",
    "decode_new_batch",
    "decode_new_event",
    "digest",
    "encode",
    "parse_edtf",
    "singular_of",
]
