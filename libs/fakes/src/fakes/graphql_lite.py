"""The small part of GraphQL the Autentique fake needs: parse a request, check it against a field map,
shape resolved data to the selection set.

Written by hand because no GraphQL library is a dependency of this workspace, and a fake only needs
executable documents (operations, fields, aliases, arguments, variables, fragments), not a type system.
Error texts follow webonyx/graphql-php, the engine behind Autentique's Laravel Lighthouse server
(/work/shared/reference/autentique.md §3 shows its error shapes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Field", "GraphQLError", "Operation", "Schema", "parse", "project", "validate"]

# type name -> field name -> type name of the field (None for scalars and enums)
Schema = Mapping[str, Mapping[str, str | None]]

_TOKEN = re.compile(
    r'(?P<skip>[\s,\ufeff]+|#[^\n]*)|(?P<spread>\.\.\.)|(?P<string>"(?:\\.|[^"\\\n])*")'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<punct>[!$():=@\[\]{}|&])"
)


class GraphQLError(Exception):
    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "locations": [{"line": self.line, "column": self.column}],
            "extensions": {"category": "graphql"},
        }


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None
    raw_arguments: dict[str, Any]
    selections: list[Field | str] | None  # str = fragment spread name
    line: int
    column: int

    @property
    def key(self) -> str:
        return self.alias or self.name

    def arguments(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _resolve(v, variables) for k, v in self.raw_arguments.items()}


@dataclass
class Operation:
    kind: str
    name: str | None
    variable_defaults: dict[str, Any]
    selections: list[Field | str]
    fragments: dict[str, list[Field | str]] = field(default_factory=dict)


def _resolve(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, list):
        return [_resolve(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, variables) for k, v in value.items()}
    return value


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens: list[tuple[str, str, int, int]] = []
        line, line_start, pos = 1, 0, 0
        while pos < len(source):
            match = _TOKEN.match(source, pos)
            if match is None:
                raise GraphQLError(
                    f'Syntax Error: Unexpected character "{source[pos]}"', line, pos - line_start + 1
                )
            kind = match.lastgroup or ""
            if kind != "skip":
                self.tokens.append((kind, match.group(), line, pos - line_start + 1))
            for offset, char in enumerate(match.group()):
                if char == "\n":
                    line, line_start = line + 1, match.start() + offset + 1
            pos = match.end()
        self.index = 0

    def peek(self, text: str | None = None) -> bool:
        if self.index >= len(self.tokens):
            return False
        return text is None or self.tokens[self.index][1] == text

    def take(self, text: str | None = None, kind: str | None = None) -> tuple[str, str, int, int]:
        if self.index >= len(self.tokens):
            raise GraphQLError(
                "Syntax Error: Unexpected <EOF>", *(self.tokens[-1][2:] if self.tokens else (1, 1))
            )
        token = self.tokens[self.index]
        if (text is not None and token[1] != text) or (kind is not None and token[0] != kind):
            raise GraphQLError(
                f'Syntax Error: Expected {text or kind}, found "{token[1]}"', token[2], token[3]
            )
        self.index += 1
        return token

    def value(self) -> Any:
        kind, text, line, column = self.take()
        if text == "$":
            return Variable(self.take(kind="name")[1])
        if kind in ("string", "number"):
            return json.loads(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)
        if text == "[":
            items = []
            while not self.peek("]"):
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            fields: dict[str, Any] = {}
            while not self.peek("}"):
                name = self.take(kind="name")[1]
                self.take(":")
                fields[name] = self.value()
            self.take("}")
            return fields
        raise GraphQLError(f'Syntax Error: Unexpected "{text}"', line, column)

    def skip_type(self) -> None:
        if self.peek("["):
            self.take("[")
            self.skip_type()
            self.take("]")
        else:
            self.take(kind="name")
        if self.peek("!"):
            self.take("!")

    def skip_directives(self) -> None:
        while self.peek("@"):
            self.take("@")
            self.take(kind="name")
            if self.peek("("):
                self.arguments()

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        args: dict[str, Any] = {}
        while not self.peek(")"):
            name = self.take(kind="name")[1]
            self.take(":")
            args[name] = self.value()
        self.take(")")
        return args

    def selection_set(self) -> list[Field | str]:
        self.take("{")
        selections: list[Field | str] = []
        while not self.peek("}"):
            if self.peek("..."):
                self.take("...")
                if self.peek("on"):
                    # Inline fragments on the one possible type: their fields merge into the parent.
                    self.take("on")
                    self.take(kind="name")
                    self.skip_directives()
                    selections.extend(self.selection_set())
                else:
                    selections.append(self.take(kind="name")[1])
                    self.skip_directives()
                continue
            _, name, line, column = self.take(kind="name")
            alias = None
            if self.peek(":"):
                self.take(":")
                alias, name = name, self.take(kind="name")[1]
            args = self.arguments() if self.peek("(") else {}
            self.skip_directives()
            subs = self.selection_set() if self.peek("{") else None
            selections.append(Field(name, alias, args, subs, line, column))
        self.take("}")
        return selections


def parse(source: str, operation_name: str | None = None) -> Operation:
    parser = _Parser(source)
    operations: list[Operation] = []
    fragments: dict[str, list[Field | str]] = {}
    while parser.peek():
        if parser.peek("{"):
            operations.append(Operation("query", None, {}, parser.selection_set()))
            continue
        kind = parser.take(kind="name")[1]
        if kind == "fragment":
            name = parser.take(kind="name")[1]
            parser.take("on")
            parser.take(kind="name")
            parser.skip_directives()
            fragments[name] = parser.selection_set()
            continue
        if kind not in ("query", "mutation"):
            token = parser.tokens[parser.index - 1]
            raise GraphQLError(f'Syntax Error: Unexpected Name "{kind}"', token[2], token[3])
        op_name = (
            parser.take(kind="name")[1]
            if parser.peek() and parser.tokens[parser.index][0] == "name"
            else None
        )
        defaults: dict[str, Any] = {}
        if parser.peek("("):
            parser.take("(")
            while not parser.peek(")"):
                parser.take("$")
                var = parser.take(kind="name")[1]
                parser.take(":")
                parser.skip_type()
                if parser.peek("="):
                    parser.take("=")
                    defaults[var] = parser.value()
                parser.skip_directives()
            parser.take(")")
        parser.skip_directives()
        operations.append(Operation(kind, op_name, defaults, parser.selection_set()))
    if not operations:
        raise GraphQLError("Syntax Error: Unexpected <EOF>")
    chosen = [op for op in operations if operation_name is None or op.name == operation_name]
    if len(chosen) != 1:
        raise GraphQLError("Must provide operation name if query contains multiple operations.")
    chosen[0].fragments = fragments
    return chosen[0]


def _fields(selections: list[Field | str], fragments: Mapping[str, list[Field | str]]) -> list[Field]:
    out: list[Field] = []
    for selection in selections:
        if isinstance(selection, str):
            if selection not in fragments:
                raise GraphQLError(f'Unknown fragment "{selection}".')
            out.extend(_fields(fragments[selection], fragments))
        else:
            out.append(selection)
    return out


def validate(
    op: Operation, type_name: str, schema: Schema, selections: list[Field | str] | None = None
) -> None:
    """Raise the first validation error a GraphQL server would report for this selection."""
    for f in _fields(op.selections if selections is None else selections, op.fragments):
        if f.name == "__typename":
            continue
        if f.name not in schema[type_name]:
            raise GraphQLError(f'Cannot query field "{f.name}" on type "{type_name}".', f.line, f.column)
        child = schema[type_name][f.name]
        if child is None and f.selections is not None:
            raise GraphQLError(
                f'Field "{f.name}" must not have a selection since its type has no subfields.',
                f.line,
                f.column,
            )
        if child is not None and f.selections is None:
            raise GraphQLError(
                f'Field "{f.name}" of type "{child}" must have a selection of subfields.', f.line, f.column
            )
        if child is not None and f.selections is not None:
            validate(op, child, schema, f.selections)


def project(value: Any, selections: list[Field | str], type_name: str, op: Operation, schema: Schema) -> Any:
    """Keep only the selected fields (under their aliases) of resolved data, recursively."""
    if value is None:
        return None
    if isinstance(value, list):
        return [project(v, selections, type_name, op, schema) for v in value]
    out: dict[str, Any] = {}
    for f in _fields(selections, op.fragments):
        if f.name == "__typename":
            out[f.key] = type_name
            continue
        child = schema[type_name][f.name]
        raw = value.get(f.name)
        out[f.key] = project(raw, f.selections, child, op, schema) if child and f.selections else raw
    return out
