"""The segment rule language (docs/rules.md): parse, evaluate in Python, compile to SQL.

A pure module: no GraphQL and no database access. ``parse`` turns text into a tree (or
problems with positions); ``evaluate`` answers for one member in Python; ``compile_sql``
gives the same answer for every member as one SQL expression.
"""

from app.rules.compile import Dialect, Held, compile_sql, typed_value
from app.rules.evaluate import evaluate
from app.rules.facts import CompanyFacts, MemberFacts
from app.rules.fields import RULE_FIXED_FIELDS
from app.rules.nodes import (
    And,
    Between,
    Boolean,
    Compare,
    DaysAgo,
    InList,
    InSegment,
    IsNull,
    Node,
    Not,
    Number,
    Or,
    Percent,
    String,
    TextMatch,
    Value,
    ast_from_json,
    ast_to_json,
    fields_of,
    segment_names_of,
)
from app.rules.normalize import format_rule
from app.rules.parser import (
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    MAX_TESTS,
    ParsedRule,
    RuleProblem,
    parse,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "MAX_TESTS",
    "RULE_FIXED_FIELDS",
    "And",
    "Between",
    "Boolean",
    "CompanyFacts",
    "Compare",
    "DaysAgo",
    "Dialect",
    "Held",
    "InList",
    "InSegment",
    "IsNull",
    "MemberFacts",
    "Node",
    "Not",
    "Number",
    "Or",
    "ParsedRule",
    "Percent",
    "RuleProblem",
    "String",
    "TextMatch",
    "Value",
    "ast_from_json",
    "ast_to_json",
    "compile_sql",
    "evaluate",
    "fields_of",
    "format_rule",
    "parse",
    "segment_names_of",
    "typed_value",
]
