/**
 * The targets on this machine: a replica image and a backup archive, the receiver's too. Each is a
 * storage adapter behind one landing pipeline, {@link io.cbtfs.syncer.local.LocalDelivery}: the
 * whole delta is staged and verified as it arrives ({@link io.cbtfs.syncer.local.StagingFile}),
 * made durable, and only then installed (the commit point), applied and its generation acknowledged
 * (invariant 5). An interrupted apply is finished on the next use; an unverified staging file is
 * discarded. {@link io.cbtfs.syncer.local.ArchiveGc} prunes an archive under the same sync lock.
 */
package io.cbtfs.syncer.local;
