/**
 * The dirty set of one image: which blocks changed since the last committed sync, its generations,
 * its saved state and crash recovery.
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
 * <p>State: {@link io.cbtfs.tracker.TrackerStore} is the registry of the images a mount serves;
 * each is loaded from its {@link io.cbtfs.tracker.StateFiles} through {@link
 * io.cbtfs.tracker.StateRecovery} (a pure function of what was saved) and served as a {@link
 * io.cbtfs.tracker.TrackedImage}, which alone saves its state: at a sync's start ({@code
 * beginSync}), at its commit ({@code commit}), before a bulk write, and when its activity log
 * evicts.
 *
 * <p>Lock order, outermost first: the {@code TrackerStore} (load, rename, remove, close), an
 * image's {@code ActivityLog} lock (a slot write, an eviction's save), the {@code TrackedImage} (a
 * save; detaching), the {@code DirtyTracker}'s drain lock (a snapshot, a drain's start and end).
 * Nothing takes an outer one while holding an inner one; the write path's fast path takes none. A
 * consistency group ({@link io.cbtfs.tracker.GroupDrain}) holds several images' monitors at once:
 * only under its one lock of all groups, taken in the group's order, none awaited with a gate shut.
 *
 * <p>Point-in-time syncs: while one runs, a write first passes its {@link
 * io.cbtfs.tracker.ToReadSet} (one volatile read when none runs), which copies a pending block's
 * old bytes through a {@link io.cbtfs.tracker.BlockSaver} (the syncer's fleece: the I/O is not this
 * module's) under the block's stripe lock. The stripes are leaves: a writer holds one, the sync's
 * reader the stripes of one record (ascending), and neither takes any other lock meanwhile. A write
 * that starts during the drain waits at its {@code DrainGate} holding no lock.
 *
 * <p>This module does no I/O of image data and knows nothing of FUSE.
 */
package io.cbtfs.tracker;
