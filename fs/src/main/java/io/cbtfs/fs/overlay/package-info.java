/**
 * A writable overlay over a read-only {@link io.cbtfs.fs.ServedFile}: copy-on-write at block
 * granularity into a local sparse file.
 *
 * <p>Purpose: boot a VM from a stored generation at once. {@link io.cbtfs.fs.overlay.OverlayFile}
 * reads a block from the overlay once it holds it ({@link io.cbtfs.fs.overlay.SavedBlocks}, a
 * bitmap saved word by word), else from the generation.
 *
 * <p>Critical path: a write into blocks the overlay holds is one positional write. The first write
 * into a block copies the rest of the block from the generation, makes the overlay's bytes durable,
 * and only then sets and saves the block's bit: the saved map never claims bytes a power loss could
 * take.
 *
 * <p>Thread safety: every class here is safe for the FUSE loop's many threads.
 */
package io.cbtfs.fs.overlay;
