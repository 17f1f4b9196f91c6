"""Relaying to another operator of the trust space (DESIGN section 5.5).

- `wire`: a message as it goes on the wire in DATA (CRLF only, dot-stuffed);
- `client`: one SMTP transaction to a peer's MX over mutual TLS, never in plaintext;
- `outbound`: what may leave (only signed and encrypted content);
- `deliver`: the delivery worker's attempt for a remote recipient.
"""
