"""The one place that chooses algorithms (STYLE principle 8).

Everything else in Salus names a purpose ("sign a message", "seal at rest"); this module
maps purposes to algorithms and sizes and lists what is refused.
"""

from __future__ import annotations

# Key derivation purposes under the service key.
AT_REST_PURPOSE = "at-rest"
KEYSTORE_PURPOSE = "keystore"
