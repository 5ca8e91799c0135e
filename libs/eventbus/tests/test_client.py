"""The bus's Redis connections pack commands with hiredis: the same bytes as redis-py's own packer."""

import pytest
from eventbus import ids
from eventbus.client import connect, hiredis_packing
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

argument = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(
    command=st.sampled_from(["EVALSHA", "XADD", "SCRIPT LOAD", b"CLIENT SETNAME"]), args=st.lists(argument)
)
def test_commands_are_packed_to_the_same_bytes_as_redis_pys_packer(command: str | bytes, args: list) -> None:
    ours, theirs = hiredis_packing(Connection)(), Connection()
    assert b"".join(ours.pack_command(command, *args)) == b"".join(theirs.pack_command(command, *args))


def test_buffers_are_packed_like_bytes() -> None:
    packer = hiredis_packing(Connection)()
    expected = b"".join(Connection().pack_command("SET", b"key", b"value"))
    assert b"".join(packer.pack_command("SET", bytearray(b"key"), memoryview(b"value"))) == expected


@pytest.mark.parametrize("value", [None, True, object()])
def test_what_redis_cannot_take_is_a_data_error_as_with_redis_py(value: object) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "key", value)
    with pytest.raises(DataError):
        hiredis_packing(Connection)().pack_command("SET", "key", value)


def test_every_connection_kind_keeps_its_own_behaviour_and_is_wrapped_once() -> None:
    for kind in (Connection, SSLConnection, UnixDomainSocketConnection):
        packed = hiredis_packing(kind)
        assert issubclass(packed, kind)
        assert hiredis_packing(packed) is packed


async def test_a_bus_client_uses_the_hiredis_packer() -> None:
    client = connect("redis://127.0.0.1:1")
    try:
        assert client.connection_pool.connection_class is hiredis_packing(Connection)
    finally:
        await client.aclose()


def test_event_ids_are_fresh_ulids_that_sort_by_millisecond() -> None:
    made = [ids.event_id() for _ in range(1000)]
    assert len(set(made)) == 1000
    assert all(ids.EVENT_ID.match(i) for i in made)
    assert [i[4:14] for i in made] == sorted(i[4:14] for i in made)  # the timestamp part never goes back
