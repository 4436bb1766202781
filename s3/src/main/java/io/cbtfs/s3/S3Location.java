package io.cbtfs.s3;

import java.net.URI;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A parsed {@code s3://BUCKET/[STORE/]IMAGE[?k=v&...]}: the last path segment names the image, what
 * comes before it the store (the key prefix that images share chunks under). For {@code ls} and
 * {@code gc} the whole path is the store. Query keys: {@code endpoint}, {@code region}, {@code
 * path-style}, {@code profile}, {@code credentials-file}, {@code encrypt-key} (the path of a key
 * file: chunks and manifests are sealed with it; it is no part of the target's name).
 *
 * @param store the key prefix of the store: empty or ending with a slash
 * @param image the image name, or null for a store-only location
 */
public record S3Location(
    String bucket,
    String store,
    String image,
    URI endpoint,
    String region,
    boolean pathStyle,
    String profile,
    Path credentialsFile,
    Path encryptKey) {

  private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
  private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  private static final java.util.Set<String> RESERVED =
      java.util.Set.of("chunks", "images", "locks");
  static final String USAGE = "s3://BUCKET/[STORE/]IMAGE[?endpoint=URL&region=R]";

  /**
   * @param withImage whether the last segment names an image (sync, restore, verify) or the path is
   *     a store (ls, gc)
   * @throws IllegalArgumentException naming what is wrong
   */
  public static S3Location parse(String uri, boolean withImage) {
    if (!uri.startsWith("s3://")) {
      throw new IllegalArgumentException("not an s3:// URI: " + uri);
    }
    String rest = uri.substring("s3://".length());
    Map<String, String> query = new LinkedHashMap<>();
    int q = rest.indexOf('?');
    if (q >= 0) {
      for (String kv : rest.substring(q + 1).split("&")) {
        int eq = kv.indexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException("bad query parameter '" + kv + "' in " + uri);
        }
        query.put(kv.substring(0, eq), kv.substring(eq + 1));
      }
      rest = rest.substring(0, q);
    }
    String[] parts = rest.split("/", -1);
    String bucket = parts[0];
    if (!BUCKET.matcher(bucket).matches()) {
      throw new IllegalArgumentException(
          "bad bucket name '" + bucket + "' in " + uri + " (use " + USAGE + ")");
    }
    int segments = parts.length - 1;
    if (segments > 0 && parts[segments].isEmpty()) {
      segments--; // a trailing slash
    }
    StringBuilder store = new StringBuilder();
    String image = null;
    for (int i = 1; i <= segments; i++) {
      String s = parts[i];
      if (!SEGMENT.matcher(s).matches() || s.equals("..")) {
        throw new IllegalArgumentException(
            "bad name '" + s + "' in " + uri + ": use letters, digits, '.', '_' and '-'");
      }
      if (RESERVED.contains(s)) { // a store inside another's layout would be swept by it
        throw new IllegalArgumentException(
            "'" + s + "' in " + uri + " is reserved (chunks, images, locks): choose another name");
      }
      if (withImage && i == segments) {
        image = s;
      } else {
        store.append(s).append('/');
      }
    }
    if (withImage && image == null) {
      throw new IllegalArgumentException(uri + " names no image: use " + USAGE);
    }
    URI endpoint = null;
    // the URI's endpoint, else the one the AWS SDK's own variables name
    String e = query.remove("endpoint");
    if (e == null) {
      e = S3Scheme.env("AWS_ENDPOINT_URL_S3", S3Scheme.env("AWS_ENDPOINT_URL", null));
    }
    if (e != null) {
      endpoint = URI.create(e);
      if (endpoint.getScheme() == null || endpoint.getHost() == null) {
        throw new IllegalArgumentException("bad endpoint '" + e + "': use http(s)://HOST[:PORT]");
      }
    }
    String region = query.remove("region");
    String ps = query.remove("path-style");
    boolean pathStyle = ps == null ? endpoint != null : Boolean.parseBoolean(ps);
    String profile = query.remove("profile");
    String cf = query.remove("credentials-file");
    String key = query.remove("encrypt-key");
    if (!query.isEmpty()) {
      throw new IllegalArgumentException(
          "unknown parameter "
              + query.keySet()
              + " in "
              + uri
              + " (known: endpoint, region, "
              + "path-style, profile, credentials-file, encrypt-key)");
    }
    return new S3Location(
        bucket,
        store.toString(),
        image,
        endpoint,
        region,
        pathStyle,
        profile,
        cf == null ? null : Path.of(cf),
        key == null || key.isEmpty() ? null : Path.of(key));
  }

  /** The same location as the store that holds it (for the image's neighbours). */
  public S3Location asStore() {
    return withImage(null);
  }

  /** Image {@code name} of the same store, with the same settings. */
  public S3Location withImage(String name) {
    return new S3Location(
        bucket, store, name, endpoint, region, pathStyle, profile, credentialsFile, encryptKey);
  }

  /** {@code s3://bucket/store/image}, with the endpoint when one is set (it tells stores apart). */
  public String describe() {
    String s = "s3://" + bucket + "/" + store + (image == null ? "" : image);
    return endpoint == null ? s : s + "?endpoint=" + endpoint;
  }

  /** The full URI, every setting included (what a mount that runs the sync needs). */
  public String toUri() {
    StringBuilder s = new StringBuilder("s3://" + bucket + "/" + store);
    if (image != null) {
      s.append(image);
    }
    String sep = "?";
    for (var kv :
        new String[][] {
          {"endpoint", endpoint == null ? null : endpoint.toString()},
          {"region", region},
          {"path-style", endpoint != null && !pathStyle ? "false" : null},
          {"profile", profile},
          {"credentials-file", credentialsFile == null ? null : credentialsFile.toString()},
          {"encrypt-key", encryptKey == null ? null : encryptKey.toString()}
        }) {
      if (kv[1] != null) {
        s.append(sep).append(kv[0]).append('=').append(kv[1]);
        sep = "&";
      }
    }
    return s.toString();
  }

  // --- the store's key layout (docs/FORMAT.md) ---

  /** {@code STORE/chunks/ab/abcdef…}: the two-letter level keeps listings of one prefix short. */
  String chunkKey(String hashHex) {
    return store + "chunks/" + hashHex.substring(0, 2) + "/" + hashHex;
  }

  String chunksPrefix() {
    return store + "chunks/";
  }

  private static final Pattern CHUNK_NAME = Pattern.compile("[0-9a-f]{64}");

  /**
   * Whether {@code key} is exactly a chunk key of this store (some servers also list their
   * directories as keys).
   */
  boolean isChunkKey(String key) {
    if (!key.startsWith(chunksPrefix())) {
      return false;
    }
    String rest = key.substring(chunksPrefix().length());
    return rest.length() == 3 + 64
        && rest.charAt(2) == '/'
        && CHUNK_NAME.matcher(rest.substring(3)).matches()
        && rest.startsWith(rest.substring(3, 5));
  }

  String imagesPrefix() {
    return store + "images/";
  }

  String manifestsPrefix(String imageName) {
    return imagesPrefix() + imageName + "/";
  }

  String manifestKey(String imageName, long generation) {
    return manifestsPrefix(imageName)
        + String.format(Locale.ROOT, "gen-%020d.manifest", generation);
  }

  /** The generation a key names if it is exactly a manifest key of {@code imageName}, else -1. */
  long manifestGeneration(String imageName, String key) {
    String prefix = manifestsPrefix(imageName);
    if (!key.startsWith(prefix)) {
      return -1;
    }
    String name = key.substring(prefix.length());
    if (!MANIFEST_NAME.matcher(name).matches()) {
      return -1;
    }
    return Long.parseLong(name.substring(4, 24));
  }

  private static final Pattern MANIFEST_NAME = Pattern.compile("gen-\\d{20}\\.manifest");

  /** The image a key belongs to if it is exactly a manifest key of this store, else null. */
  String manifestImage(String key) {
    if (!key.startsWith(imagesPrefix())) {
      return null;
    }
    String rest = key.substring(imagesPrefix().length());
    int slash = rest.indexOf('/');
    if (slash <= 0) {
      return null;
    }
    String image = rest.substring(0, slash);
    return SEGMENT.matcher(image).matches() && manifestGeneration(image, key) >= 0 ? image : null;
  }

  String locksPrefix() {
    return store + "locks/";
  }
}
