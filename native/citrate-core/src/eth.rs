//! Ethereum primitives: Keccak-256, addresses (EIP-55) and secp256k1 private keys.

use std::fmt;

use k256::ecdsa::SigningKey;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::AffinePoint;
use sha3::{Digest, Keccak256};

use crate::{Error, Result};

/// Keccak-256 (the pre-standard SHA-3 Ethereum uses).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The 20-byte address of a public key: the last 20 bytes of keccak256(x || y).
pub fn address_of_point(point: &AffinePoint) -> [u8; 20] {
    let encoded = point.to_sec1_point(false);
    let hash = keccak256(&encoded.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// EIP-55 mixed-case checksum encoding of a 20-byte address, with `0x`.
pub fn checksum_encode(address: &[u8; 20]) -> String {
    let lower = hex::encode(address);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

/// Parse a hex address (40 hex digits, `0x` optional) into bytes, checking EIP-55.
///
/// All-lowercase and all-uppercase input carries no checksum and is accepted; mixed case must
/// match the EIP-55 checksum.
pub fn parse_address(address: &str) -> Result<[u8; 20]> {
    let invalid = |reason: &str, hint: Option<&str>| Error::InvalidAddress {
        address: address.chars().take(100).collect(),
        reason: reason.to_owned(),
        hint: hint.map(str::to_owned),
    };
    let digits =
        address.strip_prefix("0x").or_else(|| address.strip_prefix("0X")).unwrap_or(address);
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("expected 40 hexadecimal digits, optionally prefixed with `0x`", None));
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes)
        .map_err(|_| invalid("expected 40 hexadecimal digits", None))?;
    let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
    if has_upper && has_lower && checksum_encode(&bytes)[2..] != *digits {
        return Err(invalid(
            "the eip-55 checksum (the mix of upper and lower case) does not match",
            Some("check the address for a typo; pass it in all lowercase only if you are sure it is right"),
        ));
    }
    Ok(bytes)
}

/// Validate an address and return its EIP-55 checksummed form (with `0x`).
pub fn to_checksum_address(address: &str) -> Result<String> {
    parse_address(address).map(|bytes| checksum_encode(&bytes))
}

/// A secp256k1 private key. The secret is zeroized on drop and never printed.
#[derive(Clone)]
pub struct PrivateKey {
    key: SigningKey,
}

impl PrivateKey {
    /// A key from its 32-byte big-endian encoding; rejects zero and values >= the curve order.
    pub fn from_bytes(secret: &[u8]) -> Result<Self> {
        if secret.len() != 32 {
            return Err(Error::InvalidKey {
                reason: format!("expected 32 bytes, got `{}`", secret.len()),
            });
        }
        let key = SigningKey::from_slice(secret).map_err(|_| Error::InvalidKey {
            reason: "the key is zero or not below the secp256k1 group order".to_owned(),
        })?;
        Ok(Self { key })
    }

    pub(crate) fn from_signing_key(key: SigningKey) -> Self {
        Self { key }
    }

    /// The 32-byte big-endian secret. Handle with care: callers must not log or keep it.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        // `SigningKey::to_bytes` returns a plain `FieldBytes`; hold it in `Zeroizing` too, so
        // that no copy of the secret outlives this call.
        let repr = zeroize::Zeroizing::new(self.key.to_bytes());
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        out.copy_from_slice(repr.as_slice());
        out
    }

    /// The 65-byte uncompressed SEC1 public key (`0x04 || x || y`).
    pub fn public_key(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out.copy_from_slice(self.key.verifying_key().to_sec1_point(false).as_bytes());
        out
    }

    /// The 20-byte Ethereum address.
    pub fn address_bytes(&self) -> [u8; 20] {
        address_of_point(self.key.verifying_key().as_affine())
    }

    /// The EIP-55 checksummed address.
    pub fn address(&self) -> String {
        checksum_encode(&self.address_bytes())
    }

    /// Sign a 32-byte prehash (RFC 6979 deterministic nonce, low-s).
    ///
    /// Returns `r || s || v` (65 bytes) with the recovery id `v` in {0, 1}.
    pub fn sign_hash(&self, digest: &[u8]) -> Result<[u8; 65]> {
        if digest.len() != 32 {
            return Err(Error::DigestLength { len: digest.len() });
        }
        let (signature, recovery_id) = self.key.sign_prehash_recoverable(digest);
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = recovery_id.to_byte();
        Ok(out)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey").field("address", &self.address()).finish_non_exhaustive()
    }
}

impl fmt::Display for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "private key for {}", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

    const ANVIL0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn keccak_of_empty() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn key_address_and_debug() {
        let key = PrivateKey::from_bytes(&hex::decode(ANVIL0).unwrap()).unwrap();
        assert_eq!(key.address(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert_eq!(key.public_key()[0], 4);
        let debug = format!("{key:?} {key}");
        assert!(debug.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert!(!debug.to_lowercase().contains(&ANVIL0[..16]));
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(matches!(PrivateKey::from_bytes(&[0; 32]), Err(Error::InvalidKey { .. })));
        assert!(matches!(PrivateKey::from_bytes(&[0xff; 32]), Err(Error::InvalidKey { .. })));
        assert!(matches!(PrivateKey::from_bytes(&[1; 31]), Err(Error::InvalidKey { .. })));
        // n itself is rejected, n - 1 accepted.
        let n = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
            .unwrap();
        assert!(PrivateKey::from_bytes(&n).is_err());
        let n1 = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140")
            .unwrap();
        assert!(PrivateKey::from_bytes(&n1).is_ok());
    }

    #[test]
    fn signature_is_low_s_and_recovers() {
        let key = PrivateKey::from_bytes(&hex::decode(ANVIL0).unwrap()).unwrap();
        for i in 0u8..32 {
            let digest = keccak256(&[i]);
            let sig = key.sign_hash(&digest).unwrap();
            assert!(sig[64] <= 1);
            let signature = Signature::from_slice(&sig[..64]).unwrap();
            assert_eq!(signature.normalize_s(), signature, "high s");
            let recovered = VerifyingKey::recover_from_prehash(
                &digest,
                &signature,
                RecoveryId::from_byte(sig[64]).unwrap(),
            )
            .unwrap();
            assert_eq!(address_of_point(recovered.as_affine()), key.address_bytes());
        }
        assert_eq!(key.sign_hash(&[0; 31]).unwrap_err(), Error::DigestLength { len: 31 });
    }

    #[test]
    fn checksum_validation() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(to_checksum_address(good).unwrap(), good);
        assert_eq!(to_checksum_address(&good[2..].to_lowercase()).unwrap(), good);
        assert_eq!(to_checksum_address(&good.to_uppercase().replace("0X", "0x")).unwrap(), good);
        let bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        let err = to_checksum_address(bad).unwrap_err().to_string();
        assert!(err.contains(bad) && err.contains("hint:"), "{err}");
        for short in ["", "0x", "0x1234", "0xzzAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"] {
            assert!(matches!(to_checksum_address(short), Err(Error::InvalidAddress { .. })));
        }
    }
}
