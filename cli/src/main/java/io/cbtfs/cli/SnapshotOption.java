package io.cbtfs.cli;

import io.cbtfs.syncer.FleeceLimit;

/**
 * Whether a sync in a running mount is point-in-time (the default) and how much its fleece may
 * hold; {@code --no-snapshot} reads each block as it is when read.
 */
record SnapshotOption(boolean on, FleeceLimit fleeceLimit) {
  static final SnapshotOption DEFAULT = new SnapshotOption(true, FleeceLimit.DEFAULT);
  static final SnapshotOption OFF = new SnapshotOption(false, FleeceLimit.DEFAULT);
}
