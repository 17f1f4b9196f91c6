"""The message brain, mostly pure: policy rules, MIME walking, structured attachment parsers
(HL7 v2, CDA R2, IHE XDM), content routing, the protect step, DSN and MDN building.

It imports crypto, directory, storage and config; never mailserver.
"""
