"""The network edge: SMTP (submission, MX), IMAP, TLS, the durable queue, delivery workers,
the mailbox store, the `salus` command line and the app that wires them together.

It may import everything below it (gateway, crypto, directory, storage, config); nothing
imports it.
"""
