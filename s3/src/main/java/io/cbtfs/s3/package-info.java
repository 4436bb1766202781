/**
 * The {@code s3://} target: backups in S3-compatible object storage (AWS S3, Ceph RGW, MinIO),
 * deduplicated across generations and images, shared by many hosts. Depends on the syncer's delta
 * format and {@link io.cbtfs.syncer.Target}; nothing depends on it but the CLI, which finds it
 * through {@link io.cbtfs.syncer.local.TargetScheme}.
 *
 * <p>Layout under a store prefix (docs/FORMAT.md, "Object store"): immutable chunk objects named by
 * the SHA-256 of their uncompressed bytes, one manifest per image generation that maps every block
 * to a chunk (or zero), and lock objects that keep {@code gc} and syncs apart. A generation exists
 * once its manifest does, and its manifest is written after all its chunks.
 */
package io.cbtfs.s3;
