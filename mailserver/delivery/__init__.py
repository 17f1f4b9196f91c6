"""Delivery workers: claim due queue rows, deliver into the recipient's INBOX in the
same transaction that marks the row delivered, retry with back-off, bounce with a DSN."""
