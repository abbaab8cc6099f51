"""The published contract, kept inside the repository so that a plain clone tests itself.

- ``api.graphql``: the API contract the service was designed to (every type, field, argument
  and enum value of it must be served, with the same types; additions are free);
- ``baseline.graphql``: the public schema as last published. The served schema must not
  break it (graphql-core's ``find_breaking_changes``); a deliberate breaking change updates
  this file in the same commit, where a reviewer sees it.
"""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    build_schema,
)

HERE = Path(__file__).resolve().parent
CONTRACT = HERE / "api.graphql"
BASELINE = HERE / "baseline.graphql"
PENDING = HERE / "pending.txt"


def pending() -> set[str]:
    """The contract's gaps that open issues are still to fill (pending.txt)."""
    lines = PENDING.read_text(encoding="utf-8").splitlines()
    return {line for line in lines if line.strip() and not line.startswith("#")}


def _kind(t: object) -> str:
    return type(t).__name__.removeprefix("GraphQL").removesuffix("Type")


def _output_ok(want: object, got: object) -> bool:
    # an output field may be stricter (non-null) than the contract asks
    if str(want) == str(got):
        return True
    return isinstance(got, GraphQLNonNull) and str(got.of_type) == str(want)


def gaps(schema_sdl: str, contract_sdl: str) -> list[str]:
    """Every way the schema falls short of the contract, one line each ([] when covered)."""
    have = build_schema(schema_sdl)
    want = build_schema(contract_sdl)
    out: list[str] = []
    for name, wtype in want.type_map.items():
        if name.startswith("__"):
            continue
        htype = have.type_map.get(name)
        if htype is None:
            out.append(f"missing type {name}")
            continue
        if _kind(htype) != _kind(wtype):
            out.append(f"{name}: is {_kind(htype)}, contract says {_kind(wtype)}")
            continue
        if isinstance(wtype, GraphQLEnumType):
            assert isinstance(htype, GraphQLEnumType)
            out.extend(
                f"enum {name}: missing value {value}"
                for value in wtype.values
                if value not in htype.values
            )
        elif isinstance(wtype, GraphQLInputObjectType):
            assert isinstance(htype, GraphQLInputObjectType)
            for fname, wfield in wtype.fields.items():
                hfield = htype.fields.get(fname)
                if hfield is None:
                    out.append(f"input {name}: missing field {fname}")
                elif str(hfield.type) != str(wfield.type):
                    out.append(f"input {name}.{fname}: {hfield.type}, contract says {wfield.type}")
            for fname, hfield in htype.fields.items():
                if (
                    fname not in wtype.fields
                    and isinstance(hfield.type, GraphQLNonNull)
                    and hfield.default_value is None
                ):
                    out.append(f"input {name}.{fname}: extra required field breaks callers")
        elif isinstance(wtype, GraphQLObjectType | GraphQLInterfaceType):
            assert isinstance(htype, GraphQLObjectType | GraphQLInterfaceType)
            for fname, wfield in wtype.fields.items():
                ofield = htype.fields.get(fname)
                if ofield is None:
                    out.append(f"{name}: missing field {fname}")
                    continue
                if not _output_ok(wfield.type, ofield.type):
                    out.append(f"{name}.{fname}: {ofield.type}, contract says {wfield.type}")
                for aname, warg in wfield.args.items():
                    harg = ofield.args.get(aname)
                    if harg is None:
                        out.append(f"{name}.{fname}: missing argument {aname}")
                    elif str(harg.type) != str(warg.type):
                        out.append(
                            f"{name}.{fname}({aname}): {harg.type}, contract says {warg.type}"
                        )
                for aname, harg in ofield.args.items():
                    if (
                        aname not in wfield.args
                        and isinstance(harg.type, GraphQLNonNull)
                        and harg.default_value is None
                    ):
                        out.append(
                            f"{name}.{fname}: extra required argument {aname} breaks callers"
                        )
    return out
