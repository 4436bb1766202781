package io.cbtfs.syncer.local;

import io.cbtfs.syncer.Target;
import java.nio.file.Path;

/**
 * A target kind that lives outside this package, found with {@link java.util.ServiceLoader}: the S3
 * target (the syncer never depends on an object-store SDK) and the remote one (the local targets
 * never depend on the network client).
 */
public interface TargetScheme {
  /** The URI prefix it handles, e.g. {@code "s3://"}. */
  String prefix();

  /**
   * @throws IllegalArgumentException for a malformed URI
   */
  Target parse(String uri, Path cwd);

  /**
   * The URI a sync that runs in another process (the mount) must be given: relative paths and the
   * settings this process takes from its environment made explicit.
   */
  String absolute(String uri, Path cwd);
}
