/**
 * Remote replication: {@link io.cbtfs.syncer.remote.Receiver} keeps replicas and archives under a
 * root directory for authenticated senders; {@link io.cbtfs.syncer.remote.RemoteTarget} is the
 * {@code cbtfs://HOST:PORT/NAME} target that ships to it; {@link
 * io.cbtfs.syncer.remote.RemoteArchive} reads a receiver's archive ({@code ?archive}) in place or
 * restores it, over read sessions that serve the archive's files and check nothing: the reader
 * checks every byte. The wire protocol is in docs/FORMAT.md.
 *
 * <p>Security: TLS 1.3 with a pinned server certificate (or plain TCP only with an explicit
 * insecure flag on both sides); a shared token proven by HMAC over a fresh server nonce, never
 * sent; names confined to the root; bounded frames, connections and idle time. No byte of an
 * unauthenticated peer reaches a target.
 */
package io.cbtfs.syncer.remote;
