"""A small SQL tokenizer of our own (no SQL parser is installed: no sqlglot, pglast or sqlparse), enough to say,
for each table a statement reads or writes, whether the statement constrains that table's distribution column.

It knows PostgreSQL's lexical rules that matter here: single-quoted strings ('' inside), double-quoted
identifiers, dollar quoting, -- and /* */ comments, :: casts, and parentheses. It is not a grammar: a table is a
name after FROM, JOIN, INTO, UPDATE or TABLE (a subquery's tables too), its alias the identifier after it, and a
table's column is constrained when `alias.column` or `table.column` (or the bare column, when the statement names
the column unqualified) is compared with `=`, `= ANY`, `IN`, or joins through `USING (column)`, or, for an INSERT,
is in the column list. Statements are sent literal (psycopg2's mogrify) or prepared ($n parameters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"""
    (?P<space>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<estring>[eE]'(?:[^'\\]|\\.|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
  | (?P<param>\$\d+|%\(\w+\)s)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
  | (?P<op>::|<>|<=|>=|!=|\|\||[=<>(),.;*+\-/\[\]:%])
""", re.VERBOSE | re.DOTALL)

_CLAUSE = {"from", "join", "into", "update", "table"}
_NOT_ALIAS = {"where", "on", "using", "join", "left", "right", "inner", "outer", "full", "cross", "natural", "group",
              "order", "limit", "for", "set", "values", "select", "returning", "union", "lateral", "as", "window",
              "having", "default", "only", "offset", "fetch", "with", "and", "or", "when", "then", "else", "end"}


def tokens(sql: str) -> list[str]:
    """The statement's tokens, lowercased outside strings; literals collapse to one token each ('…', 0)."""
    out, pos = [], 0
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise ValueError(f"cannot read SQL at {pos}: {sql[pos:pos + 40]!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind == "space":
            continue
        if kind in ("string", "estring", "dollar"):
            out.append("'…'")
        elif kind == "quoted":
            out.append(match.group().strip('"').lower())
        elif kind in ("param", "number"):
            out.append("?")
        else:
            out.append(match.group().lower())
    return out


def split(sql: str) -> list[str]:
    """A multi-statement string's statements (semicolons outside strings, comments and dollar quotes)."""
    statements, start, pos = [], 0, 0
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise ValueError(f"cannot read SQL at {pos}: {sql[pos:pos + 40]!r}")
        if match.group() == ";":
            statements.append(sql[start:pos].strip())
            start = match.end()
        pos = match.end()
    statements.append(sql[start:].strip())
    return [s for s in statements if s]


@dataclass(frozen=True)
class TableUse:
    table: str
    alias: str
    constrained: str  # "one": compared with one value; "set": with a set (ANY, IN, USING, insert rows); "": not


def tables_named(sql: str) -> set[str]:
    """Every relation the statement names after FROM, JOIN, INTO, UPDATE or TABLE, less its own WITH queries' names
    and the functions it reads from (FROM unnest(...)); INSERT INTO t (columns) names t; IS DISTINCT FROM a.b
    names nothing."""
    t = tokens(sql)
    ctes = {t[i - 1] for i in range(1, len(t) - 1) if t[i] == "as" and t[i + 1] == "(" and i >= 2
            and t[i - 2] in ("with", ",")}
    named = set()
    for i, word in enumerate(t):
        if word not in _CLAUSE or i + 1 >= len(t):
            continue
        j = i + 1
        while j < len(t) and t[j] in ("only", "lateral"):
            j += 1
        if j < len(t) and re.fullmatch(r"[a-z_][a-z_0-9]*", t[j]) and t[j] not in _NOT_ALIAS \
                and (j + 1 >= len(t) or t[j + 1] != "." and (word not in ("from", "join") or t[j + 1] != "(")):
            named.add(t[j])
    return named - ctes


def table_uses(sql: str, tables: dict[str, str]) -> list[TableUse]:
    """For each use of a table in `tables` (table -> distribution column): how the statement constrains it."""
    t = tokens(sql)
    uses: list[tuple[str, str]] = []
    positions: list[tuple[int, str]] = []  # where each use's name stands
    insert_columns: dict[str, list[str]] = {}
    for i, word in enumerate(t):
        if word not in _CLAUSE or i + 1 >= len(t):
            continue
        j = i + 1
        if j < len(t) and t[j] == "only":
            j += 1
        name = t[j]
        if name not in tables:
            continue
        alias = name
        k = j + 1
        if k < len(t) and t[k] == "as":
            k += 1
        if k < len(t) and re.fullmatch(r"[a-z_][a-z_0-9]*", t[k]) and t[k] not in _NOT_ALIAS:
            alias = t[k]
        opening = k + 1 if alias != name else j + 1  # the column list follows the alias, if any
        if word == "into" and opening < len(t) and t[opening] == "(":
            close = t.index(")", opening)
            insert_columns[name] = [c for c in t[opening + 1:close] if c != ","]
        uses.append((name, alias))
        positions.append((j, name))
    result = []
    for name, alias in uses:
        column = tables[name]
        if name in insert_columns:
            result.append(TableUse(name, alias, "set" if column in insert_columns[name] else ""))
            continue
        result.append(TableUse(name, alias, _constraint(t, name, alias, column, positions)))
    return result


def _nearest(positions: list[tuple[int, str]], i: int) -> str | None:
    """The table whose name stands nearest before position i (a bare column's table, in these statements' shape:
    WHERE follows its FROM); the first table when the column comes before every FROM (a SELECT list)."""
    before = [name for at, name in positions if at < i]
    return before[-1] if before else (positions[0][1] if positions else None)


def _constraint(t: list[str], name: str, alias: str, column: str, positions: list[tuple[int, str]]) -> str:
    best = ""
    for i, word in enumerate(t):
        qualified = word == column and i >= 2 and t[i - 1] == "." and t[i - 2] in (alias, name)
        bare = word == column and (i == 0 or t[i - 1] != ".") and (i + 1 >= len(t) or t[i + 1] != ".") \
            and _nearest(positions, i) == name
        if word == "using" and i + 2 < len(t) and t[i + 1] == "(" and column in t[i + 2:t.index(")", i)]:
            best = best or "set"  # a co-located join on the distribution column
            continue
        if not (qualified or bare):
            continue
        after = t[i + 1:i + 5]
        before = t[max(0, i - 3):i]
        if after[:1] == ["="] and (after[1:2] in (["?"], ["'…'"]) or after[1:4] in (["cast", "(", "?"], ["cast", "(", "'…'"])) \
                or before[-1:] == ["="] and before[-2:-1] in (["?"], ["'…'"]):
            return "one"
        if after[:2] == ["=", "any"] or after[:1] == ["in"]:
            best = "set"
        elif after[:1] == ["="] and len(after) > 2 and after[2] == ".":
            best = best or "set"  # a join on the column (a.member_id = b.member_id)
        elif after[:1] == ["="]:
            best = best or "set"  # compared with a column or an expression of the other rows
    return best
