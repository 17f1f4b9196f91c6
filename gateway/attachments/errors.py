"""One rooted error tree for the attachment parsers.

Each error carries the fault in words a sender can act on ("OBR-16 ordering provider
missing in OBR 1") and an integration error code in the spirit of the MSSanté tables
(HL7 messageErrorCondition 1xx/2xx, applicationErrorCondition 90x) for acknowledgements.
"""

from __future__ import annotations

# HL7 v2 table 0357 messageErrorCondition codes used by the MSSanté integration guide.
HL7_SEGMENT_SEQUENCE_ERROR = 100
HL7_REQUIRED_FIELD_MISSING = 101
HL7_DATA_TYPE_ERROR = 102
HL7_OTHER_ERROR = 199
HL7_UNSUPPORTED_MESSAGE_TYPE = 200
HL7_UNSUPPORTED_VERSION = 203
# applicationErrorCondition (MSSanté integration guide): "Erreur 'Autre'".
APPLICATION_OTHER_ERROR = 906


class AttachmentError(Exception):
    """Root: a structured attachment is invalid or hostile."""

    default_code = APPLICATION_OTHER_ERROR

    def __init__(self, fault: str, *, code: int | None = None) -> None:
        self.fault = fault
        self.code = self.default_code if code is None else code
        super().__init__(fault)


class Hl7Error(AttachmentError):
    """An HL7 v2 message is malformed, over a limit, or not a supported message."""

    default_code = HL7_OTHER_ERROR


class CdaError(AttachmentError):
    """A CDA R2 document (or any XML we read) is refused."""


class XdmError(AttachmentError):
    """An IHE XDM package (zip, METADATA.XML, hashes) is refused."""


class DetectError(AttachmentError):
    """The declared type or file name contradicts the content."""
