//! Known-answer tests against the shared vectors in `tests/vectors/*.json` at the repository
//! root (the same files the Python test suite reads).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;

use citrate_core::bip39::{mnemonic_from_entropy, mnemonic_to_seed, validate_mnemonic};
use citrate_core::{
    decrypt_keystore, to_checksum_address, DerivationPath, ExtendedPrivateKey, HdWallet,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "..", "..", "tests", "vectors", name].iter().collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn bip39_trezor_vectors() {
    let doc = load("bip39.json");
    let passphrase = s(&doc["passphrase"]);
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 24);
    for v in vectors {
        let entropy = hex::decode(s(&v["entropy"])).unwrap();
        let mnemonic = s(&v["mnemonic"]);
        assert_eq!(mnemonic_from_entropy(&entropy).unwrap().as_str(), mnemonic);
        assert_eq!(validate_mnemonic(mnemonic).unwrap().as_str(), mnemonic);
        let seed = mnemonic_to_seed(mnemonic, passphrase).unwrap();
        assert_eq!(hex::encode(seed.as_slice()), s(&v["seed"]), "{mnemonic}");
        assert_eq!(ExtendedPrivateKey::master(seed.as_slice()).unwrap().to_xprv(), s(&v["xprv"]));
    }
}

#[test]
fn bip32_spec_vectors() {
    let doc = load("bip32.json");
    let mut checked = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let seed = hex::decode(s(&v["seed"])).unwrap();
        let wallet = HdWallet::from_seed(&seed).unwrap();
        for chain in v["chains"].as_array().unwrap() {
            let path: DerivationPath = s(&chain["path"]).parse().unwrap();
            let key = wallet.derive(&path).unwrap();
            assert_eq!(key.to_xprv(), s(&chain["xprv"]), "{path}");
            assert_eq!(key.public().to_xpub(), s(&chain["xpub"]), "{path}");
            checked += 1;
        }
    }
    assert_eq!(checked, 17);
}

#[test]
fn ethereum_dev_accounts() {
    let doc = load("eth_accounts.json");
    let wallet = HdWallet::from_mnemonic(s(&doc["mnemonic"]), s(&doc["passphrase"])).unwrap();
    let accounts = doc["accounts"].as_array().unwrap();
    let batch = wallet.addresses(accounts.len() as u64, 0, 0).unwrap();
    for (a, batched) in accounts.iter().zip(&batch) {
        let index = a["index"].as_u64().unwrap() as u32;
        let key = wallet.key(index, 0).unwrap();
        assert_eq!(hex::encode(key.to_bytes().as_ref()), s(&a["private_key"]));
        assert_eq!(key.address(), s(&a["address"]));
        assert_eq!(batched, s(&a["address"]));
        let by_path = wallet.derive(&s(&a["path"]).parse().unwrap()).unwrap().private_key();
        assert_eq!(by_path.address(), s(&a["address"]));
    }
}

#[test]
fn keystore_v3_vectors() {
    let doc = load("keystore_v3.json");
    for v in doc["vectors"].as_array().unwrap() {
        let json = v["keystore"].to_string();
        let key = decrypt_keystore(&json, s(&v["password"]))
            .unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        assert_eq!(hex::encode(key.to_bytes().as_ref()), s(&v["private_key"]), "{}", v["name"]);
        assert_eq!(key.address(), s(&v["address"]));
        assert!(decrypt_keystore(&json, "not the password").is_err());
    }
}

#[test]
fn eip55_spec_examples() {
    let doc = load("eip55.json");
    let mut n = 0;
    for group in doc["checksummed"].as_object().unwrap().values() {
        for a in group.as_array().unwrap() {
            let a = s(a);
            assert_eq!(to_checksum_address(a).unwrap(), a);
            assert_eq!(to_checksum_address(&a.to_lowercase()).unwrap(), a);
            assert_eq!(to_checksum_address(&a[2..].to_lowercase()).unwrap(), a);
            n += 1;
        }
    }
    assert_eq!(n, 8);
}
