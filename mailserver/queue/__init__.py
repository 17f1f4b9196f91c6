"""The durable queue: a message and one delivery row per recipient, committed together
before the client hears 250 (DESIGN section 5.4); claims with leases for the workers."""
