"""Read-only views of a stored message for FETCH and SEARCH (pure): header fields, the
MIME tree with byte ranges, sections, ENVELOPE and BODYSTRUCTURE. Parsing is bounded
(depth, part count) so a hostile message costs linear time and never recurses deeply."""
