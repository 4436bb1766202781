package io.cbtfs.s3;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.profiles.ProfileFile;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.Delete;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The object operations cbtfs needs, on the AWS SDK's synchronous client: retries with backoff on
 * throttling, 5xx and dropped connections (the SDK's standard strategy), timeouts on every call,
 * and errors that name the bucket, the key and the cause. Thread-safe.
 */
final class S3Store implements AutoCloseable {
  /** Parallel requests: uploads and downloads are latency-bound, not CPU-bound. */
  static final int CONNECTIONS = 16;

  private final S3Location location;
  private final S3Client client;
  private volatile boolean batchDeletes = true;

  S3Store(S3Location location) {
    this.location = location;
    var b =
        S3Client.builder()
            .region(Region.of(region(location)))
            .credentialsProvider(credentials(location))
            .forcePathStyle(location.pathStyle())
            // Chunks carry their own SHA-256 (their name); the SDK's default trailing CRCs are
            // not understood by every S3-compatible server (S3Proxy, older Ceph RGW).
            .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
            .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
            .httpClientBuilder(
                ApacheHttpClient.builder()
                    .maxConnections(CONNECTIONS)
                    .connectionTimeout(Duration.ofSeconds(10))
                    .socketTimeout(Duration.ofSeconds(60)))
            .overrideConfiguration(
                o ->
                    o.apiCallAttemptTimeout(Duration.ofMinutes(2))
                        .apiCallTimeout(Duration.ofMinutes(10))
                        .retryStrategy(
                            AwsRetryStrategy.standardRetryStrategy().toBuilder()
                                .maxAttempts(6)
                                .build()));
    if (location.endpoint() != null) {
      b.endpointOverride(location.endpoint());
    }
    this.client = b.build();
  }

  private static String region(S3Location l) {
    if (l.region() != null) {
      return l.region();
    }
    String env = System.getenv("AWS_REGION");
    if (env != null && !env.isBlank()) {
      return env;
    }
    if (l.endpoint() != null) {
      // MinIO, Ceph RGW and S3Proxy accept any region; the SDK's chain would ask the EC2
      // metadata service first, which costs a timeout on every other machine
      return "us-east-1";
    }
    try {
      return new DefaultAwsRegionProviderChain().getRegion().id();
    } catch (SdkClientException e) {
      return "us-east-1"; // MinIO, Ceph RGW and S3Proxy accept any region
    }
  }

  private static AwsCredentialsProvider credentials(S3Location l) {
    if (l.credentialsFile() == null && l.profile() == null) {
      return DefaultCredentialsProvider.builder().build();
    }
    var p = ProfileCredentialsProvider.builder();
    if (l.credentialsFile() != null) {
      p.profileFile(
          ProfileFile.builder()
              .content(l.credentialsFile())
              .type(ProfileFile.Type.CREDENTIALS)
              .build());
    }
    return p.profileName(l.profile() == null ? "default" : l.profile()).build();
  }

  S3Location location() {
    return location;
  }

  /** Where object {@code key} is: {@code s3://BUCKET/KEY} (a key holds its store's prefix). */
  String where(String key) {
    return "s3://" + location.bucket() + "/" + key;
  }

  /** Where image {@code name} of this store is: {@code s3://BUCKET/STORE/NAME}. */
  String whereImage(String name) {
    return where(location.store() + name);
  }

  /**
   * The object's bytes, or null if there is no such key.
   *
   * @throws IOException if it is larger than {@code maxBytes} (a damaged or hostile store)
   */
  byte[] get(String key, long maxBytes) throws IOException {
    try (var in = client.getObject(r -> r.bucket(location.bucket()).key(key))) {
      Long length = in.response().contentLength();
      if (length != null && length > maxBytes) {
        throw new IOException(
            where(key) + " is " + length + " bytes, more than the " + maxBytes + " expected");
      }
      byte[] b = in.readNBytes((int) Math.min(maxBytes + 1, Integer.MAX_VALUE - 8));
      if (b.length > maxBytes) {
        throw new IOException(where(key) + " is larger than the " + maxBytes + " bytes expected");
      }
      return b;
    } catch (NoSuchKeyException e) {
      return null;
    } catch (SdkException e) {
      throw failure("read", key, e);
    }
  }

  /** The object's metadata, or null if there is no such key. */
  HeadObjectResponse head(String key) throws IOException {
    try {
      return client.headObject(r -> r.bucket(location.bucket()).key(key));
    } catch (NoSuchKeyException e) {
      return null;
    } catch (S3Exception e) {
      if (e.statusCode() == 404) {
        return null;
      }
      throw failure("look up", key, e);
    } catch (SdkException e) {
      throw failure("look up", key, e);
    }
  }

  void put(String key, byte[] data, int length, Map<String, String> metadata, Duration within)
      throws IOException {
    put(key, () -> new java.io.ByteArrayInputStream(data, 0, length), length, metadata, within);
  }

  /**
   * A PUT of {@code length} bytes from {@code content} (opened again for a retry: no copy of the
   * bytes is made). It gives up, retries included, after {@code within} when that is set: a write
   * that relies on a lock must not land after the lock's lease ran out.
   */
  void put(
      String key,
      software.amazon.awssdk.http.ContentStreamProvider content,
      long length,
      Map<String, String> metadata,
      Duration within)
      throws IOException {
    try {
      client.putObject(
          r -> {
            r.bucket(location.bucket()).key(key).contentLength(length).metadata(metadata);
            if (within != null) {
              r.overrideConfiguration(o -> o.apiCallTimeout(within));
            }
          },
          RequestBody.fromContentProvider(content, length, "application/octet-stream"));
    } catch (SdkException e) {
      throw failure("write", key, e);
    }
  }

  void delete(String key) throws IOException {
    delete(key, null);
  }

  private void delete(String key, Duration within) throws IOException {
    try {
      client.deleteObject(
          r -> {
            r.bucket(location.bucket()).key(key);
            if (within != null) {
              r.overrideConfiguration(o -> o.apiCallTimeout(within));
            }
          });
    } catch (SdkException e) {
      throw failure("delete", key, e);
    }
  }

  /**
   * Deletes {@code keys} in batches of 1,000 (one request each), or one by one on a server without
   * batch deletes (S3Proxy refuses the checksum header the SDK now sends with them).
   */
  void deleteAll(List<String> keys) throws IOException {
    deleteAll(keys, () -> null);
  }

  /**
   * {@link #deleteAll(List)}, each request bounded by what {@code lease} says is left of the lock
   * it relies on (asked again before every request).
   */
  void deleteAll(List<String> keys, LeaseLeft lease) throws IOException {
    for (int i = 0; i < keys.size(); i += 1000) {
      List<String> part = keys.subList(i, Math.min(keys.size(), i + 1000));
      if (!batchDeletes) {
        for (String k : part) {
          delete(k, lease.left());
        }
        continue;
      }
      Duration within = lease.left();
      List<ObjectIdentifier> batch =
          part.stream().map(k -> ObjectIdentifier.builder().key(k).build()).toList();
      DeleteObjectsResponse r;
      try {
        r =
            client.deleteObjects(
                d -> {
                  d.bucket(location.bucket())
                      .delete(Delete.builder().objects(batch).quiet(true).build());
                  if (within != null) {
                    d.overrideConfiguration(o -> o.apiCallTimeout(within));
                  }
                });
      } catch (S3Exception e) {
        if (e.statusCode() == 501) {
          batchDeletes = false;
          i -= 1000; // this batch again, one by one
          continue;
        }
        throw failure("delete", part.get(0) + " and the rest of a batch", e);
      } catch (SdkException e) {
        throw failure("delete", part.get(0) + " and the rest of a batch", e);
      }
      if (r.hasErrors() && !r.errors().isEmpty()) {
        var err = r.errors().get(0);
        throw new IOException(
            "cannot delete " + where(err.key()) + ": " + err.code() + " " + err.message());
      }
    }
  }

  /** What is left of a lock's lease; null for no bound. */
  @FunctionalInterface
  interface LeaseLeft {
    Duration left() throws IOException;
  }

  /** The manifests of {@code image}, by generation (keys that are not manifests left out). */
  TreeMap<Long, S3Object> manifests(String image) throws IOException {
    TreeMap<Long, S3Object> out = new TreeMap<>();
    for (S3Object o : list(location.manifestsPrefix(image))) {
      long g = location.manifestGeneration(image, o.key());
      if (g >= 0) {
        out.put(g, o);
      }
    }
    return out;
  }

  /** Every object under {@code prefix}, with size and time. */
  List<S3Object> list(String prefix) throws IOException {
    try {
      List<S3Object> out = new ArrayList<>();
      client
          .listObjectsV2Paginator(r -> r.bucket(location.bucket()).prefix(prefix))
          .contents()
          .forEach(out::add);
      return out;
    } catch (SdkException e) {
      throw failure("list", prefix, e);
    }
  }

  /** The names one level below {@code prefix} (as with a '/' delimiter), without the prefix. */
  List<String> children(String prefix) throws IOException {
    try {
      List<String> out = new ArrayList<>();
      client
          .listObjectsV2Paginator(r -> r.bucket(location.bucket()).prefix(prefix).delimiter("/"))
          .commonPrefixes()
          .stream()
          .map(CommonPrefix::prefix)
          .forEach(p -> out.add(p.substring(prefix.length(), p.length() - 1)));
      return out;
    } catch (SdkException e) {
      throw failure("list", prefix, e);
    }
  }

  /**
   * An error that names the object and the cause: the S3 error code and message, an unreachable
   * endpoint, missing credentials.
   */
  IOException failure(String action, String key, SdkException e) {
    String cause;
    if (e instanceof S3Exception s3 && s3.awsErrorDetails() != null) {
      cause =
          s3.statusCode()
              + " "
              + s3.awsErrorDetails().errorCode()
              + (s3.awsErrorDetails().errorMessage() == null
                  ? ""
                  : " (" + s3.awsErrorDetails().errorMessage() + ")");
    } else {
      cause = clientCause(e);
    }
    return new IOException("cannot " + action + " " + where(key) + ": " + cause, e);
  }

  /** The root of a client-side failure, in one short phrase. */
  private String clientCause(SdkException e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String endpoint =
        location.endpoint() == null
            ? "AWS S3 (no --s3-endpoint given)"
            : location.endpoint().toString();
    if (root instanceof java.net.UnknownHostException) {
      return "cannot resolve " + root.getMessage() + " for " + endpoint;
    }
    if (root instanceof java.net.ConnectException
        || root instanceof java.net.NoRouteToHostException) {
      return "cannot connect to " + endpoint + " (" + root.getMessage() + ")";
    }
    String m = e.getMessage() == null ? root.toString() : e.getMessage();
    if (m.contains("Unable to load credentials")) {
      return "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials "
          + "or AWS_SHARED_CREDENTIALS_FILE for the process that runs the sync (the mount, when "
          + "one serves the image)";
    }
    int dot = m.indexOf(". ");
    return dot > 0 ? m.substring(0, dot) : m;
  }

  @Override
  public void close() {
    client.close();
  }
}
