package io.cbtfs.s3;

import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.TargetScheme;
import java.nio.file.Path;

/** Makes {@code s3://} URIs known to {@link io.cbtfs.syncer.local.Targets}. */
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
    String region = env("AWS_REGION", env("AWS_DEFAULT_REGION", null));
    String file = env("AWS_SHARED_CREDENTIALS_FILE", null);
    S3Location out =
        new S3Location(
            l.bucket(),
            l.store(),
            l.image(),
            l.endpoint(), // the URI's, else this process's $AWS_ENDPOINT_URL (S3Location.parse)
            l.region() != null ? l.region() : region,
            l.pathStyle(),
            l.profile() != null ? l.profile() : env("AWS_PROFILE", null),
            l.credentialsFile() != null
                ? cwd.resolve(l.credentialsFile())
                : file == null ? null : cwd.resolve(file),
            l.encryptKey() == null ? null : cwd.resolve(l.encryptKey()));
    return out.toUri();
  }

  static String env(String name, String otherwise) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? otherwise : v;
  }
}
