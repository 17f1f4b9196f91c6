"""Structured attachment parsers: HL7 v2.x, CDA R2 and IHE XDM (DESIGN section 6).

Each parser is pure and bounded: it takes bytes and explicit limits, returns typed values,
and raises only its own error (a subclass of `AttachmentError`) on any input. Nothing here
touches the filesystem or the network: XML is parsed with DTDs, entities and network off,
and zip entry names never become paths.
"""
