"""The practitioner directory: practitioners, organisations, mailboxes, credentials and
trust domains.

- `models`: the tables; `repository`: look-ups for the protocols and the gateway;
- `authn`: authentication (argon2id, throttling via `throttle`, audit);
- `admin`: the administrative changes behind `salus directory …` and `salus trust …`;
- `importer`: import and export of the MSSanté extraction file and a plain CSV format;
- `national_id`, `addresses`, `passwords`: pure checks and secrets.

It imports storage and config only (the `salus` commands live in mailserver.cli).
"""
