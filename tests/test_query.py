"""The query language, parsed into its tree (store-independent)."""

from __future__ import annotations

import pytest

from runhistory.api._query import (
    MAX_QUERY_LENGTH,
    MAX_QUERY_TERMS,
    MAX_SORT_KEYS,
    And,
    Compare,
    Field,
    HasTag,
    Not,
    Or,
    QueryError,
    SortKey,
    Text,
    format_query,
    parse_query,
    parse_sort,
)

P = lambda name: Field("param", name)  # noqa: E731
M = lambda name: Field("metric", name)  # noqa: E731
A = lambda name: Field("attr", name)  # noqa: E731


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        (
            "params.optimizer.lr >= 1e-3 and metrics.val/accuracy > 0.9",
            And((Compare(P("optimizer.lr"), ">=", 1e-3), Compare(M("val/accuracy"), ">", 0.9))),
        ),
        ("tag:baseline and not status = failed", And((HasTag("baseline"), Not(Compare(A("status"), "=", "failed"))))),
        (
            'experiment = mnist and name ~ "sweep-*"',
            And((Compare(A("experiment"), "=", "mnist"), Compare(A("name"), "~", "sweep-*"))),
        ),
        ('metrics."simple float value" > 3', Compare(M("simple float value"), ">", 3)),
        ("metrics.loss<0.5", Compare(M("loss"), "<", 0.5)),
        ("sweep-12345", Text("sweep-12345")),
        ("mnist high", And((Text("mnist"), Text("high")))),
        ("a or b and c", Or((Text("a"), And((Text("b"), Text("c")))))),
        ("(a or b) and not (c)", And((Or((Text("a"), Text("b"))), Not(Text("c"))))),
        ("params.seed = 7 or params.seed == -2", Or((Compare(P("seed"), "=", 7), Compare(P("seed"), "=", -2)))),
        (
            "params.amp = true and params.note != null",
            And((Compare(P("amp"), "=", True), Compare(P("note"), "!=", None))),
        ),
        ('tag:"needs review"', HasTag("needs review")),
        ("'and'", Text("and")),
        ("id ~ a1b2", Compare(A("id"), "~", "a1b2")),
        ("params.name = 'it''s'", And((Compare(P("name"), "=", "it"), Text("s")))),
        ('params.path = "C:\\\\x"', Compare(P("path"), "=", "C:\\x")),
        ("duration > 60", Compare(A("duration"), ">", 60)),
    ],
)
def test_queries_parse_into_their_tree(text: str, tree: object) -> None:
    assert parse_query(text) == tree
    assert parse_query(format_query(parse_query(text))) == tree  # printing and parsing agree


def test_times_take_epoch_seconds_or_iso_dates() -> None:
    q = parse_query("started_at >= 2026-11-01T00:00:00+00:00")
    assert q == Compare(A("started_at"), ">=", 1_793_491_200.0)
    assert parse_query("ended_at < 1700000000") == Compare(A("ended_at"), "<", 1_700_000_000.0)


@pytest.mark.parametrize(
    ("text", "why", "at"),
    [
        ("params.lr >= and x", "expected a value after '>='", 13),
        ("metrics.loss", "expected an operator", 12),
        ("loss < 0.5", "'loss' is not a field", 0),
        ("(a or b", "expected ')'", 0),
        ("a and", "'and' needs a term after it", 2),
        ("and a", "'and' needs a term before it", 0),
        ("not", "the query ends where a term was expected", 3),
        ("x = 1", "'x' is not a field", 0),
        ('name = "open', "quoted string is not closed", 7),
        ("a ! b", "'!' must be followed by '='", 2),
        ("name ~ 3", "'~' matches text", 7),
        ("started_at > yesterday", "not an ISO 8601 date", 13),
        ("params.x > null", "null compares only", 11),
        ("", "the query is empty", 0),
        ("()", "empty parentheses", 1),
        ("a )", "unexpected ')'", 2),
        ("metrics. > 1", "a name must follow 'metrics.'", 0),
    ],
)
def test_a_bad_query_points_at_its_token(text: str, why: str, at: int) -> None:
    with pytest.raises(QueryError) as raised:
        parse_query(text)
    assert why in str(raised.value)
    assert raised.value.position == at
    caret_line = str(raised.value).splitlines()[-1]
    assert caret_line.index("^") - 2 == at


def test_sorts() -> None:
    assert parse_sort("metrics.val/accuracy desc, params.seed") == (
        SortKey(M("val/accuracy"), True),
        SortKey(P("seed"), False),
    )
    assert parse_sort("started_at") == (SortKey(A("started_at")),)
    assert parse_sort('metrics."a b" asc') == (SortKey(M("a b")),)
    for bad, why in (
        ("loss desc", "not a field"),
        ("", "empty"),
        ("name desc desc", "expected ','"),
        ("name,", "expected a field"),
    ):
        with pytest.raises(QueryError, match=why):
            parse_sort(bad)


def test_limits_at_the_edge_and_one_past() -> None:
    edge = "a" * MAX_QUERY_LENGTH
    assert parse_query(edge) == Text(edge)
    with pytest.raises(QueryError, match=f"at most {MAX_QUERY_LENGTH} characters"):
        parse_query(edge + "a")
    terms = " ".join(f"t{i}" for i in range(MAX_QUERY_TERMS))
    assert len(parse_query(terms).terms) == MAX_QUERY_TERMS  # type: ignore[union-attr]
    with pytest.raises(QueryError, match=f"at most {MAX_QUERY_TERMS} terms"):
        parse_query(terms + " one-more")
    keys = ", ".join(["name"] * MAX_SORT_KEYS)
    assert len(parse_sort(keys)) == MAX_SORT_KEYS
    with pytest.raises(QueryError, match=f"at most {MAX_SORT_KEYS} keys"):
        parse_sort(keys + ", id")
