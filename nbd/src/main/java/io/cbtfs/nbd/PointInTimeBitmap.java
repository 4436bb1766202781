package io.cbtfs.nbd;

import io.cbtfs.tracker.DirtySet;

/**
 * The dirty bitmap of a point-in-time export (a pull backup): fixed at its drain, offered as {@code
 * qemu:dirty-bitmap:cbtfs} and {@code qemu:dirty-bitmap:NAME}.
 *
 * @param name the consumer's name for it (the backup's cursor name, without the {@code nbd:})
 * @param dirty the blocks the consumer lacks at the drain
 */
public record PointInTimeBitmap(String name, DirtySet dirty) {}
