/**
 * The sync pipeline: drain a tracker, read the dirty runs, compress, checksum, ship to a target,
 * commit. Depends on the tracker, never on the FUSE layer.
 */
package io.cbtfs.syncer;
