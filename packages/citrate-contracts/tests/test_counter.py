"""Counter: setNumber, increment, their events, and the overflow panic decoded."""

from __future__ import annotations

import pytest
from web3.contract import Contract

from .harness import ChainUnderTest, Reverted

MAX_UINT = 2**256 - 1


@pytest.fixture
def counter(chain: ChainUnderTest) -> Contract:
    return chain.contract("Counter")


def test_starts_at_zero(chain: ChainUnderTest, counter: Contract) -> None:
    assert counter.functions.number().call() == 0


def test_set_number_stores_value_and_emits(chain: ChainUnderTest, counter: Contract) -> None:
    user = chain.users[0]
    receipt = chain.send(counter.functions.setNumber(42), user)
    assert counter.functions.number().call() == 42
    assert chain.events(receipt, counter, "NumberSet") == [
        {"by": user.address, "oldValue": 0, "newValue": 42}
    ]
    receipt = chain.send(counter.functions.setNumber(7), chain.users[1])
    assert chain.events(receipt, counter, "NumberSet") == [
        {"by": chain.users[1].address, "oldValue": 42, "newValue": 7}
    ]
    assert counter.functions.number().call() == 7


def test_increment_adds_one_and_emits(chain: ChainUnderTest, counter: Contract) -> None:
    user = chain.users[2]
    for expected in (1, 2, 3):
        receipt = chain.send(counter.functions.increment(), user)
        assert counter.functions.number().call() == expected
        assert chain.events(receipt, counter, "NumberSet") == [
            {"by": user.address, "oldValue": expected - 1, "newValue": expected}
        ]


def test_set_number_accepts_the_extremes(chain: ChainUnderTest, counter: Contract) -> None:
    chain.send(counter.functions.setNumber(MAX_UINT), chain.users[0])
    assert counter.functions.number().call() == MAX_UINT
    chain.send(counter.functions.setNumber(0), chain.users[0])
    assert counter.functions.number().call() == 0


def test_increment_overflow_is_a_decoded_panic(chain: ChainUnderTest, counter: Contract) -> None:
    chain.send(counter.functions.setNumber(MAX_UINT), chain.users[0])
    err = chain.revert_of(counter.functions.increment(), chain.users[0])
    assert err.name == "Panic"
    assert err.args == {"code": 0x11}
    assert err.message == "panic 0x11: arithmetic overflow or underflow"
    assert counter.functions.number().call() == MAX_UINT  # nothing changed


def test_increment_overflow_send_raises_reverted(chain: ChainUnderTest, counter: Contract) -> None:
    chain.send(counter.functions.setNumber(MAX_UINT), chain.users[0])
    with pytest.raises(Reverted) as info:
        chain.send(counter.functions.increment(), chain.users[0])
    assert info.value.error.name == "Panic"
    assert info.value.error.args["code"] == 0x11
