/**
 * Client-side encryption (docs/FORMAT.md, "Encryption"): a 256-bit {@link
 * io.cbtfs.syncer.crypto.EncryptionKey} kept in a {@link io.cbtfs.syncer.crypto.KeyFile}, from
 * which HKDF-SHA256 derives one subkey per use. {@link io.cbtfs.syncer.crypto.ObjectSeal} is the
 * one seam the formats call (AES-256-GCM, a random 96-bit nonce per sealed object or record, the
 * object's identity as associated data); {@link io.cbtfs.syncer.crypto.ChunkIds} names chunks by an
 * HMAC of their bytes, so deduplication works under one key and never across keys. JDK primitives
 * only; every class here is thread-safe.
 */
package io.cbtfs.syncer.crypto;
