"""The inbound MX (`smtp.mx`): mail from other operators of the trust space, over
mutual TLS, for local mailboxes, signed and encrypted (DESIGN section 5.7)."""
