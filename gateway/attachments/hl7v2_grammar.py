"""HL7 v2.x encoding rules: delimiters, segment terminators, repetitions, escapes.

Pure and bounded (HL7 v2.5 chapter 2, "Message construction rules", §2.5-2.7): the five
delimiters come from MSH-1 and MSH-2; every count (segments, fields, repetitions,
components, subcomponents) is checked against the limits with a C-speed `str.count`
before anything is split, so a million repetitions is refused before it costs memory.
Segment terminators may be CR (the standard), LF or CRLF (real files use LF), but one
message uses one of them: a mix is refused by name. A second MSH (which could redefine the
delimiters halfway) is refused: one attachment carries one message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.attachments.errors import (
    HL7_DATA_TYPE_ERROR,
    HL7_SEGMENT_SEQUENCE_ERROR,
    Hl7Error,
)

Component = tuple[str, ...]  # subcomponents, unescaped
Repetition = tuple[Component, ...]  # components
Field = tuple[Repetition, ...]  # repetitions

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_BOM = b"\xef\xbb\xbf"
# MSH-18 values (HL7 table 0211) we decode, mapped to Python codecs.
_CHARSETS = {
    "": "utf-8",  # ASCII is the default; UTF-8 is its superset
    "ASCII": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
}
_FORMATTING = {
    ".br": "\n",
    ".sp": "\n",
    "H": "",
    "N": "",
    ".fi": "",
    ".nf": "",
    ".in": "",
    ".ti": "",
    ".sk": "",
    ".ce": "",
}


@dataclass(frozen=True, slots=True)
class Hl7Limits:
    max_bytes: int = 16 * 1024 * 1024
    max_segments: int = 10_000
    max_fields: int = 300  # per segment
    max_repetitions: int = 1_000  # per field
    max_components: int = 100  # per repetition
    max_subcomponents: int = 100  # per component


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str | None = None  # v2.7+ fifth encoding character


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    fields: tuple[Field, ...]  # fields[0] is field 1 (for MSH, the field separator)
    position: int  # 1-based place in the message

    def field(self, number: int) -> Field:
        return self.fields[number - 1] if 0 < number <= len(self.fields) else ()

    def get(self, number: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        """One leaf value, "" when absent (HL7 v2.5 §2.5.3: absent and empty read alike)."""
        return leaf(self.field(number), component, sub, rep)


@dataclass(frozen=True, slots=True)
class Hl7Message:
    segments: tuple[Segment, ...]
    delimiters: Delimiters
    terminator: str  # "CR", "LF" or "CRLF"
    charset: str  # the MSH-18 value

    def all(self, segment_id: str) -> list[Segment]:
        return [s for s in self.segments if s.id == segment_id]

    def first(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)


def leaf(field: Field, component: int = 1, sub: int = 1, rep: int = 1) -> str:
    if not 0 < rep <= len(field):
        return ""
    repetition = field[rep - 1]
    if not 0 < component <= len(repetition):
        return ""
    comp = repetition[component - 1]
    return comp[sub - 1] if 0 < sub <= len(comp) else ""


def parse_message(data: bytes, limits: Hl7Limits) -> Hl7Message:
    """Parse one HL7 v2 message; raise Hl7Error naming the first fault."""
    if len(data) > limits.max_bytes:
        raise Hl7Error(f"message of {len(data)} bytes is over the {limits.max_bytes}-byte limit")
    data = data.removeprefix(_BOM)
    if not data.startswith(b"MSH"):
        raise Hl7Error("does not start with an MSH segment", code=HL7_SEGMENT_SEQUENCE_ERROR)
    delimiters = _delimiters(data)
    charset = _charset(data, delimiters)
    try:
        text = data.decode(_CHARSETS[charset])
    except UnicodeDecodeError as exc:
        raise Hl7Error(
            f"bytes at offset {exc.start} are not valid {charset or 'ASCII'}",
            code=HL7_DATA_TYPE_ERROR,
        ) from None
    terminator, separator = _terminator(text)
    if text.count(separator) + 1 > limits.max_segments:
        raise Hl7Error(f"more than {limits.max_segments} segments")
    segments: list[Segment] = []
    for raw in text.split(separator):
        if raw:
            segments.append(_segment(raw, len(segments) + 1, delimiters, limits))
    return Hl7Message(tuple(segments), delimiters, terminator, charset)


def _delimiters(data: bytes) -> Delimiters:
    head = data[:10].decode("latin-1")
    if len(head) < 8:
        raise Hl7Error("MSH segment is too short to hold its delimiters")
    field = head[3]
    end = head.find(field, 4)
    encoding = head[4:] if end < 0 else head[4:end]
    encoding = encoding.split("\r")[0].split("\n")[0]
    if len(encoding) not in (4, 5) or (end < 0 and len(data) > 9):
        raise Hl7Error("MSH-2 must hold 4 encoding characters (5 with truncation)")
    chars = field + encoding
    if len(set(chars)) != len(chars) or any(c.isalnum() or c.isspace() for c in chars):
        raise Hl7Error("MSH-1/MSH-2 delimiters must be distinct punctuation characters")
    truncation = encoding[4] if len(encoding) == 5 else None
    return Delimiters(field, encoding[0], encoding[1], encoding[2], encoding[3], truncation)


def _charset(data: bytes, d: Delimiters) -> str:
    end = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=len(data))
    fields = data[:end].decode("latin-1").split(d.field)
    # fields[0] is "MSH" and MSH-1 is the separator itself, so MSH-n is fields[n - 1].
    charset = fields[17].split(d.repetition)[0].strip() if len(fields) > 17 else ""
    if charset not in _CHARSETS:
        raise Hl7Error(
            f"MSH-18 character set {charset!r} is not supported", code=HL7_DATA_TYPE_ERROR
        )
    return charset


def _terminator(text: str) -> tuple[str, str]:
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    used = [name for name, n in (("CR", cr), ("LF", lf), ("CRLF", crlf)) if n]
    if len(used) > 1:
        raise Hl7Error(f"mixed segment terminators ({' and '.join(used)})")
    name = used[0] if used else "CR"
    return name, {"CR": "\r", "LF": "\n", "CRLF": "\r\n"}[name]


def _segment(raw: str, position: int, d: Delimiters, limits: Hl7Limits) -> Segment:
    seg_id = raw[:3]
    if seg_id == "MSH" and position > 1:
        if raw[3:8] != d.field + d.component + d.repetition + d.escape + d.subcomponent:
            raise Hl7Error(
                f"segment {position}: a second MSH redefines the delimiters",
                code=HL7_SEGMENT_SEQUENCE_ERROR,
            )
        raise Hl7Error(
            f"segment {position}: a second MSH (one message per attachment)",
            code=HL7_SEGMENT_SEQUENCE_ERROR,
        )
    if not _SEGMENT_ID.fullmatch(seg_id) or (len(raw) > 3 and raw[3] != d.field):
        raise Hl7Error(
            f"segment {position}: {raw[:8]!r} does not start with a segment id",
            code=HL7_SEGMENT_SEQUENCE_ERROR,
        )
    if seg_id in ("BHS", "FHS", "BTS", "FTS"):
        raise Hl7Error(f"segment {position}: HL7 batch files ({seg_id}) are not supported")
    if raw.count(d.field) > limits.max_fields:
        raise Hl7Error(f"{seg_id} (segment {position}): more than {limits.max_fields} fields")
    parts = raw.split(d.field)[1:]
    fields: list[Field]
    if seg_id == "MSH":
        msh2 = parts[0] if parts else ""
        fields = [(((d.field,),),), (((msh2,),),)]
        fields += [_field(f, seg_id, n, d, limits) for n, f in enumerate(parts[1:], start=3)]
    else:
        fields = [_field(f, seg_id, n, d, limits) for n, f in enumerate(parts, start=1)]
    return Segment(seg_id, tuple(fields), position)


def _field(raw: str, seg_id: str, number: int, d: Delimiters, limits: Hl7Limits) -> Field:
    where = f"{seg_id}-{number}"
    if not raw:
        return ()
    if raw.count(d.repetition) >= limits.max_repetitions:
        raise Hl7Error(f"{where}: more than {limits.max_repetitions} repetitions")
    reps = []
    for rep in raw.split(d.repetition):
        if rep.count(d.component) >= limits.max_components:
            raise Hl7Error(f"{where}: more than {limits.max_components} components")
        comps = []
        for comp in rep.split(d.component):
            if comp.count(d.subcomponent) >= limits.max_subcomponents:
                raise Hl7Error(f"{where}: more than {limits.max_subcomponents} subcomponents")
            comps.append(tuple(unescape(s, d, where) for s in comp.split(d.subcomponent)))
        reps.append(tuple(comps))
    return tuple(reps)


def unescape(text: str, d: Delimiters, where: str = "field") -> str:
    """Resolve escape sequences (HL7 v2.5 §2.7): delimiters, hex data, formatting."""
    if d.escape not in text:
        return text
    out: list[str] = []
    pos = 0
    while (start := text.find(d.escape, pos)) >= 0:
        end = text.find(d.escape, start + 1)
        if end < 0:
            raise Hl7Error(f"{where}: unterminated escape sequence", code=HL7_DATA_TYPE_ERROR)
        out.append(text[pos:start])
        out.append(_escape_value(text[start + 1 : end], d, where))
        pos = end + 1
    out.append(text[pos:])
    return "".join(out)


def _escape_value(seq: str, d: Delimiters, where: str) -> str:
    simple = {
        "F": d.field,
        "S": d.component,
        "T": d.subcomponent,
        "R": d.repetition,
        "E": d.escape,
        "P": d.truncation,
    }
    value = simple.get(seq)
    if value is not None:
        return value
    if seq.startswith("X") and len(seq) > 1:
        try:
            return bytes.fromhex(seq[1:]).decode("utf-8")
        except ValueError:
            raise Hl7Error(f"{where}: bad hexadecimal escape", code=HL7_DATA_TYPE_ERROR) from None
    command = seq.rstrip("+-0123456789") if seq.startswith(".") else seq
    if command in _FORMATTING:
        return _FORMATTING[command]
    if seq.startswith("Z"):
        return ""  # locally defined escapes (§2.7.6) carry nothing we use
    shown = seq[:12]
    raise Hl7Error(
        f"{where}: unknown escape sequence {d.escape}{shown}{d.escape}", code=HL7_DATA_TYPE_ERROR
    )
