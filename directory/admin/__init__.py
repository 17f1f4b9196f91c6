"""Administration of the directory: the changes behind `salus directory …` and
`salus trust …`.

Every function takes the caller's write session and the acting administrator, checks its
input completely before it writes, raises a `directory.errors.DirectoryError` whose
message names the input and the fault, and appends one audit entry (actor, action,
object, result; never a secret) in the same transaction, so a change and its trace commit
together or not at all.
"""
