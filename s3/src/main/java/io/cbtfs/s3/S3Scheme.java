package io.cbtfs.s3;

import io.cbtfs.syncer.target.Target;
import io.cbtfs.syncer.target.TargetScheme;
import java.nio.file.Path;

/** Makes {@code s3://} URIs known to {@link io.cbtfs.syncer.target.Targets}. */
public final class S3Scheme implements TargetScheme {
  @Override
  public String prefix() {
    return "s3://";
  }

  @Override
  public Target parse(String uri, Path cwd) {
    return new S3Target(S3Location.parse(uri, true));
  }

  /**
   * Folds this process's AWS settings into the URI (endpoint, region, profile, credentials file),
   * for a sync that runs inside the mount, whose environment is not the caller's. Secrets are never
   * folded in: only the path of the file that holds them.
   */
  @Override
  public String absolute(String uri, Path cwd) {
    S3Location l = S3Location.parse(uri, true);
    String endpoint = environmentEndpoint();
    String region = env("AWS_REGION", env("AWS_DEFAULT_REGION", null));
    String file = env("AWS_SHARED_CREDENTIALS_FILE", null);
    boolean endpointFromEnvironment = l.endpoint() == null && endpoint != null;
    S3Location out =
        new S3Location(
            l.bucket(),
            l.store(),
            l.image(),
            endpointFromEnvironment ? java.net.URI.create(endpoint) : l.endpoint(),
            l.region() != null ? l.region() : region,
            endpointFromEnvironment || l.pathStyle(),
            l.profile() != null ? l.profile() : env("AWS_PROFILE", null),
            l.credentialsFile() != null
                ? cwd.resolve(l.credentialsFile())
                : file == null ? null : cwd.resolve(file));
    return out.toUri();
  }

  /** The S3 endpoint the AWS SDK's own variables name, or null. */
  public static String environmentEndpoint() {
    return env("AWS_ENDPOINT_URL_S3", env("AWS_ENDPOINT_URL", null));
  }

  private static String env(String name, String otherwise) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? otherwise : v;
  }
}
