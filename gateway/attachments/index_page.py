"""The INDEX.HTM check of an XDM package: the page must be well-formed (X)HTML.

ITI TF-1 §16 makes INDEX.HTM the human entry point of the package. Real packages write it
as XHTML but sometimes leave out end tags that HTML makes optional (a `<p>` closed by
`</body>`); those are accepted. What is refused is markup a browser has to guess at: an
end tag that closes nothing open (`</titel>`), an element that is never closed and whose
end tag is required (`<title>` running to the end of the file), a broken tag.
"""

from __future__ import annotations

from html.parser import HTMLParser

# HTML void elements and elements whose end tag is optional (WHATWG HTML §13.1.2.4).
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_OPTIONAL_END = frozenset(
    {
        "html",
        "head",
        "body",
        "p",
        "li",
        "dt",
        "dd",
        "option",
        "optgroup",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "rt",
        "rp",
        "caption",
    }
)


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.fault: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return  # <br />: complete in itself

    def handle_endtag(self, tag: str) -> None:
        if self.fault or tag in _VOID:
            return
        if tag not in self.open:
            self.fault = f"end tag </{tag}> closes no open element"
            return
        while (top := self.open.pop()) != tag:
            if top not in _OPTIONAL_END:
                self.fault = f"<{top}> is closed by </{tag}>"
                return

    def unknown_decl(self, data: str) -> None:
        self.fault = self.fault or "a malformed declaration"


def index_page_fault(data: bytes) -> str | None:
    """None if the page is well-formed enough; else the first fault, in words."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    checker = _Balance()
    checker.feed(text)
    if "<" in checker.rawdata:  # HTMLParser keeps an unfinished tag here until close()
        return "a tag is not finished"
    checker.close()
    if checker.fault:
        return checker.fault
    unclosed = [t for t in checker.open if t not in _OPTIONAL_END]
    return f"<{unclosed[-1]}> is never closed" if unclosed else None
