"""S/MIME, OpenPGP, the service CA, the key store, certificate validation and the one
algorithm policy. Gateway code never names a cipher: it asks this package.

It imports storage and config only.
"""
