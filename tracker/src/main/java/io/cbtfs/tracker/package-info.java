/**
 * The dirty set of one image: which blocks changed since the last committed sync.
 *
 * <p>Purpose: {@link io.cbtfs.tracker.DirtyTracker} records changes with {@code mark(byteOffset,
 * byteLength)} on the FUSE write path and hands them to a sync as a {@link
 * io.cbtfs.tracker.DirtySet} through a {@link io.cbtfs.tracker.Drain} (the generation swap).
 *
 * <p>Critical path: {@code DirtyTracker.mark} runs on every guest write. It takes no lock and does
 * no allocation; an already dirty block costs one plain read of a word.
 *
 * <p>Thread safety: {@code DirtyTracker} is safe for any number of concurrent markers and one drain
 * at a time. {@code DirtySet} and {@code BlockGeometry} are immutable.
 *
 * <p>This module does no I/O of image data and knows nothing of FUSE.
 */
package io.cbtfs.tracker;
