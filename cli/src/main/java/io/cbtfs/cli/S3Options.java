package io.cbtfs.cli;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The object-store settings a command may need: folded into an {@code s3://} URI as query
 * parameters, so a sync that runs inside the mount gets them too. Credentials are never on the
 * command line: they come from the AWS SDK's standard chain (environment, {@code ~/.aws}, instance
 * roles), or a credentials file named by {@code AWS_SHARED_CREDENTIALS_FILE}.
 */
final class S3Options {
  @Option(
      names = "--s3-endpoint",
      paramLabel = "URL",
      description =
          "S3 API endpoint for s3:// targets, e.g. http://127.0.0.1:9000 for MinIO or a Ceph RGW "
              + "(implies path-style addressing). Default: AWS, or $AWS_ENDPOINT_URL.")
  String endpoint;

  @Option(
      names = "--s3-region",
      paramLabel = "REGION",
      description = "Region for s3:// targets (default: the SDK's chain, else us-east-1).")
  String region;

  @Mixin EncryptKeyOption key;

  /**
   * The target {@code uri} names, with these options, parsed against the working directory.
   *
   * @throws IllegalArgumentException for an unknown or malformed URI
   */
  TargetAddress address(String uri) {
    return TargetAddress.parse(apply(uri));
  }

  /** {@code uri} with the options added when it is an s3:// URI and does not set them itself. */
  String apply(String uri) {
    if (!uri.startsWith("s3://")) {
      return key.apply(uri); // refuses a key for a target it cannot encrypt
    }
    String out = key.apply(uri);
    // without the option, S3Location takes the SDK's own variables ($AWS_ENDPOINT_URL)
    if (endpoint != null && !endpoint.isBlank() && !uri.contains("endpoint=")) {
      out += (out.contains("?") ? "&" : "?") + "endpoint=" + endpoint;
    }
    if (region != null && !uri.contains("region=")) {
      out += (out.contains("?") ? "&" : "?") + "region=" + region;
    }
    return out;
  }
}
