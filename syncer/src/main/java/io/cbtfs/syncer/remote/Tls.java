package io.cbtfs.syncer.remote;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * TLS 1.3 for the replication protocol, with the JDK's own implementation: a receiver's key and
 * self-signed certificate (made by {@link #init} with the JDK's keytool), and a sender that trusts
 * exactly one certificate, named by the SHA-256 of its encoding (pinning, as with SSH host keys).
 */
public final class Tls {
  public static final String PROTOCOL = "TLSv1.3";

  /** AES-128-GCM first: the cheapest AEAD with AES-NI, and as strong as the link needs. */
  static final String[] CIPHER_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

  static final String KEYSTORE = "keystore.p12";
  static final String PASSWORD = "keystore.pass";
  static final String TOKEN = "token";

  private Tls() {}

  /**
   * Creates a receiver's identity in {@code dir} (0700): an EC key and self-signed certificate, and
   * a random token. Returns the certificate's SHA-256 fingerprint.
   *
   * @throws CbtfsException if {@code dir} already holds an identity
   */
  public static String init(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    if (Files.exists(dir.resolve(KEYSTORE))) {
      throw new CbtfsException(dir.resolve(KEYSTORE) + " exists: the receiver is initialised");
    }
    String password = Tokens.generate();
    writePrivate(dir.resolve(PASSWORD), password);
    writePrivate(dir.resolve(TOKEN), Tokens.generate());
    Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
    Process p =
        new ProcessBuilder(
                List.of(
                    keytool.toString(),
                    "-genkeypair",
                    "-alias",
                    "cbtfs",
                    "-keyalg",
                    "EC",
                    "-groupname",
                    "secp256r1",
                    "-validity",
                    "3650",
                    "-dname",
                    "CN=cbtfs-receiver",
                    "-storetype",
                    "PKCS12",
                    "-keystore",
                    dir.resolve(KEYSTORE).toString(),
                    "-storepass:file",
                    dir.resolve(PASSWORD).toString(),
                    "-keypass:file",
                    dir.resolve(PASSWORD).toString()))
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new CbtfsException("keytool failed: " + out.trim());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted");
    }
    Files.setPosixFilePermissions(
        dir.resolve(KEYSTORE), PosixFilePermissions.fromString("rw-------"));
    return fingerprint(dir);
  }

  private static void writePrivate(Path file, String text) throws IOException {
    Files.writeString(file, text + "\n", StandardCharsets.US_ASCII);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
  }

  static Path tokenFile(Path dir) {
    return dir.resolve(TOKEN);
  }

  private static KeyStore keyStore(Path dir) throws IOException {
    Path file = dir.resolve(KEYSTORE);
    if (!Files.exists(file)) {
      throw new CbtfsException("no receiver identity in " + dir + " (run cbtfs receive --init)");
    }
    char[] password = Files.readString(dir.resolve(PASSWORD)).trim().toCharArray();
    try (InputStream in = Files.newInputStream(file)) {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(in, password);
      return ks;
    } catch (GeneralSecurityException e) {
      throw new CbtfsException("cannot read " + file + ": " + e.getMessage());
    }
  }

  /** The SHA-256 fingerprint (hex) of the receiver certificate in {@code dir}. */
  public static String fingerprint(Path dir) throws IOException {
    try {
      KeyStore ks = keyStore(dir);
      return sha256((X509Certificate) ks.getCertificate("cbtfs"));
    } catch (GeneralSecurityException e) {
      throw new CbtfsException("cannot read the receiver certificate: " + e.getMessage());
    }
  }

  static String sha256(X509Certificate cert) throws CertificateException {
    return HexFormat.of().formatHex(io.cbtfs.syncer.BlockHashes.sha256().digest(cert.getEncoded()));
  }

  /** The receiver's TLS context, from the identity in {@code dir}. */
  public static SSLContext server(Path dir) throws IOException {
    KeyStore ks = keyStore(dir);
    try {
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, Files.readString(dir.resolve(PASSWORD)).trim().toCharArray());
      SSLContext ctx = SSLContext.getInstance(PROTOCOL);
      ctx.init(kmf.getKeyManagers(), null, null);
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new CbtfsException("cannot set up TLS: " + e.getMessage());
    }
  }

  /** A sender's TLS context that trusts exactly the certificate with {@code pinnedSha256}. */
  static SSLContext pinned(String pinnedSha256) {
    String pin = pinnedSha256.replace(":", "").toLowerCase(java.util.Locale.ROOT);
    TrustManager trust =
        new X509TrustManager() {
          @Override
          public void checkClientTrusted(X509Certificate[] chain, String authType)
              throws CertificateException {
            throw new CertificateException("no client certificates");
          }

          @Override
          public void checkServerTrusted(X509Certificate[] chain, String authType)
              throws CertificateException {
            if (chain == null || chain.length == 0 || !sha256(chain[0]).equals(pin)) {
              throw new CertificateException(
                  "the receiver's certificate does not match the pinned " + "fingerprint " + pin);
            }
          }

          @Override
          public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
          }
        };
    try {
      SSLContext ctx = SSLContext.getInstance(PROTOCOL);
      ctx.init(null, new TrustManager[] {trust}, null);
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("TLS 1.3 is not available", e);
    }
  }
}
