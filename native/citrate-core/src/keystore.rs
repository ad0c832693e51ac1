//! Ethereum keystore v3 (Web3 Secret Storage): scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR and a
//! Keccak-256 MAC over `derived_key[16..32] || ciphertext`.

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::eth::{keccak256, PrivateKey};
use crate::{Error, Result};

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// Most memory a scrypt keystore may ask for (128 * r * n bytes): 1 GiB.
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest scrypt parallelism `p` accepted. Keystores in the wild use 1 (geth, eth-account) or 8
/// (the Web3 Secret Storage example); scrypt allocates `128 * r * p` bytes up front and runs `p`
/// times, so an unbounded `p` lets a hostile file abort the process or hang it for hours.
pub const MAX_SCRYPT_P: u32 = 16;
/// Most scrypt work accepted, measured as `128 * n * r * p` bytes mixed: 1 GiB, a few seconds.
/// The geth default (n=2^18, r=8, p=1) and the Web3 Secret Storage vector (n=2^18, r=1, p=8)
/// both need 256 MiB.
pub const MAX_SCRYPT_WORK: u64 = 1 << 30;
/// Most PBKDF2 iterations accepted (geth and eth-account write 262144), so that a hostile file
/// cannot hang the process: 10^7 rounds of HMAC-SHA256 take a few seconds.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Key derivation function and parameters for a new keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt with cost `n` (a power of two), block size `r` and parallelism `p`.
    Scrypt {
        /// CPU/memory cost, a power of two greater than 1.
        n: u64,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `c` iterations.
    Pbkdf2 {
        /// Iteration count.
        c: u32,
    },
}

impl Default for Kdf {
    /// scrypt n=262144, r=8, p=1: what geth and eth-account write.
    fn default() -> Self {
        Self::Scrypt { n: 262_144, r: 8, p: 1 }
    }
}

impl Kdf {
    /// Build a KDF from its keystore name (`scrypt` or `pbkdf2`) and loosely typed parameters,
    /// as a binding receives them; out-of-range or too costly values (see [`Kdf::check`]) are
    /// [`Error::KeystoreKdfParams`].
    pub fn from_name(name: &str, iterations: i128, n: i128, r: i128, p: i128) -> Result<Self> {
        let bad =
            |what: &str, v: i128| Error::KeystoreKdfParams(format!("{what} `{v}` is out of range"));
        let kdf = match name {
            "scrypt" => Self::Scrypt {
                n: u64::try_from(n).map_err(|_| bad("scrypt n", n))?,
                r: u32::try_from(r).map_err(|_| bad("scrypt r", r))?,
                p: u32::try_from(p).map_err(|_| bad("scrypt p", p))?,
            },
            "pbkdf2" => Self::Pbkdf2 {
                c: u32::try_from(iterations).map_err(|_| bad("pbkdf2 iterations", iterations))?,
            },
            other => return Err(Error::KeystoreUnsupportedKdf(other.chars().take(40).collect())),
        };
        // Refuse costly parameters here too, so that a caller learns before doing anything else.
        kdf.check()?;
        Ok(kdf)
    }

    /// Check that the parameters are valid and within the cost limits ([`MAX_SCRYPT_P`],
    /// [`MAX_SCRYPT_MEMORY`], [`MAX_SCRYPT_WORK`], [`MAX_PBKDF2_ITERATIONS`]).
    ///
    /// Cheap: nothing is allocated or derived, so a hostile keystore is refused before the KDF
    /// runs.
    pub fn check(&self) -> Result<()> {
        match *self {
            Self::Scrypt { n, r, p } => scrypt_params(n, r, p).map(drop),
            Self::Pbkdf2 { c } => check_pbkdf2(c),
        }
    }
}

fn scrypt_params(n: u64, r: u32, p: u32) -> Result<scrypt::Params> {
    if n < 2 || !n.is_power_of_two() {
        return Err(Error::KeystoreKdfParams(format!(
            "scrypt `n` must be a power of two above 1, got `{n}`"
        )));
    }
    if r == 0 || p == 0 {
        return Err(Error::KeystoreKdfParams(format!(
            "scrypt `r` and `p` must be positive, got `r={r}`, `p={p}`"
        )));
    }
    // Every bound is checked here in wide integers, before `scrypt::Params::new`: its own
    // `r * p` check is a u32 multiplication that wraps in release builds, and scrypt allocates
    // `128 * r * p` bytes before it looks at anything else, which aborts the process (not an
    // error) when the allocation fails.
    if p > MAX_SCRYPT_P {
        return Err(Error::KeystoreKdfParams(format!(
            "scrypt `p={p}` is above the limit of {MAX_SCRYPT_P}"
        )));
    }
    let rp = u64::from(r) * u64::from(p);
    if rp >= 1 << 30 {
        return Err(Error::KeystoreKdfParams(format!(
            "scrypt `r={r}`, `p={p}`: `r * p` must be below 2^30 (1073741824)"
        )));
    }
    let memory = 128u128 * u128::from(r) * u128::from(n);
    if memory > u128::from(MAX_SCRYPT_MEMORY) {
        return Err(Error::KeystoreKdfParams(format!(
            "scrypt `n={n}`, `r={r}` needs {} MiB of memory; the limit is {} MiB",
            memory >> 20,
            MAX_SCRYPT_MEMORY >> 20
        )));
    }
    let work = memory * u128::from(p);
    if work > u128::from(MAX_SCRYPT_WORK) {
        return Err(Error::KeystoreKdfParams(format!(
            "scrypt `n={n}`, `r={r}`, `p={p}` needs 128*n*r*p = {} MiB of work; the limit is {} MiB",
            work >> 20,
            MAX_SCRYPT_WORK >> 20
        )));
    }
    let log_n = n.trailing_zeros() as u8;
    scrypt::Params::new(log_n, r, p)
        .map_err(|e| Error::KeystoreKdfParams(format!("scrypt `n={n}`, `r={r}`, `p={p}`: {e}")))
}

fn check_pbkdf2(c: u32) -> Result<()> {
    if c == 0 || c > MAX_PBKDF2_ITERATIONS {
        return Err(Error::KeystoreKdfParams(format!(
            "pbkdf2 iterations `c={c}` must be between 1 and {MAX_PBKDF2_ITERATIONS}"
        )));
    }
    Ok(())
}

/// Run the KDF; returns a 32-byte derived key.
fn derive_key(password: &[u8], salt: &[u8], kdf: Kdf) -> Result<Zeroizing<[u8; 32]>> {
    let mut dk = Zeroizing::new([0u8; 32]);
    match kdf {
        Kdf::Scrypt { n, r, p } => {
            // scrypt_params enforces every cost limit before scrypt allocates anything.
            let params = scrypt_params(n, r, p)?;
            scrypt::scrypt(password, salt, &params, dk.as_mut())
                .map_err(|e| Error::KeystoreKdfParams(format!("scrypt: {e}")))?;
        }
        Kdf::Pbkdf2 { c } => {
            check_pbkdf2(c)?;
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, c, dk.as_mut());
        }
    }
    Ok(dk)
}

fn mac(dk: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut data = Zeroizing::new(Vec::with_capacity(16 + ciphertext.len()));
    data.extend_from_slice(&dk[16..32]);
    data.extend_from_slice(ciphertext);
    keccak256(&data)
}

fn apply_ctr(dk: &[u8; 32], iv: &[u8; 16], buf: &mut [u8]) {
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&dk[..16]);
    let key: &[u8; 16] = &key;
    let mut cipher = Aes128Ctr::new(key.into(), iv.into());
    cipher.apply_keystream(buf);
}

/// Encrypt `key` with `password` into keystore v3 JSON text.
pub fn encrypt_keystore(key: &PrivateKey, password: &str, kdf: Kdf) -> Result<String> {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    let mut uuid = [0u8; 16];
    crate::os_random(&mut salt)?;
    crate::os_random(&mut iv)?;
    crate::os_random(&mut uuid)?;
    let dk = derive_key(password.as_bytes(), &salt, kdf)?;
    let mut ciphertext = key.to_bytes();
    apply_ctr(&dk, &iv, ciphertext.as_mut());
    let mac = mac(&dk, ciphertext.as_ref());

    // UUID version 4, RFC 4122 variant.
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let u = hex::encode(uuid);
    let id = format!("{}-{}-{}-{}-{}", &u[..8], &u[8..12], &u[12..16], &u[16..20], &u[20..]);

    let (kdf_name, kdfparams) = match kdf {
        Kdf::Scrypt { n, r, p } => {
            ("scrypt", json!({"dklen": 32, "n": n, "r": r, "p": p, "salt": hex::encode(salt)}))
        }
        Kdf::Pbkdf2 { c } => (
            "pbkdf2",
            json!({"dklen": 32, "c": c, "prf": "hmac-sha256", "salt": hex::encode(salt)}),
        ),
    };
    let doc = json!({
        "address": hex::encode(key.address_bytes()),
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": hex::encode(iv)},
            "ciphertext": hex::encode(ciphertext.as_ref()),
            "kdf": kdf_name,
            "kdfparams": kdfparams,
            "mac": hex::encode(mac),
        },
        "id": id,
        "version": 3,
    });
    Ok(doc.to_string())
}

/// Typed access to a JSON object, naming fields by their dotted path in errors.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Obj<'a> {
    fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Result<&'a Value> {
        self.map.get(key).ok_or_else(|| Error::KeystoreMissingField(self.name(key)))
    }

    fn invalid(&self, key: &str, reason: &str) -> Error {
        Error::KeystoreInvalidField { field: self.name(key), reason: reason.to_owned() }
    }

    fn obj(&self, key: &str, path: &'a str) -> Result<Obj<'a>> {
        match self.get(key)? {
            Value::Object(map) => Ok(Obj { map, path }),
            _ => Err(self.invalid(key, "expected an object")),
        }
    }

    fn str(&self, key: &str) -> Result<&'a str> {
        self.get(key)?.as_str().ok_or_else(|| self.invalid(key, "expected a string"))
    }

    fn u64(&self, key: &str) -> Result<u64> {
        self.get(key)?.as_u64().ok_or_else(|| self.invalid(key, "expected a non-negative integer"))
    }

    fn u32(&self, key: &str) -> Result<u32> {
        u32::try_from(self.u64(key)?).map_err(|_| self.invalid(key, "integer too large"))
    }

    fn hex(&self, key: &str) -> Result<Vec<u8>> {
        let text = self.str(key)?;
        let text = text.strip_prefix("0x").unwrap_or(text);
        hex::decode(text).map_err(|_| self.invalid(key, "expected hexadecimal bytes"))
    }
}

/// Decrypt keystore v3 JSON text with `password`.
///
/// Accepts `crypto` or `Crypto`, scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR. Keys shorter than
/// 32 bytes (written by old encoders that dropped leading zeros) are left-padded, as geth does.
/// If the file has an `address` field it must match the decrypted key.
pub fn decrypt_keystore(keystore_json: &str, password: &str) -> Result<PrivateKey> {
    let doc: Value =
        serde_json::from_str(keystore_json).map_err(|e| Error::KeystoreJson(e.to_string()))?;
    let Value::Object(map) = &doc else {
        return Err(Error::KeystoreJson("expected a json object at the top level".to_owned()));
    };
    let root = Obj { map, path: "" };

    let version = root.get("version")?;
    if version.as_u64() != Some(3) {
        let found: String = version.to_string().chars().take(40).collect();
        return Err(Error::KeystoreVersion { found });
    }

    let crypto_key = if map.contains_key("crypto") {
        "crypto"
    } else if map.contains_key("Crypto") {
        "Crypto"
    } else {
        "crypto"
    };
    let crypto = root.obj(crypto_key, crypto_key)?;

    let cipher = crypto.str("cipher")?;
    if cipher != "aes-128-ctr" {
        return Err(Error::KeystoreUnsupportedCipher(cipher.chars().take(40).collect()));
    }
    let cipherparams_path = format!("{crypto_key}.cipherparams");
    let cipherparams = crypto.obj("cipherparams", &cipherparams_path)?;
    let iv: [u8; 16] = cipherparams
        .hex("iv")?
        .try_into()
        .map_err(|_| cipherparams.invalid("iv", "expected 16 bytes"))?;
    let ciphertext = crypto.hex("ciphertext")?;
    if ciphertext.is_empty() || ciphertext.len() > 32 {
        return Err(crypto.invalid("ciphertext", "expected at most 32 bytes (one secp256k1 key)"));
    }
    let expected_mac: [u8; 32] =
        crypto.hex("mac")?.try_into().map_err(|_| crypto.invalid("mac", "expected 32 bytes"))?;

    let kdf_name = crypto.str("kdf")?;
    let kdfparams_path = format!("{crypto_key}.kdfparams");
    let params = crypto.obj("kdfparams", &kdfparams_path)?;
    let kdf = match kdf_name {
        "scrypt" => Kdf::Scrypt { n: params.u64("n")?, r: params.u32("r")?, p: params.u32("p")? },
        "pbkdf2" => {
            let prf = params.str("prf")?;
            if prf != "hmac-sha256" {
                return Err(Error::KeystoreUnsupportedKdf(format!(
                    "pbkdf2 with prf {}",
                    prf.chars().take(40).collect::<String>()
                )));
            }
            Kdf::Pbkdf2 { c: params.u32("c")? }
        }
        other => return Err(Error::KeystoreUnsupportedKdf(other.chars().take(40).collect())),
    };
    let dklen = params.u64("dklen")?;
    if dklen < 32 {
        return Err(params.invalid("dklen", "must be at least 32"));
    }
    let salt = params.hex("salt")?;

    let dk = derive_key(password.as_bytes(), &salt, kdf)?;
    if !bool::from(mac(&dk, &ciphertext).ct_eq(&expected_mac)) {
        return Err(Error::KeystoreMac);
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    let offset = 32 - ciphertext.len();
    secret[offset..].copy_from_slice(&ciphertext);
    apply_ctr(&dk, &iv, &mut secret[offset..]);
    let key = PrivateKey::from_bytes(secret.as_ref()).map_err(|_| {
        crypto.invalid("ciphertext", "decrypts to a value that is not a valid secp256k1 key")
    })?;

    if let Some(address) = map.get("address") {
        let text = address.as_str().ok_or_else(|| root.invalid("address", "expected a string"))?;
        let claimed = text.strip_prefix("0x").unwrap_or(text).to_ascii_lowercase();
        let actual = hex::encode(key.address_bytes());
        if claimed != actual {
            return Err(Error::KeystoreAddressMismatch {
                expected: text.chars().take(64).collect(),
                actual: key.address(),
            });
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
    const FAST: Kdf = Kdf::Scrypt { n: 1024, r: 8, p: 1 };

    fn key() -> PrivateKey {
        PrivateKey::from_bytes(&hex::decode(KEY).unwrap()).unwrap()
    }

    fn edit(json: &str, f: impl FnOnce(&mut Value)) -> String {
        let mut v: Value = serde_json::from_str(json).unwrap();
        f(&mut v);
        v.to_string()
    }

    #[test]
    fn round_trip_scrypt_and_pbkdf2() {
        for kdf in [FAST, Kdf::Pbkdf2 { c: 1000 }] {
            let text = encrypt_keystore(&key(), "pässword", kdf).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["version"], 3);
            assert_eq!(v["address"], hex::encode(key().address_bytes()));
            let id = v["id"].as_str().unwrap();
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
            assert_eq!(v["crypto"]["kdfparams"]["salt"].as_str().unwrap().len(), 64);
            assert_eq!(v["crypto"]["cipherparams"]["iv"].as_str().unwrap().len(), 32);
            assert!(!text.contains(KEY));
            let back = decrypt_keystore(&text, "pässword").unwrap();
            assert_eq!(back.address(), key().address());
            assert_eq!(decrypt_keystore(&text, "wrong").unwrap_err(), Error::KeystoreMac);
        }
    }

    #[test]
    fn default_kdf_is_geth_scrypt() {
        let text = encrypt_keystore(&key(), "pw", Kdf::default()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["crypto"]["kdf"], "scrypt");
        assert_eq!(
            v["crypto"]["kdfparams"],
            json!({
                "dklen": 32, "n": 262144, "r": 8, "p": 1,
                "salt": v["crypto"]["kdfparams"]["salt"].clone(),
            })
        );
    }

    #[test]
    fn format_errors_name_the_field() {
        let text = encrypt_keystore(&key(), "pw", FAST).unwrap();
        let cases: Vec<(String, Error)> = vec![
            ("{".to_owned(), Error::KeystoreJson(String::new())),
            (
                edit(&text, |v| v["version"] = json!(1)),
                Error::KeystoreVersion { found: "1".into() },
            ),
            (
                edit(&text, |v| {
                    v.as_object_mut().unwrap().remove("version");
                }),
                Error::KeystoreMissingField("version".into()),
            ),
            (
                edit(&text, |v| {
                    v["crypto"].as_object_mut().unwrap().remove("mac");
                }),
                Error::KeystoreMissingField("crypto.mac".into()),
            ),
            (
                edit(&text, |v| {
                    v["crypto"]["kdfparams"].as_object_mut().unwrap().remove("salt");
                }),
                Error::KeystoreMissingField("crypto.kdfparams.salt".into()),
            ),
            (
                edit(&text, |v| v["crypto"]["kdf"] = json!("argon2id")),
                Error::KeystoreUnsupportedKdf("argon2id".into()),
            ),
            (
                edit(&text, |v| v["crypto"]["cipher"] = json!("aes-256-gcm")),
                Error::KeystoreUnsupportedCipher("aes-256-gcm".into()),
            ),
            (
                edit(&text, |v| v["crypto"]["cipherparams"]["iv"] = json!("zz")),
                Error::KeystoreInvalidField {
                    field: "crypto.cipherparams.iv".into(),
                    reason: String::new(),
                },
            ),
            (
                edit(&text, |v| v["crypto"]["kdfparams"]["n"] = json!(1u64 << 24)),
                Error::KeystoreKdfParams(String::new()),
            ),
            (
                edit(&text, |v| v["crypto"]["kdfparams"]["n"] = json!(1000)),
                Error::KeystoreKdfParams(String::new()),
            ),
            (
                edit(&text, |v| v["address"] = json!("0000000000000000000000000000000000000000")),
                Error::KeystoreAddressMismatch { expected: String::new(), actual: String::new() },
            ),
        ];
        for (json, want) in cases {
            let got = decrypt_keystore(&json, "pw").unwrap_err();
            assert_eq!(std::mem::discriminant(&got), std::mem::discriminant(&want), "{got}");
            if let (Error::KeystoreMissingField(a), Error::KeystoreMissingField(b)) = (&got, &want)
            {
                assert_eq!(a, b);
            }
            if let (
                Error::KeystoreInvalidField { field: a, .. },
                Error::KeystoreInvalidField { field: b, .. },
            ) = (&got, &want)
            {
                assert_eq!(a, b);
            }
            assert!(!got.to_string().contains("pw\""));
        }
        assert!(Error::KeystoreKdfParams("x".into()).to_string().contains("not acceptable"));
        let version =
            decrypt_keystore(&edit(&text, |v| v["version"] = json!(1)), "pw").unwrap_err();
        assert_eq!(
            version.to_string(),
            "keystore version `1` is not supported; only version 3 is supported"
        );
        assert_eq!(
            Error::KeystoreMac.to_string(),
            "wrong password or corrupted keystore (MAC mismatch)"
        );
    }

    #[test]
    fn capitalised_crypto_key_is_accepted() {
        let text = encrypt_keystore(&key(), "pw", FAST).unwrap();
        let renamed = edit(&text, |v| {
            let o = v.as_object_mut().unwrap();
            let c = o.remove("crypto").unwrap();
            o.insert("Crypto".into(), c);
        });
        assert_eq!(decrypt_keystore(&renamed, "pw").unwrap().address(), key().address());
    }

    #[test]
    fn rejects_memory_hungry_scrypt() {
        let err =
            encrypt_keystore(&key(), "pw", Kdf::Scrypt { n: 1 << 21, r: 8, p: 1 }).unwrap_err();
        assert!(err.to_string().contains("2048 MiB"), "{err}");
    }

    /// Decrypt `json`, insisting that it fails with `KeystoreKdfParams` well within a second:
    /// the limits must be enforced before scrypt allocates or PBKDF2 iterates.
    fn kdf_refused_fast(json: &str) -> String {
        let start = std::time::Instant::now();
        let err = decrypt_keystore(json, "pw").unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_millis(500), "slow: {err}");
        assert!(matches!(err, Error::KeystoreKdfParams(_)), "{err}");
        err.to_string()
    }

    fn scrypt_file(n: u64, r: u64, p: u64) -> String {
        let text = encrypt_keystore(&key(), "pw", FAST).unwrap();
        edit(&text, |v| {
            v["crypto"]["kdfparams"]["n"] = json!(n);
            v["crypto"]["kdfparams"]["r"] = json!(r);
            v["crypto"]["kdfparams"]["p"] = json!(p);
        })
    }

    #[test]
    fn rejects_huge_scrypt_p_without_allocating() {
        // Before the limit: "memory allocation of 137438953344 bytes failed", abort.
        let msg = kdf_refused_fast(&scrypt_file(2, 1, (1 << 30) - 1));
        assert!(msg.contains("`p=1073741823`") && msg.contains("limit of 16"), "{msg}");
        // Before the limit: ten seconds of scrypt (p=2^20 took ~45 minutes).
        let msg = kdf_refused_fast(&scrypt_file(1024, 8, 4096));
        assert!(msg.contains("`p=4096`") && msg.contains("limit of 16"), "{msg}");
        let msg = kdf_refused_fast(&scrypt_file(2, 1, 17));
        assert!(msg.contains("`p=17`"), "{msg}");
        assert!(Kdf::Scrypt { n: 2, r: 1, p: 16 }.check().is_ok());
        // The encrypt path (and so the Python binding) is refused before any derivation too.
        let err = Kdf::from_name("scrypt", 0, 2, 1, (1 << 30) - 1).unwrap_err();
        assert!(err.to_string().contains("limit of 16"), "{err}");
        let err = encrypt_keystore(&key(), "pw", Kdf::Scrypt { n: 2, r: 1, p: u32::MAX });
        assert!(matches!(err, Err(Error::KeystoreKdfParams(_))), "{err:?}");
    }

    #[test]
    fn rejects_huge_scrypt_r_times_p() {
        // r * p = 2^30 exactly; in u32 arithmetic (scrypt's own check) 2^32-1 * 16 wraps.
        let msg = kdf_refused_fast(&scrypt_file(2, 1 << 28, 4));
        assert!(msg.contains("`r * p` must be below 2^30"), "{msg}");
        let msg = kdf_refused_fast(&scrypt_file(2, u64::from(u32::MAX), 16));
        assert!(msg.contains("`r * p` must be below 2^30"), "{msg}");
        let err = Kdf::from_name("scrypt", 0, 2, i128::from(u32::MAX), 16).unwrap_err();
        assert!(err.to_string().contains("`r * p`"), "{err}");
        // r beyond u32 is a field error, not a truncation.
        let text = scrypt_file(2, 1 << 32, 1);
        let err = decrypt_keystore(&text, "pw").unwrap_err();
        assert!(
            matches!(err, Error::KeystoreInvalidField { ref field, .. } if field == "crypto.kdfparams.r"),
            "{err}"
        );
    }

    #[test]
    fn rejects_excessive_scrypt_work() {
        // 256 MiB of memory but 128 * n * r * p = 4 GiB of mixing.
        let msg = kdf_refused_fast(&scrypt_file(1 << 18, 8, 16));
        assert!(msg.contains("4096 MiB of work") && msg.contains("limit is 1024 MiB"), "{msg}");
        let msg = kdf_refused_fast(&scrypt_file(1 << 20, 8, 2));
        assert!(msg.contains("2048 MiB of work"), "{msg}");
        let err = Kdf::from_name("scrypt", 0, 1 << 18, 8, 16).unwrap_err();
        assert!(err.to_string().contains("of work"), "{err}");
        // Right at the limits, and what real keystores use, is accepted.
        for (n, r, p) in [
            (1 << 18, 8, 1),
            (1 << 18, 1, 8),
            (1 << 20, 8, 1),
            (1 << 18, 8, 4),
            (1 << 19, 1, 16),
            (2, 1 << 22, 1),
        ] {
            assert!(Kdf::Scrypt { n, r, p }.check().is_ok(), "n={n} r={r} p={p}");
        }
        assert!(Kdf::Scrypt { n: 1 << 18, r: 8, p: 5 }.check().is_err());
    }

    #[test]
    fn pbkdf2_iterations_are_capped_at_ten_million() {
        assert_eq!(MAX_PBKDF2_ITERATIONS, 10_000_000);
        let text = encrypt_keystore(&key(), "pw", Kdf::Pbkdf2 { c: 1000 }).unwrap();
        for c in [0u64, 10_000_001, 100_000_000, u64::from(u32::MAX)] {
            let msg = kdf_refused_fast(&edit(&text, |v| v["crypto"]["kdfparams"]["c"] = json!(c)));
            assert!(msg.contains(&format!("`c={c}`")) && msg.contains("10000000"), "{msg}");
        }
        assert!(Kdf::Pbkdf2 { c: 10_000_000 }.check().is_ok());
        assert!(Kdf::Pbkdf2 { c: 262_144 }.check().is_ok());
        assert!(Kdf::from_name("pbkdf2", 10_000_001, 0, 0, 0).is_err());
        assert!(Kdf::from_name("pbkdf2", -1, 0, 0, 0).is_err());
        assert!(Kdf::from_name("pbkdf2", i128::MAX, 0, 0, 0).is_err());
    }

    #[test]
    fn from_name_rejects_out_of_range_numbers() {
        for (n, r, p) in [(-1, 8, 1), (1 << 64, 8, 1), (1024, -8, 1), (1024, 8, -1), (1024, 8, 0)] {
            let err = Kdf::from_name("scrypt", 0, n, r, p).unwrap_err();
            assert!(matches!(err, Error::KeystoreKdfParams(_)), "{err}");
        }
        assert_eq!(Kdf::from_name("scrypt", 0, 1024, 8, 1).unwrap(), FAST);
    }

    /// Absurd kdfparams (wrong JSON types, negatives, floats, out-of-range integers) are errors,
    /// never panics, and are reported before any key derivation.
    #[test]
    fn absurd_kdfparams_are_errors_not_panics() {
        let scrypt = encrypt_keystore(&key(), "pw", FAST).unwrap();
        let pbkdf2 = encrypt_keystore(&key(), "pw", Kdf::Pbkdf2 { c: 1000 }).unwrap();
        let absurd = [
            json!(-1),
            json!(-1.0),
            json!(1.5),
            json!(1024.0),
            json!(1e300),
            json!(f64::MIN),
            json!("1024"),
            json!("0x400"),
            json!(null),
            json!(true),
            json!([1024]),
            json!({"n": 1024}),
            // 2^64 and 10^40 do not fit any Rust integer; serde_json reads them as floats.
            serde_json::from_str::<Value>("18446744073709551616").unwrap(),
            serde_json::from_str::<Value>("10000000000000000000000000000000000000000").unwrap(),
            json!(i64::MIN),
        ];
        for (text, fields) in [(&scrypt, &["n", "r", "p", "dklen"][..]), (&pbkdf2, &["c", "dklen"])]
        {
            for field in fields {
                for value in &absurd {
                    let json = edit(text, |v| v["crypto"]["kdfparams"][*field] = value.clone());
                    let start = std::time::Instant::now();
                    let err = decrypt_keystore(&json, "pw").unwrap_err();
                    assert!(start.elapsed() < std::time::Duration::from_millis(500));
                    assert!(
                        matches!(err, Error::KeystoreInvalidField { field: ref f, .. } if *f == format!("crypto.kdfparams.{field}")),
                        "{field}={value}: {err}"
                    );
                }
            }
        }
        // Integers of the right type but impossible values.
        for (field, value) in [
            ("n", 0),
            ("n", 1),
            ("n", 3),
            ("n", 1000),
            ("n", (1 << 63) + 1),
            ("n", 1 << 63),
            ("n", u64::MAX),
            ("r", 0),
            ("p", 0),
            ("p", u64::from(u32::MAX)),
        ] {
            kdf_refused_fast(&edit(&scrypt, |v| v["crypto"]["kdfparams"][field] = json!(value)));
        }
        for dklen in [0u64, 1, 31] {
            let json = edit(&scrypt, |v| v["crypto"]["kdfparams"]["dklen"] = json!(dklen));
            let err = decrypt_keystore(&json, "pw").unwrap_err();
            assert!(matches!(err, Error::KeystoreInvalidField { .. }), "{err}");
        }
        // A huge dklen is harmless: only the 32 bytes the cipher and MAC use are derived (the
        // first 32 bytes of scrypt/PBKDF2 output do not depend on dklen), as geth does.
        for dklen in [64u64, u64::MAX] {
            let json = edit(&pbkdf2, |v| v["crypto"]["kdfparams"]["dklen"] = json!(dklen));
            assert_eq!(decrypt_keystore(&json, "pw").unwrap().address(), key().address());
        }
        // Absurd values elsewhere in the file.
        for (path, value) in [
            (&["version"][..], json!(3.0)),
            (&["version"], json!("3")),
            (&["version"], json!(-3)),
            (&["crypto", "kdf"], json!(7)),
            (&["crypto", "kdfparams"], json!([])),
            (&["crypto", "kdfparams", "salt"], json!(12)),
            (&["crypto", "kdfparams", "salt"], json!("0xzz")),
            (&["crypto", "cipherparams", "iv"], json!(1.0)),
            (&["crypto", "ciphertext"], json!("")),
            (&["crypto", "ciphertext"], json!("00".repeat(33))),
            (&["crypto", "mac"], json!("00")),
            (&["address"], json!(0)),
            (&["address"], json!("é".repeat(100))),
        ] {
            let json = edit(&scrypt, |v| {
                let mut slot = v;
                for key in path {
                    slot = &mut slot[*key];
                }
                *slot = value.clone();
            });
            assert!(decrypt_keystore(&json, "pw").is_err(), "{path:?}={value}");
        }
        for text in ["", "null", "[]", "3", "\"x\"", &"[".repeat(100_000)] {
            assert!(matches!(decrypt_keystore(text, "pw"), Err(Error::KeystoreJson(_))));
        }
    }
}
