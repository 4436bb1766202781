/**
 * An NBD server over the images a mount serves: the fixed newstyle handshake ({@link
 * io.cbtfs.nbd.NbdSession}), structured replies with holes, and block status for {@code
 * base:allocation} and the tracking's dirty sets as {@code qemu:dirty-bitmap:*} contexts ({@link
 * io.cbtfs.nbd.MetaContexts}). The images come through the {@link io.cbtfs.nbd.ExportCatalog} port,
 * which the mount implements with its own file system, so a write over NBD is tracked exactly as a
 * write through FUSE. An export may be point-in-time ({@link
 * io.cbtfs.nbd.ExportedImage#pointInTime}, a pull backup's): read-only, with one fixed dirty
 * bitmap.
 *
 * <p>Bad clients are refused at the parsers ({@link io.cbtfs.nbd.ClientOption}, {@link
 * io.cbtfs.nbd.OptionPayload}, {@link io.cbtfs.nbd.Request}, {@link io.cbtfs.nbd.RequestCheck}):
 * every length is checked before anything is allocated, and any bytes give a value or an {@link
 * io.cbtfs.nbd.NbdProtocolException}. A session is one thread; sessions share nothing but the
 * catalog.
 */
package io.cbtfs.nbd;
