"""SMTP submission (port 587 with STARTTLS, 465 with implicit TLS) on aiosmtpd.

`listener` runs the sockets and the session registry (connection caps, drain),
`protocol` is aiosmtpd's SMTP with our session rules (TLS first, absolute deadline,
no talking before the greeting, our DATA reader), `handler` delegates each stage to the
gateway pipeline and the queue, `auth` checks SASL credentials against the directory.
"""
