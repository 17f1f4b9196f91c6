"""Practitioners, organisations, mailboxes, credentials and trust domains: the models, the
repository the protocols consult, the MSSanté extraction importer and the CLI group.

It imports storage and config only.
"""
