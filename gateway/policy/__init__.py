"""Submission policy as small named rules composed into chains (STYLE: Mailman 3).

`chains.MAIL`, `chains.RCPT` and `chains.DATA` hold the rules of each SMTP stage;
`run_chain` runs one and returns a `Decision` naming the rules that ran and hit.
"""

from gateway.policy.decision import Decision, Refusal, Rule, run_chain

__all__ = ["Decision", "Refusal", "Rule", "run_chain"]
