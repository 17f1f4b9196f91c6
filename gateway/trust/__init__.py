"""The trust space, as the gateway sees it (pure: no sockets, no database).

- `remote_keys`: what a peer operator's certificate lookup publishes about one of its
  mailboxes (the JSON document of `GET /v1/mailboxes/{address}`), and the checks a
  sender makes before encrypting to it;
- `mx_rules`: the named rules of the inbound MX (who may send what to whom);
- `inbound`: the verdict on an inbound message's protection (decrypted, signed by a
  certificate of the sending domain's CA for the From address).
"""
