"""What servicekit gives services so that their answers cannot drift: HTTP models derived from the libraries'
types, the one contract model two services answer with, Lua kept in files."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest
from eventbus import DeadLetter
from pydantic import BaseModel
from servicekit import lua
from servicekit.contracts import ContractPublic, ContractStatus
from servicekit.schemas import fields_of


def test_fields_of_a_dataclass_are_its_fields_in_order_less_the_omitted() -> None:
    fields = fields_of(DeadLetter, omit=("entry",))
    assert list(fields) == [f.name for f in dataclasses.fields(DeadLetter) if f.name != "entry"]
    assert fields["attempts"] is int


def test_a_model_built_on_fields_of_answers_what_the_dataclass_holds() -> None:
    class Answer(BaseModel):
        __annotations__ = fields_of(DeadLetter, omit=("entry",))

    letter = DeadLetter.from_stream(
        "1-0", {b"channel": b"lead.created", b"attempts": b"3", b"entry": b'{"i": "evt_1"}'}
    )
    shown = Answer.model_validate(dataclasses.asdict(letter))
    assert shown.model_dump()["channel"] == "lead.created"
    assert "entry" not in shown.model_dump()


def test_omitting_a_field_the_dataclass_does_not_have_fails_at_once() -> None:
    # A rename in eventbus must break the answer's definition, not silently answer one field more.
    with pytest.raises(ValueError, match="no field"):
        fields_of(DeadLetter, omit=("entries",))


def test_the_shared_contract_answer_knows_every_status_either_service_gives() -> None:
    assert set(get_args(ContractStatus)) == {
        "pending",
        "creating",
        "sent",
        "signed",
        "refused",
        "cancelling",
        "cancelled",
    }
    contract = ContractPublic.model_validate(
        {
            "contract_id": "ctr_1",
            "deal_id": "deal_1",
            "lead_id": None,
            "company_id": "cmp_1",
            "document_id": None,
            "status": "pending",
            "value": None,  # backoffice-api, before the contract's event carried the value
            "currency": None,
        }
    )
    assert contract.value is None


def test_lua_scripts_load_from_their_package_files() -> None:
    script = lua.script("servicekit", "claim_record")
    assert "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])" in script
