/**
 * The passthrough file system behind the FUSE mount, in plain Java.
 *
 * <p>Purpose: serve the regular files of a backing directory and mark the image's {@link
 * io.cbtfs.tracker.DirtyTracker} on every change. {@link io.cbtfs.fs.ImageFileSystem} is the
 * handler the FUSE callbacks call; {@link io.cbtfs.fs.TrackingWrites} holds every operation that
 * changes bytes or size, so the ordering rule lives in one place: the backing write first, then the
 * mark.
 *
 * <p>Critical path: read and write move bytes between the FUSE buffer and the backing file
 * descriptor with libc pread/pwrite on native memory; no Java-heap copy, no lock.
 *
 * <p>Thread safety: every class here is safe for the FUSE loop's many threads.
 *
 * <p>Errors are {@link java.io.IOException}s; {@link io.cbtfs.fs.ErrnoException} carries the errno
 * that {@code io.cbtfs.fs.FuseGuard} returns to the kernel.
 */
package io.cbtfs.fs;
