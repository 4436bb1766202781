/**
 * Where a sync ships to. Each {@link io.cbtfs.syncer.Target} receives a whole delta into a staging
 * area, verifies it, makes it durable, and only then applies it and acknowledges its generation
 * (invariant 5). An interrupted apply is finished on the next use; an unverified staging area is
 * discarded.
 */
package io.cbtfs.syncer.target;
