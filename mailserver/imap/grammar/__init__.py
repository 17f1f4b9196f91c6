"""The IMAP4rev1 grammar (RFC 3501 §9 and the extensions Salus serves) as pure parsers:
bytes in, typed values out, limits as parameters, `ParseError` on anything else. One
module per grammar element; nothing here does I/O."""
