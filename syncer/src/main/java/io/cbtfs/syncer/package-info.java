/**
 * The sync pipeline: drain a tracker, read the dirty runs, compress, checksum, ship to a target,
 * commit. Depends on the tracker, never on the FUSE layer.
 *
 * <p>Purpose: {@link io.cbtfs.syncer.Syncer} turns a {@link io.cbtfs.tracker.Drain} into a delta
 * stream ({@link io.cbtfs.syncer.DeltaWriter}, format in docs/FORMAT.md) delivered to a {@link
 * io.cbtfs.syncer.Target}; the drain is committed only after the target made the delta durable and
 * acknowledged it, and merged back on any failure.
 *
 * <p>Critical path: reads are positional and run-sized; compression runs on all cores with a
 * bounded number of chunks in flight, so memory does not grow with the image or the dirty set.
 *
 * <p>Bad input ({@link io.cbtfs.syncer.CorruptDeltaException}) is detected before any byte of a
 * target changes: a receiver verifies a whole delta before it applies it.
 */
package io.cbtfs.syncer;
