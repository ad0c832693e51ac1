//! BIP32 hierarchical deterministic keys on secp256k1, BIP44 Ethereum paths, and [`HdWallet`].

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::elliptic_curve::BatchNormalize;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256, Sha512};
use zeroize::{Zeroize, Zeroizing};

use crate::eth::{address_of_point, checksum_encode, keccak256, PrivateKey};
use crate::{Error, Result};

/// First hardened child index (2^31).
pub const HARDENED: u32 = 0x8000_0000;
/// Most addresses [`HdWallet::addresses`] derives in one call.
pub const MAX_ADDRESSES: u64 = 1_000_000;

const XPRV_VERSION: [u8; 4] = [0x04, 0x88, 0xad, 0xe4];
const XPUB_VERSION: [u8; 4] = [0x04, 0x88, 0xb2, 0x1e];

type HmacSha512 = Hmac<Sha512>;

/// HMAC-SHA512 keyed with `key` (the inner and outer pads are hashed once; clone to reuse).
fn hmac_keyed(key: &[u8]) -> HmacSha512 {
    match HmacSha512::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length; new_from_slice only fails for fixed-key MACs.
        Err(_) => unreachable!("hmac accepts keys of any length"),
    }
}

/// Finish an HMAC-SHA512 over `parts` and split it into (IL, IR), both zeroized on drop.
fn hmac_finish(mut mac: HmacSha512, parts: &[&[u8]]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    for part in parts {
        mac.update(part);
    }
    let mut out = mac.finalize().into_bytes();
    let mut il = Zeroizing::new([0u8; 32]);
    let mut ir = Zeroizing::new([0u8; 32]);
    il.copy_from_slice(&out[..32]);
    ir.copy_from_slice(&out[32..]);
    out.zeroize();
    (il, ir)
}

/// HMAC-SHA512(key, parts...) split into (IL, IR).
fn hmac_split(key: &[u8], parts: &[&[u8]]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    hmac_finish(hmac_keyed(key), parts)
}

/// parse256(IL) as a scalar, or None when IL >= n (BIP32: the key is invalid).
fn scalar_from_il(il: &[u8; 32]) -> Option<Scalar> {
    // IL is (part of) a child secret; the FieldBytes copy is zeroized like IL itself.
    let repr = Zeroizing::new(FieldBytes::from(*il));
    Option::from(Scalar::from_repr(*repr))
}

/// The 32-byte big-endian encoding of a secret scalar, zeroized on drop (`to_repr` returns a
/// plain `FieldBytes` that would otherwise be left on the stack).
fn secret_repr(secret: &NonZeroScalar) -> Zeroizing<FieldBytes> {
    Zeroizing::new(secret.to_repr())
}

fn index_str(index: u32) -> String {
    if index >= HARDENED {
        format!("{}'", index - HARDENED)
    } else {
        index.to_string()
    }
}

/// Check that an account/address index is in `0..2^31` (negative values are errors too).
pub fn check_index(index: i128) -> Result<u32> {
    u32::try_from(index)
        .ok()
        .filter(|i| *i < HARDENED)
        .ok_or(Error::IndexOutOfRange { index: index.to_string() })
}

/// Check an address count: `0..=MAX_ADDRESSES`.
pub fn check_count(count: i128) -> Result<u64> {
    u64::try_from(count)
        .ok()
        .filter(|c| *c <= MAX_ADDRESSES)
        .ok_or(Error::InvalidCount { count: count.to_string(), max: MAX_ADDRESSES })
}

/// A parsed BIP32 path such as `m/44'/60'/0'/0/5` (`'`, `h` or `H` marks hardened indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivationPath(Vec<u32>);

impl DerivationPath {
    /// The child indexes, hardened ones with bit 31 set.
    pub fn indexes(&self) -> &[u32] {
        &self.0
    }

    /// The BIP44 Ethereum path `m/44'/60'/{account}'/0/{index}`.
    pub fn ethereum(account: u32, index: u32) -> Result<Self> {
        let account = check_index(account.into())?;
        let index = check_index(index.into())?;
        Ok(Self(vec![44 | HARDENED, 60 | HARDENED, account | HARDENED, 0, index]))
    }
}

impl FromStr for DerivationPath {
    type Err = Error;

    fn from_str(path: &str) -> Result<Self> {
        let invalid =
            |reason: String| Error::InvalidPath { path: path.chars().take(200).collect(), reason };
        let mut parts = path.trim().split('/');
        if parts.next() != Some("m") {
            return Err(invalid("a path starts with `m`".to_owned()));
        }
        let mut indexes = Vec::new();
        for (depth, part) in parts.enumerate() {
            let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
                Some(digits) => (digits, true),
                None => (part, false),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!("segment {} `{part}` is not an index", depth + 1)));
            }
            let index = digits
                .parse::<u32>()
                .ok()
                .filter(|i| *i < HARDENED)
                .ok_or_else(|| invalid(format!("index `{digits}` is not below 2^31")))?;
            indexes.push(if hardened { index | HARDENED } else { index });
        }
        if indexes.len() > 255 {
            return Err(invalid("bip32 paths are at most 255 levels deep".to_owned()));
        }
        Ok(Self(indexes))
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for index in &self.0 {
            write!(f, "/{}", index_str(*index))?;
        }
        Ok(())
    }
}

/// Metadata every extended key carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    depth: u8,
    parent_fingerprint: [u8; 4],
    child_number: u32,
}

fn serialize(version: [u8; 4], meta: &Meta, chain_code: &[u8; 32], key: &[u8; 33]) -> String {
    let mut data = Zeroizing::new([0u8; 78]);
    data[..4].copy_from_slice(&version);
    data[4] = meta.depth;
    data[5..9].copy_from_slice(&meta.parent_fingerprint);
    data[9..13].copy_from_slice(&meta.child_number.to_be_bytes());
    data[13..45].copy_from_slice(chain_code);
    data[45..].copy_from_slice(key);
    base58check(data.as_slice())
}

/// Base58 of `payload || sha256(sha256(payload))[..4]`.
fn base58check(payload: &[u8]) -> String {
    let checksum = Sha256::digest(Sha256::digest(payload));
    let mut full = Zeroizing::new(Vec::with_capacity(payload.len() + 4));
    full.extend_from_slice(payload);
    full.extend_from_slice(&checksum[..4]);
    bs58::encode(full.as_slice()).into_string()
}

fn compressed(point: &AffinePoint) -> [u8; 33] {
    let mut out = [0u8; 33];
    out.copy_from_slice(point.to_sec1_point(true).as_bytes());
    out
}

fn fingerprint(point: &AffinePoint) -> [u8; 4] {
    let hash = Ripemd160::digest(Sha256::digest(compressed(point)));
    [hash[0], hash[1], hash[2], hash[3]]
}

/// A BIP32 extended private key. Secret and chain code are zeroized on drop.
#[derive(Clone)]
pub struct ExtendedPrivateKey {
    secret: NonZeroScalar,
    chain_code: Zeroizing<[u8; 32]>,
    meta: Meta,
}

impl Drop for ExtendedPrivateKey {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl fmt::Debug for ExtendedPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedPrivateKey")
            .field("depth", &self.meta.depth)
            .field("child_number", &index_str(self.meta.child_number))
            .finish_non_exhaustive()
    }
}

impl ExtendedPrivateKey {
    /// The master key of a 16..=64-byte seed.
    pub fn master(seed: &[u8]) -> Result<Self> {
        if !(16..=64).contains(&seed.len()) {
            return Err(Error::SeedLength { len: seed.len() });
        }
        let (il, ir) = hmac_split(b"Bitcoin seed", &[seed]);
        let secret = scalar_from_il(&il)
            .and_then(|s| Option::from(NonZeroScalar::new(s)))
            .ok_or(Error::InvalidChild { index: 0 })?;
        Ok(Self {
            secret,
            chain_code: ir,
            meta: Meta { depth: 0, parent_fingerprint: [0; 4], child_number: 0 },
        })
    }

    fn public_point(&self) -> AffinePoint {
        ProjectivePoint::mul_by_generator(&self.secret).to_affine()
    }

    /// CKDpriv: the child at `index` (hardened when `index >= 2^31`).
    pub fn derive_child(&self, index: u32) -> Result<Self> {
        let public = self.public_point();
        let index_bytes = index.to_be_bytes();
        let (il, ir) = if index >= HARDENED {
            let mut secret = Zeroizing::new([0u8; 33]);
            secret[1..].copy_from_slice(&secret_repr(&self.secret));
            hmac_split(self.chain_code.as_slice(), &[secret.as_slice(), &index_bytes])
        } else {
            hmac_split(self.chain_code.as_slice(), &[&compressed(&public), &index_bytes])
        };
        let secret = scalar_from_il(&il)
            .map(|tweak| tweak + *self.secret)
            .and_then(|s| Option::from(NonZeroScalar::new(s)))
            .ok_or(Error::InvalidChild { index })?;
        let depth = self.meta.depth.checked_add(1).ok_or_else(|| Error::InvalidPath {
            path: String::new(),
            reason: "bip32 paths are at most 255 levels deep".to_owned(),
        })?;
        Ok(Self {
            secret,
            chain_code: ir,
            meta: Meta { depth, parent_fingerprint: fingerprint(&public), child_number: index },
        })
    }

    /// Derive along `path` from this key.
    pub fn derive_path(&self, path: &DerivationPath) -> Result<Self> {
        let mut key = self.clone();
        for index in path.indexes() {
            key = key.derive_child(*index)?;
        }
        Ok(key)
    }

    /// The matching extended public key.
    pub fn public(&self) -> ExtendedPublicKey {
        ExtendedPublicKey {
            point: self.public_point(),
            chain_code: *self.chain_code,
            meta: self.meta,
        }
    }

    /// The 20-byte addresses of the non-hardened children `start..start + count`.
    ///
    /// Same results as [`ExtendedPublicKey::child_addresses`], but each child is derived
    /// privately (`k_i = k + IL_i mod n`) and its public key computed with libsecp256k1's
    /// constant-time precomputed-table generator multiplication, which is markedly faster than
    /// k256's. Child secrets are zeroized after use.
    pub fn child_addresses(&self, start: u32, count: u32) -> Result<Vec<[u8; 20]>> {
        let end = start.checked_add(count).ok_or(Error::IndexOutOfRange {
            index: (u64::from(start) + u64::from(count)).to_string(),
        })?;
        let parent = compressed(&self.public_point());
        let keyed = hmac_keyed(self.chain_code.as_slice());
        let mut ctx = secp256k1::Secp256k1::signing_only();
        // Blind the generator multiplication (side-channel hardening); without fresh randomness
        // the context simply stays unblinded, which is still constant time.
        let mut seed = Zeroizing::new([0u8; 32]);
        if getrandom::fill(seed.as_mut_slice()).is_ok() {
            ctx.seeded_randomize(&seed);
        }
        let mut out = Vec::with_capacity(count as usize);
        for index in start..end {
            let (il, _ir) = hmac_finish(keyed.clone(), &[&parent, &index.to_be_bytes()]);
            let mut child = scalar_from_il(&il)
                .map(|tweak| tweak + *self.secret)
                .and_then(|s| Option::from(NonZeroScalar::new(s)))
                .ok_or(Error::InvalidChild { index })?;
            let mut bytes = Zeroizing::new([0u8; 32]);
            bytes.copy_from_slice(&secret_repr(&child));
            child.zeroize();
            let mut sk = secp256k1::SecretKey::from_byte_array(*bytes)
                .map_err(|_| Error::InvalidChild { index })?;
            let public = secp256k1::PublicKey::from_secret_key(&ctx, &sk);
            sk.non_secure_erase();
            let encoded = public.serialize_uncompressed();
            let hash = keccak256(&encoded[1..]);
            let mut address = [0u8; 20];
            address.copy_from_slice(&hash[12..]);
            out.push(address);
        }
        Ok(out)
    }

    /// The private key as an Ethereum [`PrivateKey`].
    pub fn private_key(&self) -> PrivateKey {
        PrivateKey::from_signing_key(k256::ecdsa::SigningKey::from(self.secret))
    }

    /// Base58check `xprv…` serialization (mainnet version bytes).
    pub fn to_xprv(&self) -> String {
        let mut key = Zeroizing::new([0u8; 33]);
        key[1..].copy_from_slice(&secret_repr(&self.secret));
        serialize(XPRV_VERSION, &self.meta, &self.chain_code, &key)
    }
}

/// A BIP32 extended public key.
#[derive(Debug, Clone)]
pub struct ExtendedPublicKey {
    point: AffinePoint,
    chain_code: [u8; 32],
    meta: Meta,
}

impl ExtendedPublicKey {
    /// Base58check `xpub…` serialization (mainnet version bytes).
    pub fn to_xpub(&self) -> String {
        serialize(XPUB_VERSION, &self.meta, &self.chain_code, &compressed(&self.point))
    }

    /// The public key point.
    pub fn point(&self) -> &AffinePoint {
        &self.point
    }

    /// CKDpub without the metadata: the child public point at non-hardened `index`,
    /// left projective so that callers can normalise many points with one inversion.
    fn child_point(
        &self,
        keyed: &HmacSha512,
        parent_compressed: &[u8; 33],
        index: u32,
    ) -> Result<ProjectivePoint> {
        let (il, _ir) = hmac_finish(keyed.clone(), &[parent_compressed, &index.to_be_bytes()]);
        let tweak = scalar_from_il(&il).ok_or(Error::InvalidChild { index })?;
        let point = ProjectivePoint::mul_by_generator(&tweak) + self.point;
        if point == ProjectivePoint::IDENTITY {
            return Err(Error::InvalidChild { index });
        }
        Ok(point)
    }

    /// The 20-byte addresses of the non-hardened children `start..start + count`.
    ///
    /// Derives one CKDpub step per index from this (cached) parent and normalises the points
    /// to affine coordinates in batches, sharing one field inversion per batch.
    pub fn child_addresses(&self, start: u32, count: u32) -> Result<Vec<[u8; 20]>> {
        const BATCH: usize = 256;
        let parent = compressed(&self.point);
        let keyed = hmac_keyed(&self.chain_code);
        let mut out = Vec::with_capacity(count as usize);
        let mut batch = Vec::with_capacity(BATCH);
        let mut index = start;
        let end = start.checked_add(count).ok_or(Error::IndexOutOfRange {
            index: (u64::from(start) + u64::from(count)).to_string(),
        })?;
        while index < end {
            batch.clear();
            let stop = end.min(index.saturating_add(BATCH as u32));
            for i in index..stop {
                batch.push(self.child_point(&keyed, &parent, i)?);
            }
            let affine: Vec<AffinePoint> = ProjectivePoint::batch_normalize(batch.as_slice());
            out.extend(affine.iter().map(address_of_point));
            index = stop;
        }
        Ok(out)
    }
}

/// A BIP32/BIP44 wallet rooted at a BIP39 seed.
#[derive(Clone)]
pub struct HdWallet {
    master: ExtendedPrivateKey,
}

impl fmt::Debug for HdWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HdWallet").finish_non_exhaustive()
    }
}

impl HdWallet {
    /// A wallet from a BIP32 seed (16 to 64 bytes).
    pub fn from_seed(seed: &[u8]) -> Result<Self> {
        Ok(Self { master: ExtendedPrivateKey::master(seed)? })
    }

    /// A wallet from a BIP39 mnemonic and optional passphrase (validated first).
    pub fn from_mnemonic(phrase: &str, passphrase: &str) -> Result<Self> {
        let seed = crate::bip39::mnemonic_to_seed(phrase, passphrase)?;
        Self::from_seed(seed.as_slice())
    }

    /// The extended private key at `path`.
    pub fn derive(&self, path: &DerivationPath) -> Result<ExtendedPrivateKey> {
        self.master.derive_path(path)
    }

    /// The external chain node `m/44'/60'/{account}'/0`.
    fn ethereum_chain(&self, account: u32) -> Result<ExtendedPrivateKey> {
        let account = check_index(account.into())?;
        self.derive(&DerivationPath(vec![44 | HARDENED, 60 | HARDENED, account | HARDENED, 0]))
    }

    /// The private key at `m/44'/60'/{account}'/0/{index}`.
    pub fn key(&self, index: u32, account: u32) -> Result<PrivateKey> {
        Ok(self.derive(&DerivationPath::ethereum(account, index)?)?.private_key())
    }

    /// The EIP-55 address at `m/44'/60'/{account}'/0/{index}`.
    pub fn address(&self, index: u32, account: u32) -> Result<String> {
        Ok(self.addresses(1, index, account)?.pop().unwrap_or_default())
    }

    /// EIP-55 addresses of `count` consecutive indexes from `start`.
    ///
    /// The chain node `m/44'/60'/{account}'/0` is derived once; each address then costs one
    /// private CKD step plus one libsecp256k1 generator multiplication (see
    /// [`ExtendedPrivateKey::child_addresses`]). Work is split over the available cores for
    /// large counts.
    pub fn addresses(&self, count: u64, start: u32, account: u32) -> Result<Vec<String>> {
        let count = check_count(count.into())?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let start = check_index(start.into())?;
        check_index(i128::from(start) + i128::from(count) - 1)?;
        // check_count bounds count by MAX_ADDRESSES, far below u32::MAX.
        let count = u32::try_from(count)
            .map_err(|_| Error::InvalidCount { count: count.to_string(), max: MAX_ADDRESSES })?;
        let chain = self.ethereum_chain(account)?;

        let work = |s: u32, n: u32| -> Result<Vec<String>> {
            Ok(chain.child_addresses(s, n)?.iter().map(checksum_encode).collect())
        };

        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) as u32;
        if threads < 2 || count < 256 {
            return work(start, count);
        }
        let per = count.div_ceil(threads);
        let chunks: Vec<(u32, u32)> = (0..threads)
            .map(|t| (start + t * per, per.min(count.saturating_sub(t * per))))
            .filter(|(_, n)| *n > 0)
            .collect();
        let results: Vec<Result<Vec<String>>> = std::thread::scope(|scope| {
            let work = &work;
            // Builder::spawn_scoped reports a failure to start a thread instead of panicking;
            // a chunk whose thread could not start runs on this thread instead.
            let handles: Vec<_> = chunks
                .iter()
                .map(|&(s, n)| {
                    (s, n, std::thread::Builder::new().spawn_scoped(scope, move || work(s, n)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(s, n, handle)| match handle {
                    Ok(h) => h.join().unwrap_or_else(|_| {
                        Err(Error::Internal("an address worker thread panicked".into()))
                    }),
                    Err(_) => work(s, n),
                })
                .collect()
        });
        let mut all = Vec::with_capacity(count as usize);
        for part in results {
            all.extend(part?);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parsing() {
        let p: DerivationPath = "m/44'/60'/0'/0/5".parse().unwrap();
        assert_eq!(p.indexes(), &[44 | HARDENED, 60 | HARDENED, HARDENED, 0, 5]);
        assert_eq!(p.to_string(), "m/44'/60'/0'/0/5");
        let h: DerivationPath = "m/44h/60H/0'/0/5".parse().unwrap();
        assert_eq!(h, p);
        assert!("m".parse::<DerivationPath>().unwrap().indexes().is_empty());
        for bad in ["", "44'/60'", "m/", "m//1", "m/-1", "m/2147483648", "m/1''", "m/x", "m/1 2"] {
            let err = bad.parse::<DerivationPath>().unwrap_err();
            assert!(matches!(err, Error::InvalidPath { .. }), "{bad}");
            assert!(err.to_string().contains("hint:"));
        }
    }

    #[test]
    fn index_checks() {
        assert_eq!(check_index(2_147_483_647).unwrap(), 2_147_483_647);
        assert!(matches!(check_index(2_147_483_648), Err(Error::IndexOutOfRange { .. })));
        assert!(matches!(check_index(-1), Err(Error::IndexOutOfRange { .. })));
        assert!(matches!(check_count(-1), Err(Error::InvalidCount { .. })));
        assert_eq!(check_count(1_000_000).unwrap(), 1_000_000);
        let w = HdWallet::from_seed(&[7; 32]).unwrap();
        assert!(w.addresses(0, 0, 0).unwrap().is_empty());
        assert!(matches!(w.addresses(1_000_001, 0, 0), Err(Error::InvalidCount { .. })));
        assert!(matches!(w.addresses(2, 2_147_483_647, 0), Err(Error::IndexOutOfRange { .. })));
        assert_eq!(w.addresses(1, 2_147_483_647, 0).unwrap().len(), 1);
        assert!(matches!(w.key(0, HARDENED), Err(Error::IndexOutOfRange { .. })));
    }

    #[test]
    fn batch_addresses_match_single_private_derivation() {
        let w = HdWallet::from_seed(&[42; 64]).unwrap();
        let batch = w.addresses(600, 3, 1).unwrap();
        for (offset, addr) in batch.iter().enumerate().step_by(37) {
            let index = 3 + offset as u32;
            assert_eq!(&w.key(index, 1).unwrap().address(), addr);
            assert_eq!(&w.address(index, 1).unwrap(), addr);
        }
    }

    #[test]
    fn private_and_public_batch_derivation_agree() {
        let w = HdWallet::from_seed(&[9; 32]).unwrap();
        let chain = w.ethereum_chain(2).unwrap();
        let private = chain.child_addresses(1000, 300).unwrap();
        assert_eq!(private, chain.public().child_addresses(1000, 300).unwrap());
        assert!(chain.child_addresses(u32::MAX, 2).is_err());
    }

    #[test]
    fn seed_length() {
        assert_eq!(HdWallet::from_seed(&[0; 15]).unwrap_err(), Error::SeedLength { len: 15 });
        assert_eq!(HdWallet::from_seed(&[0; 65]).unwrap_err(), Error::SeedLength { len: 65 });
    }
}
