//! Keys and what is done with them: keyed hashes of subject identifiers, content encryption
//! at rest, and checkpoint signatures.

use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::StoreError;

/// Format byte at the start of every ciphertext, so the layout can change later without
/// guessing.
const CT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// What a ciphertext holds; bound into the AAD so a blob of one kind cannot be passed off as
/// another kind of the same exchange (a request as a response, the decision record's reasons
/// as the request), or as any blob of another exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blob {
    /// The request (`exchanges.request_ct`), purged with the content.
    Request,
    /// The response content (`responses.content_ct`).
    Response,
    /// The decisions with their reasons (`exchanges.decisions_ct`), part of the decision
    /// record.
    Decisions,
    /// The request's reasons as the decision record keeps them (`exchanges.reasons_ct`).
    Reasons,
}

impl Blob {
    #[cfg(test)]
    pub(crate) const ALL: [Blob; 4] = [
        Blob::Request,
        Blob::Response,
        Blob::Decisions,
        Blob::Reasons,
    ];

    fn tag(self) -> &'static [u8] {
        match self {
            Blob::Request => b"request",
            Blob::Response => b"response",
            Blob::Decisions => b"decisions",
            Blob::Reasons => b"reasons",
        }
    }
}

pub(crate) struct Keys {
    /// Keyed once; cloned per hash (cheaper than re-keying).
    subject_mac: Hmac<Sha256>,
    cipher: Aes256Gcm,
    signing_key: SigningKey,
    verifying_key: VerifyingKey,
    key_id: String,
}

impl Keys {
    pub(crate) fn new(audit_key: [u8; 32], content_key: [u8; 32], signing_key: SigningKey) -> Self {
        let verifying_key = signing_key.verifying_key();
        // HMAC zero-pads keys shorter than the hash's block size, so keying with the padded
        // block is the same HMAC and cannot fail, unlike `new_from_slice`.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&audit_key);
        Self {
            subject_mac: <Hmac<Sha256> as KeyInit>::new(&block.into()),
            cipher: Aes256Gcm::new(&content_key.into()),
            key_id: key_id(&verifying_key),
            signing_key,
            verifying_key,
        }
    }

    /// HMAC-SHA256 of `canonical`, lowercase hex.
    pub(crate) fn subject_hash(&self, canonical: &str) -> String {
        let mut mac = self.subject_mac.clone();
        mac.update(canonical.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// `[version][96-bit random nonce][ciphertext + tag]`, AAD = exchange id bytes || kind.
    pub(crate) fn encrypt(
        &self,
        exchange: Uuid,
        kind: Blob,
        plaintext: &[u8],
    ) -> crate::Result<Vec<u8>> {
        // Fallible rather than the panicking `generate`: this runs on request paths.
        let nonce = Nonce::<Aes256Gcm>::try_generate()
            .map_err(|_| StoreError::Database("no randomness for a content nonce".into()))?;
        let aad = aad(exchange, kind);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Database("content encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(CT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub(crate) fn decrypt(
        &self,
        exchange: Uuid,
        kind: Blob,
        blob: &[u8],
    ) -> crate::Result<Vec<u8>> {
        // A blob that does not decrypt is either corruption or tampering; either way the
        // server must not show details, so it is reported like any storage fault.
        let bad = || {
            StoreError::Database(format!(
                "stored {kind:?} content of {exchange} does not decrypt"
            ))
        };
        if blob.len() < 1 + NONCE_LEN || blob[0] != CT_V1 {
            return Err(bad());
        }
        let nonce = Nonce::<Aes256Gcm>::try_from(&blob[1..1 + NONCE_LEN]).map_err(|_| bad())?;
        let aad = aad(exchange, kind);
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &blob[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| bad())
    }

    pub(crate) fn sign_checkpoint(&self, sequence: u64, head: &[u8; 32]) -> Vec<u8> {
        let msg = crate::canonical::checkpoint_message(sequence, head);
        self.signing_key.sign(&msg).to_bytes().to_vec()
    }

    pub(crate) fn verify_checkpoint(
        &self,
        sequence: u64,
        head: &[u8; 32],
        signature: &[u8],
    ) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        let msg = crate::canonical::checkpoint_message(sequence, head);
        self.verifying_key.verify(&msg, &sig).is_ok()
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }
}

fn aad(exchange: Uuid, kind: Blob) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + 9);
    aad.extend_from_slice(exchange.as_bytes());
    aad.extend_from_slice(kind.tag());
    aad
}

/// Identifies the signing key in checkpoint rows: the first 16 hex digits of the SHA-256 of
/// the 32-byte Ed25519 public key.
pub(crate) fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..8])
}

/// SHA-256, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Free text as the permanent log records it: the aggregate's digest, one definition.
pub(crate) use accord_domain::exchange::text_digest;

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new([1; 32], [2; 32], SigningKey::from_bytes(&[3; 32]))
    }

    #[test]
    fn ciphertext_is_bound_to_exchange_and_kind() {
        let k = keys();
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let ct = k.encrypt(a, Blob::Response, b"secret").unwrap();
        assert_eq!(k.decrypt(a, Blob::Response, &ct).unwrap(), b"secret");
        assert!(k.decrypt(b, Blob::Response, &ct).is_err());
        assert!(k.decrypt(a, Blob::Request, &ct).is_err());
        let ct2 = k.encrypt(a, Blob::Response, b"secret").unwrap();
        assert_ne!(ct, ct2, "nonces must differ");
    }

    #[test]
    fn no_kind_of_blob_passes_for_another() {
        let k = keys();
        let a = Uuid::from_u128(1);
        for kind in Blob::ALL {
            let ct = k.encrypt(a, kind, b"[]").unwrap();
            for other in Blob::ALL {
                assert_eq!(
                    k.decrypt(a, other, &ct).is_ok(),
                    kind == other,
                    "{kind:?} as {other:?}"
                );
            }
        }
    }

    #[test]
    fn subject_hash_is_standard_hmac_sha256() {
        let k = keys();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1; 32]).unwrap();
        mac.update(b"nhs_number:9434765919");
        assert_eq!(
            k.subject_hash("nhs_number:9434765919"),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn checkpoint_signatures_verify_and_forgeries_do_not() {
        let k = keys();
        let sig = k.sign_checkpoint(7, &[9; 32]);
        assert!(k.verify_checkpoint(7, &[9; 32], &sig));
        assert!(!k.verify_checkpoint(8, &[9; 32], &sig));
        assert!(!k.verify_checkpoint(7, &[8; 32], &sig));
        assert!(!k.verify_checkpoint(7, &[9; 32], &[0; 64]));
    }
}
