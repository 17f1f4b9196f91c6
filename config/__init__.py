"""Typed, frozen settings from `DIR/salus.toml` and `SALUS_<SECTION>__<KEY>` variables, and
the logging set-up. It imports nothing of Salus.
"""
