"""Models in the ModelRegistry, as the tests of the contracts built on it register them."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from .attackers import Reentrant
from .harness import ChainUnderTest

#: ModelRegistry's registration fee as deployed (``DEFAULT_REGISTRATION_FEE``).
REGISTRATION_FEE = 10**17
#: The platform's cut of a sale or an access payment (ModelMarketplace, ModelAccessControl).
PLATFORM_FEE_BPS = 250


def platform_fee(amount: int) -> int:
    """The platform's 2.5 % of ``amount``, rounded down (the dust stays with the seller)."""
    return amount * PLATFORM_FEE_BPS // 10_000


def metadata(
    *,
    description: str = "a small test model",
    input_shape: tuple[str, ...] = ("1", "128"),
    output_shape: tuple[str, ...] = ("1", "10"),
    parameters: int = 7_000_000,
    license_: str = "Apache-2.0",
    tags: tuple[str, ...] = ("nlp", "test"),
) -> tuple[Any, ...]:
    return (description, list(input_shape), list(output_shape), parameters, license_, list(tags))


def model_input(
    name: str = "tiny-llama",
    version: str = "1.0.0",
    *,
    framework: str = "pytorch",
    cid: str = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    size: int = 1_000_000,
    price: int = 0,
    meta: tuple[Any, ...] | None = None,
) -> tuple[Any, ...]:
    """``registerModel``'s argument."""
    return (name, framework, version, cid, size, price, meta if meta is not None else metadata())


def model_id(owner: str, name: str, version: str) -> bytes:
    """The id ModelRegistry gives ``owner``'s model ``name`` at ``version``."""
    return keccak(encode(["address", "string", "string"], [owner, name, version]))


def register_model(
    chain: ChainUnderTest,
    owner: LocalAccount | Reentrant,
    name: str = "tiny-llama",
    version: str = "1.0.0",
    *,
    price: int = 0,
    fee: int = REGISTRATION_FEE,
) -> bytes:
    """Register a model owned by ``owner`` (an account, or a contract acting through its
    ``exec``), paying ``fee``, and return its id."""
    register = chain.contract("ModelRegistry").functions.registerModel(
        model_input(name, version, price=price)
    )
    if isinstance(owner, Reentrant):
        owner.act(register, fee)
    else:
        chain.send(register, owner, fee)
    return model_id(owner.address, name, version)
