"""The query language for runs: parsed once here, run by each store.

A query selects runs; a sort orders them. Both are text, the same for the CLI
(``list --where … --sort …``), the app's ``/`` and the server::

    params.optimizer.lr >= 1e-3 and metrics.val/accuracy > 0.9
    tag:baseline and not status = failed
    experiment = mnist and name ~ "sweep-*"
    metrics."simple float value" > 3
    sweep-12345                       (plain words: a text search)

Terms:

- ``FIELD OP VALUE``: a comparison. ``FIELD`` is a run attribute (``id name
  experiment status started_at ended_at duration host user git_commit note``),
  ``params.KEY`` (a param's value; keys of nested configs are joined with
  ``.``) or ``metrics.NAME`` (the metric's latest value). A name holding
  spaces or operators is quoted: ``metrics."simple float value"``.
- ``OP`` is one of ``= != < <= > >=`` or ``~``: ``~`` matches text that
  contains the value (case-insensitively), or that matches it as a glob when
  the value holds ``*``, ``?`` or ``[``.
- ``VALUE`` is a number (``3``, ``-1.5``, ``1e-3``), ``true``, ``false``,
  ``null``, a quoted string, or a bare word (a string). ``started_at`` and
  ``ended_at`` take epoch seconds or an ISO 8601 date or time
  (``started_at >= 2026-11-01``).
- ``tag:NAME``: the run has this tag.
- A word or quoted string on its own: a text search, matching runs whose id,
  name, experiment, status, tags or note contain it (case-insensitively).
- ``and``, ``or``, ``not`` and parentheses combine terms; terms side by side
  are joined by ``and``. ``not`` binds tighter than ``and``, which binds
  tighter than ``or``.

Comparisons are typed: a number compares with numbers, text with text; a run
whose value is missing or of the other type does not match (``!=`` included).

A sort is ``KEY [asc|desc], …`` where ``KEY`` is a field as above (``asc``
by default); runs without the key come last, whichever the direction.

A query or sort that cannot be parsed raises ``QueryError``, whose message
shows the text with a caret under the offending token.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from ._errors import InvalidInput

#: Longest query or sort text, in characters.
MAX_QUERY_LENGTH = 4096
#: Most terms (comparisons, tags, words) in one query.
MAX_QUERY_TERMS = 64
#: Most keys in one sort.
MAX_SORT_KEYS = 8

#: Run attributes a query can name, and whether each holds text, a number or a time.
ATTRIBUTES: dict[str, Literal["text", "number", "time"]] = {
    "id": "text",
    "name": "text",
    "experiment": "text",
    "status": "text",
    "started_at": "time",
    "ended_at": "time",
    "duration": "number",
    "host": "text",
    "user": "text",
    "git_commit": "text",
    "note": "text",
}

Op = Literal["=", "!=", "<", "<=", ">", ">=", "~"]
OPS: tuple[Op, ...] = ("=", "!=", "<", "<=", ">", ">=", "~")
#: A literal in a query.
Literal_ = str | int | float | bool | None


class QueryError(InvalidInput):
    """A query or sort that cannot be parsed; the message points at the offending token.

    Attributes:
        text: The query.
        position: Where the offending token starts (0-based).
        length: How many characters it spans (at least 1).
    """

    def __init__(self, why: str, text: str, position: int, length: int = 1) -> None:
        self.why = why
        self.text = text
        self.position = position
        self.length = max(1, length)
        shown = text.replace("\n", " ").replace("\t", " ")
        caret = " " * position + "^" * min(self.length, max(1, len(shown) - position))
        super().__init__(f"{why} (at character {position + 1})\n  {shown}\n  {caret}")

    @classmethod
    def from_message(cls, message: str) -> QueryError:
        """The error as a client rebuilds it from a server's answer (the message says it all)."""
        error = cls.__new__(cls)
        InvalidInput.__init__(error, message)
        error.why, error.text, error.position, error.length = message.split("\n", 1)[0], "", 0, 1
        return error


@dataclass(frozen=True, slots=True)
class Field:
    """What a term looks at.

    Attributes:
        kind: ``attr`` (a run attribute), ``param`` or ``metric``.
        name: The attribute's, param's or metric's name.
    """

    kind: Literal["attr", "param", "metric"]
    name: str

    def __str__(self) -> str:
        if self.kind == "attr":
            return self.name
        prefix = "params." if self.kind == "param" else "metrics."
        return prefix + (self.name if _BARE_NAME.fullmatch(self.name) else _quote(self.name))


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``."""

    field: Field
    op: Op
    value: Literal_


@dataclass(frozen=True, slots=True)
class HasTag:
    """``tag:NAME``."""

    tag: str


@dataclass(frozen=True, slots=True)
class Text:
    """A word or quoted string on its own: a case-insensitive search of the run's text."""

    text: str


@dataclass(frozen=True, slots=True)
class And:
    """Every one of ``terms``."""

    terms: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any one of ``terms``."""

    terms: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Not ``term``."""

    term: Query


#: A parsed query.
Query = Compare | HasTag | Text | And | Or | Not


@dataclass(frozen=True, slots=True)
class SortKey:
    """One key of a sort."""

    field: Field
    descending: bool = False

    def __str__(self) -> str:
        return f"{self.field} {'desc' if self.descending else 'asc'}"


# -- tokens ---------------------------------------------------------------------------------

_SPECIAL = set("()=!<>~\"',")
_BARE_NAME = re.compile(r"[^\s()=!<>~\"',]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_KEYWORDS = {"and", "or", "not"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word, string, op, (, ), ",", field, tag or end
    text: str  # the word, the string's content, the operator, or a field's / tag's name
    start: int
    end: int
    prefix: str = ""  # "params." / "metrics." / "tag:" for a prefixed name


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read_string(text: str, at: int) -> tuple[str, int]:
    """The quoted string starting at ``at`` (its quote) and where it ends."""
    quote = text[at]
    out = []
    i = at + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise QueryError("a quoted string is not closed", text, at, len(text) - at)


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(_Token(c, c, i, i + 1))
            i += 1
        elif c in "=!<>~":
            two = text[i : i + 2]
            if two in ("<=", ">=", "!=", "=="):
                tokens.append(_Token("op", "=" if two == "==" else two, i, i + 2))
                i += 2
            elif c == "!":
                raise QueryError("'!' must be followed by '=' (use 'not' to negate)", text, i)
            else:
                tokens.append(_Token("op", c, i, i + 1))
                i += 1
        elif c in "\"'":
            value, end = _read_string(text, i)
            tokens.append(_Token("string", value, i, end))
            i = end
        else:
            match = _BARE_NAME.match(text, i)
            assert match is not None
            word, end = match.group(), match.end()
            prefix = next((p for p in ("params.", "metrics.", "tag:") if word.lower().startswith(p)), "")
            if prefix and word.lower() == prefix and end < len(text) and text[end] in "\"'":
                name, end = _read_string(text, end)  # metrics."simple float value"
                tokens.append(_Token("tag" if prefix == "tag:" else "field", name, i, end, prefix))
            elif prefix and len(word) > len(prefix):
                kind = "tag" if prefix == "tag:" else "field"
                tokens.append(_Token(kind, word[len(prefix) :], i, end, prefix))
            elif prefix:
                raise QueryError(f"a name must follow {prefix!r}", text, i, end - i)
            else:
                tokens.append(_Token("word", word, i, end))
            i = end
    tokens.append(_Token("end", "", len(text), len(text)))
    return tokens


# -- parsing --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_QUERY_LENGTH:
            raise QueryError(f"a query may be at most {MAX_QUERY_LENGTH} characters long", text, MAX_QUERY_LENGTH)
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.terms = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def error(self, why: str, token: _Token | None = None) -> QueryError:
        token = token or self.token
        return QueryError(why, self.text, token.start, token.end - token.start)

    def is_keyword(self, word: str) -> bool:
        return self.token.kind == "word" and self.token.text.lower() == word

    def query(self) -> Query:
        if self.token.kind == "end":
            raise self.error("the query is empty")
        found = self.any_of()
        if self.token.kind != "end":
            raise self.error(f"unexpected {self.token.text or self.token.kind!r}: expected 'and', 'or' or the end")
        return found

    def joiner(self) -> None:
        """Take 'and' / 'or', which needs a term after it."""
        word = self.take()
        if self.token.kind in ("end", ")") or self.is_keyword("and") or self.is_keyword("or"):
            raise self.error(f"{word.text!r} needs a term after it", word)

    def any_of(self) -> Query:
        terms = [self.all_of()]
        while self.is_keyword("or"):
            self.joiner()
            terms.append(self.all_of())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def all_of(self) -> Query:
        terms = [self.unary()]
        while True:
            if self.is_keyword("and"):
                self.joiner()
            elif self.token.kind in ("end", ")") or self.is_keyword("or"):
                break
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def unary(self) -> Query:
        if self.is_keyword("not"):
            self.take()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Query:
        token = self.token
        if token.kind == "(":
            self.take()
            if self.token.kind == ")":
                raise self.error("empty parentheses")
            inner = self.any_of()
            if self.token.kind != ")":
                raise self.error("expected ')' to close the '(' here", token)
            self.take()
            return inner
        self.count_term(token)
        if token.kind == "tag":
            self.take()
            return HasTag(token.text)
        if token.kind == "field":
            return self.comparison(self.take())
        if token.kind == "word" and token.text.lower() in _KEYWORDS:
            raise self.error(f"{token.text!r} needs a term before it")
        if token.kind == "word" and token.text in ATTRIBUTES and self.tokens[self.at + 1].kind == "op":
            return self.comparison(self.take())
        if token.kind in ("word", "string"):
            self.take()
            if self.token.kind == "op":
                raise self.error(
                    f"{token.text!r} is not a field: use one of {', '.join(ATTRIBUTES)}, params.KEY or metrics.NAME",
                    token,
                )
            return Text(token.text)
        if token.kind == "end":
            raise self.error("the query ends where a term was expected")
        raise self.error(f"unexpected {token.text!r}: expected a term")

    def count_term(self, token: _Token) -> None:
        self.terms += 1
        if self.terms > MAX_QUERY_TERMS:
            raise self.error(f"a query may hold at most {MAX_QUERY_TERMS} terms", token)

    def comparison(self, name: _Token) -> Compare:
        field = _field_of(name)
        op = self.token
        if op.kind != "op":
            raise self.error(f"expected an operator ({' '.join(OPS)}) after {str(field)!r}")
        self.take()
        value = self.token
        if value.kind not in ("word", "string") or (value.kind == "word" and value.text.lower() in _KEYWORDS):
            raise self.error(f"expected a value after {op.text!r}")
        self.take()
        literal = _literal(value)
        return Compare(field, op.text, _checked(field, op.text, literal, self, value))  # type: ignore[arg-type]


def _field_of(token: _Token) -> Field:
    if token.kind == "field":
        return Field("param" if token.prefix == "params." else "metric", token.text)
    return Field("attr", token.text)


def _literal(token: _Token) -> Literal_:
    if token.kind == "string":
        return token.text
    word = token.text
    if _NUMBER.fullmatch(word):
        if re.fullmatch(r"[+-]?\d+", word):
            return int(word)
        return float(word)
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    return word


def _checked(field: Field, op: str, value: Literal_, parser: _Parser, token: _Token) -> Literal_:
    """The value as the field compares it: a time as epoch seconds; a mismatch said at the token."""
    if op == "~" and not isinstance(value, str):
        raise parser.error("'~' matches text: give it a word or a quoted string", token)
    if value is None and op not in ("=", "!="):
        raise parser.error("null compares only with '=' or '!='", token)
    if isinstance(value, float) and math.isnan(value):
        raise parser.error("nan never compares equal to anything; look for it another way", token)
    if field.kind != "attr":
        return value
    kind = ATTRIBUTES[field.name]
    if kind == "time" and op != "~":
        if isinstance(value, bool) or value is None:
            raise parser.error(f"{field.name} is a time: epoch seconds or an ISO 8601 date", token)
        if isinstance(value, str):
            return _epoch(value, parser, token)
        return float(value)
    if kind == "number" and op != "~" and (isinstance(value, (str, bool)) or value is None):
        raise parser.error(f"{field.name} is a number of seconds", token)
    if kind == "text" and op != "~" and not isinstance(value, str) and value is not None:
        return str(value) if not isinstance(value, bool) else str(value).lower()
    return value


def _epoch(text: str, parser: _Parser, token: _Token) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise parser.error(f"{text!r} is not an ISO 8601 date or time (2026-11-01, 2026-11-01T08:30)", token) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without a zone is local time
    return moment.astimezone(timezone.utc).timestamp()


def parse_query(text: str) -> Query:
    """The query ``text`` as a tree.

    Raises:
        QueryError: it cannot be parsed (the message points at the token).
    """
    return _Parser(text).query()


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """A sort: ``KEY [asc|desc]`` separated by commas.

    Raises:
        QueryError: it cannot be parsed (the message points at the token).
    """
    parser = _Parser(text)
    keys: list[SortKey] = []
    if parser.token.kind == "end":
        raise parser.error("the sort is empty")
    while True:
        token = parser.token
        if token.kind == "field" or (token.kind == "word" and token.text in ATTRIBUTES):
            parser.take()
        elif token.kind in ("word", "string"):
            raise parser.error(
                f"{token.text!r} is not a field: use one of {', '.join(ATTRIBUTES)}, params.KEY or metrics.NAME"
            )
        else:
            raise parser.error("expected a field to sort by")
        descending = False
        if parser.token.kind == "word" and parser.token.text.lower() in ("asc", "desc"):
            descending = parser.take().text.lower() == "desc"
        keys.append(SortKey(_field_of(token), descending))
        if len(keys) > MAX_SORT_KEYS:
            raise parser.error(f"a sort may have at most {MAX_SORT_KEYS} keys", token)
        if parser.token.kind == "end":
            return tuple(keys)
        if parser.token.kind != ",":
            raise parser.error("expected ',' and another key, 'asc', 'desc' or the end")
        parser.take()


def format_query(query: Query) -> str:
    """``query`` as text that parses back to it."""
    if isinstance(query, Compare):
        return f"{query.field} {query.op} {_format_literal(query.value)}"
    if isinstance(query, HasTag):
        return "tag:" + (query.tag if _BARE_NAME.fullmatch(query.tag) else _quote(query.tag))
    if isinstance(query, Text):
        return (
            query.text
            if _BARE_NAME.fullmatch(query.text) and query.text.lower() not in _KEYWORDS
            else _quote(query.text)
        )
    if isinstance(query, Not):
        return f"not {_grouped(query.term)}"
    joiner = " and " if isinstance(query, And) else " or "
    return joiner.join(_grouped(term) for term in query.terms)


def _grouped(query: Query) -> str:
    text = format_query(query)
    return f"({text})" if isinstance(query, (And, Or)) else text


def _format_literal(value: Literal_) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    return _quote(value)


def glob_or_substring(pattern: str) -> tuple[bool, str]:
    """How ``~ pattern`` matches: (True, glob) when it holds ``*``, ``?`` or ``[``, else (False, substring)."""
    return (True, pattern) if any(c in pattern for c in "*?[") else (False, pattern)


def fields_of(query: Query) -> list[Field]:
    """The fields a query compares, in order (each once)."""
    if isinstance(query, Compare):
        return [query.field]
    if isinstance(query, Not):
        return fields_of(query.term)
    if isinstance(query, (And, Or)):
        return list(dict.fromkeys(f for term in query.terms for f in fields_of(term)))
    return []
