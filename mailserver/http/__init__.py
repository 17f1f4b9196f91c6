"""The HTTP listener (`http.listen`): mail client autoconfiguration (Thunderbird
autoconfig, Outlook Autodiscover POX), Prometheus metrics, and health probes.

A small, strict HTTP/1.1 server on asyncio streams: one request per connection, bounded
head and body, a read deadline against slow clients, per-client and total connection
caps. It carries no session and no secret; it is meant to sit behind the same TCP load
balancer (or a TLS-terminating proxy, which Outlook requires) as the mail listeners.
"""
