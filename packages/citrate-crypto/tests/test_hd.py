"""Mnemonics and HD derivation: standard-wallet compatibility and useful errors."""

from __future__ import annotations

import unicodedata

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account as EthAccount
from eth_keys import keys as eth_keys
from eth_keys.constants import SECPK1_N
from hypothesis import given, settings
from hypothesis import strategies as st

from citrate_crypto import HDWallet, generate_mnemonic, validate_mnemonic
from citrate_crypto._native import mnemonic_from_entropy
from citrate_crypto.errors import (
    DerivationError,
    MnemonicChecksumError,
    MnemonicError,
    MnemonicUnknownWordError,
    MnemonicWordCountError,
)

from .conftest import DEV_PHRASE

EthAccount.enable_unaudited_hdwallet_features()


@pytest.mark.parametrize("words", [12, 15, 18, 21, 24])
def test_generated_mnemonics_are_valid_and_distinct(words: int) -> None:
    phrases = {generate_mnemonic(words) for _ in range(20)}
    assert len(phrases) == 20
    for phrase in phrases:
        assert len(phrase.split()) == words
        assert validate_mnemonic(phrase) == phrase
        EthAccount.from_mnemonic(phrase)  # a second implementation accepts the checksum


def test_generate_rejects_odd_word_counts() -> None:
    with pytest.raises(MnemonicWordCountError):
        generate_mnemonic(13)


def test_unknown_word_names_position_and_suggests_closest() -> None:
    phrase = DEV_PHRASE.split()
    phrase[3] = "tesst"
    with pytest.raises(MnemonicUnknownWordError) as info:
        validate_mnemonic(" ".join(phrase))
    err = info.value
    assert err.position == 4
    assert err.word == "tesst"
    assert "test" in err.suggestions
    assert "test" in str(err) and "hint" in str(err)
    assert isinstance(err, ValueError) and isinstance(err, MnemonicError)


def test_bad_checksum_says_so() -> None:
    with pytest.raises(MnemonicChecksumError, match="checksum"):
        validate_mnemonic("test " * 11 + "test")


@pytest.mark.parametrize("count", [0, 1, 11, 13, 25])
def test_wrong_word_count(count: int) -> None:
    with pytest.raises(MnemonicWordCountError) as info:
        validate_mnemonic(" ".join(["abandon"] * count))
    assert "12" in str(info.value) and "24" in str(info.value)


def test_phrase_is_normalised() -> None:
    messy = "  TEST test\ttest test test test   test test test test test\nJunk "
    assert validate_mnemonic(messy) == DEV_PHRASE
    assert HDWallet.from_mnemonic(messy).address(0) == HDWallet.from_mnemonic(DEV_PHRASE).address(0)


def test_passphrase_is_nfkd_normalised_and_changes_the_wallet() -> None:
    composed = unicodedata.normalize("NFC", "pässwörd")
    decomposed = unicodedata.normalize("NFD", "pässwörd")
    a = HDWallet.from_mnemonic(DEV_PHRASE, composed).address(0)
    assert a == HDWallet.from_mnemonic(DEV_PHRASE, decomposed).address(0)
    assert a != HDWallet.from_mnemonic(DEV_PHRASE).address(0)
    assert a == EthAccount.from_mnemonic(DEV_PHRASE, passphrase=composed).address


def test_dev_phrase_accounts_match_anvil() -> None:
    wallet = HDWallet.from_mnemonic(DEV_PHRASE)
    assert wallet.address(0) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert wallet.address(1) == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert wallet.addresses(3) == [wallet.address(i) for i in range(3)]
    assert wallet.addresses(2, start=5, account=1) == [
        wallet.address(5, account=1),
        wallet.address(6, account=1),
    ]
    assert wallet.account(0).address == wallet.address(0)
    assert wallet.account_at("m/44'/60'/0'/0/7").address == wallet.address(7)
    assert wallet.addresses(0) == []


@pytest.mark.parametrize("index", [-1, 2**31])
def test_out_of_range_index_is_an_error(index: int) -> None:
    wallet = HDWallet.from_mnemonic(DEV_PHRASE)
    with pytest.raises((DerivationError, OverflowError)):
        wallet.address(index)


def test_bad_path_is_an_error() -> None:
    with pytest.raises(DerivationError, match="path"):
        HDWallet.from_mnemonic(DEV_PHRASE).account_at("m/44'/x")


def test_signature_recovers_to_the_address() -> None:
    account = HDWallet.from_mnemonic(DEV_PHRASE).account(3)
    digest = bytes(range(32))
    sig = account.sign_hash(digest)
    assert len(sig) == 65 and sig[64] in (0, 1)
    recovered = eth_keys.Signature(sig).recover_public_key_from_msg_hash(digest)
    assert recovered.to_checksum_address() == account.address
    assert int.from_bytes(sig[32:64], "big") <= SECPK1_N // 2  # low s


def test_keys_do_not_leak_through_repr() -> None:
    wallet = HDWallet.from_mnemonic(DEV_PHRASE)
    account = wallet.account(0)
    secret = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    for text in (repr(wallet), repr(account), str(account), repr(account._key)):
        assert secret not in text.lower()
        assert "junk" not in text
    public = [n for n in dir(account) if not n.startswith("_")]
    assert public == ["address", "public_key", "sign_hash"]


@settings(max_examples=25, deadline=None)
@given(
    entropy=st.sampled_from([16, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    passphrase=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12),
    index=st.integers(min_value=0, max_value=2**31 - 1),
    account=st.integers(min_value=0, max_value=3),
)
def test_matches_eth_account_and_bip_utils(
    entropy: bytes, passphrase: str, index: int, account: int
) -> None:
    phrase = mnemonic_from_entropy(entropy)
    ours = HDWallet.from_mnemonic(phrase, passphrase).address(index, account=account)
    theirs = EthAccount.from_mnemonic(
        phrase, passphrase=passphrase, account_path=f"m/44'/60'/{account}'/0/{index}"
    ).address
    assert ours == theirs
    seed = Bip39SeedGenerator(phrase).Generate(passphrase)
    bip = (
        Bip44.FromSeed(seed, Bip44Coins.ETHEREUM)
        .Purpose()
        .Coin()
        .Account(account)
        .Change(Bip44Changes.CHAIN_EXT)
        .AddressIndex(index)
    )
    assert ours == bip.PublicKey().ToAddress()
