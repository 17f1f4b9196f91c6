"""Certificate lookup between operators of the trust space (DESIGN section 5.8).

- `listener`: `lookup.listen`, HTTPS with mutual TLS, answering trust-space peers only;
- `answer`: what is published for one exact address (never a list, never a suspended
  mailbox);
- `client`: the sending side, asking a peer for a remote recipient's keys at RCPT time,
  with a short cache.
"""
