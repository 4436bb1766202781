package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.TargetScheme;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code cbtfs://HOST:PORT/NAME}, found by {@link io.cbtfs.syncer.local.Targets} through the
 * service loader like any other scheme, so the local targets do not depend on the network client.
 */
public final class RemoteScheme implements TargetScheme {
  static final String PREFIX = "cbtfs://";

  @Override
  public String prefix() {
    return PREFIX;
  }

  @Override
  public Target parse(String uri, Path cwd) {
    try {
      return RemoteTarget.parse(uri);
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read the token for " + uri + ": " + e.getMessage());
    }
  }

  @Override
  public String absolute(String uri, Path cwd) {
    parse(uri, cwd);
    // the mount that runs the sync does not see this process's environment
    String env = System.getenv("CBTFS_TOKEN_FILE");
    boolean hasFile = uri.contains("token-file=");
    return hasFile || env == null
        ? uri
        : uri + (uri.contains("?") ? "&" : "?") + "token-file=" + cwd.resolve(env);
  }
}
