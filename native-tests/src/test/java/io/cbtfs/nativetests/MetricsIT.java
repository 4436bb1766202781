package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #21, metrics: a daemon mount with {@code --metrics PORT} (loopback), writes through it,
 * syncs to a replica and an archive. {@code /metrics} is scraped with a plain HTTP GET while a sync
 * runs and after it; every scrape passes {@code promtool check metrics}, and its values are what
 * {@code status --json} says: the dirty bytes, and per target the generation, the generations it
 * lacks and the bytes. The image's name holds a quote, a backslash and a newline, which the
 * exposition must escape.
 */
class MetricsIT {
  private static final int BLOCK = 64 << 10;
  private static final int IMAGE_BYTES = 64 << 20;
  private static final String IMAGE = "vm \"a\\b\nc.raw";
  private static final String LABEL = "vm \\\"a\\\\b\\nc.raw"; // as the exposition escapes it

  @TempDir Path tmp;
  DaemonMount folder;
  HttpClient http = HttpClient.newHttpClient();
  int port;

  @AfterEach
  void unmount() throws IOException {
    if (folder != null) {
      folder.close();
    }
  }

  /** A port free on loopback now (the mount binds it a moment later). */
  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private String scrape() throws IOException, InterruptedException {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }

  /** {@code promtool check metrics} reads the exposition on its standard input. */
  private void promtoolAccepts(String exposition) throws IOException {
    Path file = Files.writeString(tmp.resolve("scrape.prom"), exposition);
    Tools.Result r = Tools.exec(List.of("sh", "-c", "promtool check metrics < '" + file + "'"), 60);
    assertThat(r.exitCode()).as("promtool check metrics:\n" + r.output()).isZero();
  }

  private static double value(String exposition, String series) {
    for (String line : exposition.split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1).trim());
      }
    }
    throw new AssertionError("no sample " + series + " in:\n" + exposition);
  }

  private static long field(String json, String name) {
    Matcher m = Pattern.compile("\"" + name + "\":(-?\\d+)").matcher(json);
    assertThat(m.find()).as(name + " in " + json).isTrue();
    return Long.parseLong(m.group(1));
  }

  /** The JSON object of {@code target} in the status's targets. */
  private static String targetJson(String status, String target) {
    Matcher m =
        Pattern.compile("\\{\"target\":\"" + Pattern.quote(target) + "\"[^}]*\\}").matcher(status);
    assertThat(m.find()).as(target + " in " + status).isTrue();
    return m.group();
  }

  private void sync(String target) {
    Tools.Result r = Cbtfs.run("sync", "--json", folder.image(IMAGE).toString(), target);
    assertThat(r.exitCode()).as(r.output()).isZero();
  }

  @Test
  void scrapedDuringAndAfterSyncsItIsValidAndSaysWhatStatusSays() throws Exception {
    Tools.require("promtool");
    folder = DaemonMount.prepare(tmp);
    byte[] data = new byte[IMAGE_BYTES];
    new Random(21).nextBytes(data); // incompressible: the first sync takes a while
    Files.write(folder.backingFile(IMAGE), data);
    port = freePort();
    folder.mount("--metrics", Integer.toString(port));
    String replica = "file:" + tmp.resolve("replica.raw");
    String archive = "archive:" + tmp.resolve("archive");

    // writes through the mount: 5 of 4 KiB in 3 blocks
    long[] offsets = {0, 4096, 5L * BLOCK, 9L * BLOCK + 100, 9L * BLOCK + 8192};
    for (long off : offsets) {
      Tools.pwrite(folder.image(IMAGE), off, new byte[4096]);
    }

    // the first (full) sync, scraped while it runs
    Process sync =
        new ProcessBuilder(Cbtfs.command("sync", folder.image(IMAGE).toString(), replica))
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("sync.out").toFile())
            .start();
    List<String> during = new ArrayList<>();
    do {
      during.add(scrape());
    } while (sync.isAlive());
    assertThat(sync.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(sync.exitValue()).as(Files.readString(tmp.resolve("sync.out"))).isZero();
    assertThat(during.size()).as("scrapes while the sync ran").isGreaterThan(1);
    promtoolAccepts(during.get(during.size() / 2));

    sync(archive);
    Tools.pwrite(folder.image(IMAGE), 3L * BLOCK, new byte[4096]); // both lack block 3
    sync(archive); // the replica lacks generation 2's and 3's blocks; the archive nothing but...
    Tools.pwrite(folder.image(IMAGE), 12L * BLOCK, new byte[100]); // ... block 12, as the replica

    String after = scrape();
    promtoolAccepts(after);
    Tools.Result status = Cbtfs.run("status", "--json", folder.image(IMAGE).toString());
    assertThat(status.exitCode()).as(status.output()).isZero();
    String json = status.output();

    String image = "{image=\"" + LABEL + "\"}";
    assertThat(value(after, "cbtfs_image_dirty_bytes" + image))
        .isEqualTo(field(json, "dirtyBytes"));
    assertThat(value(after, "cbtfs_image_dirty_blocks" + image))
        .isEqualTo(field(json, "dirtyBlocks"))
        .isEqualTo(2); // block 3 and block 12: what the replica, furthest behind, lacks
    assertThat(value(after, "cbtfs_image_generation" + image)).isEqualTo(3);
    assertThat(value(after, "cbtfs_image_write_requests_total" + image))
        .isGreaterThanOrEqualTo(offsets.length + 2);
    assertThat(value(after, "cbtfs_image_written_bytes_total" + image))
        .isEqualTo(offsets.length * 4096 + 4096 + 100);
    assertThat(value(after, "cbtfs_image_activity_log_fsyncs_total" + image)).isPositive();
    assertThat(value(after, "cbtfs_fuse_request_duration_seconds_count{operation=\"write\"}"))
        .isGreaterThanOrEqualTo(offsets.length + 2);
    assertThat(after).contains("jvm_memory_used_bytes{area=\"heap\"}");

    long issued = 3;
    for (String target : List.of(replica, archive)) {
      String t = targetJson(json, target);
      String series = "{image=\"" + LABEL + "\",target=\"" + target + "\"}";
      assertThat(value(after, "cbtfs_sync_target_generation" + series))
          .isEqualTo(field(t, "generation"));
      assertThat(value(after, "cbtfs_sync_lag_generations" + series))
          .isEqualTo(issued - field(t, "generation"));
      assertThat(value(after, "cbtfs_sync_lag_bytes" + series)).isEqualTo(field(t, "lagBytes"));
      assertThat(value(after, "cbtfs_sync_lag_blocks" + series)).isEqualTo(field(t, "lagBlocks"));
      assertThat(value(after, "cbtfs_sync_last_status" + series)).isEqualTo(1);
      assertThat(value(after, "cbtfs_sync_last_success_age_seconds" + series))
          .isCloseTo(field(t, "secondsSinceSync"), org.assertj.core.data.Offset.offset(2.0));
    }
    String replicaSeries = "{image=\"" + LABEL + "\",target=\"" + replica + "\"}";
    assertThat(value(after, "cbtfs_sync_lag_generations" + replicaSeries)).isEqualTo(2);
    assertThat(value(after, "cbtfs_sync_sent_bytes_total" + replicaSeries))
        .as("a full sync of incompressible data")
        .isGreaterThan(IMAGE_BYTES * 0.9);
    assertThat(
            value(
                after,
                "cbtfs_syncs_total{image=\""
                    + LABEL
                    + "\",result=\"success\",target=\""
                    + archive
                    + "\"}"))
        .isEqualTo(2);
    assertThat(value(after, "cbtfs_sync_duration_seconds_count" + replicaSeries)).isEqualTo(1);
  }

  @Test
  void anOfflineSyncsTextfileIsValid() throws IOException {
    Tools.require("promtool");
    Path image = Files.write(tmp.resolve(IMAGE), new byte[1 << 20]);
    Path textfile = tmp.resolve("cbtfs.prom");
    Tools.Result r =
        Cbtfs.run(
            "sync",
            "--metrics-textfile",
            textfile.toString(),
            image.toString(),
            "file:" + tmp.resolve("replica.raw"));
    assertThat(r.exitCode()).as(r.output()).isZero();
    String exposition = Files.readString(textfile);
    assertThat(exposition).contains("cbtfs_sync_last_status{image=\"" + LABEL + "\"");
    promtoolAccepts(exposition);
  }

  /** The example alert rules of docs/OPERATIONS.md: valid, and they fire when they should. */
  @Test
  void theExampleAlertRulesPassPromtool() throws IOException {
    Tools.require("promtool");
    Path contrib = Path.of("../contrib/prometheus").toAbsolutePath().normalize();
    Path rules = contrib.resolve("cbtfs-alerts.yml");
    Tools.run("promtool check rules", "promtool", "check", "rules", rules.toString());
    Tools.Result test =
        Tools.exec(
            List.of(
                "sh", "-c", "cd '" + contrib + "' && promtool test rules cbtfs-alerts.test.yml"),
            60);
    assertThat(test.exitCode()).as(test.output()).isZero();
    String operations = Files.readString(Path.of("../docs/OPERATIONS.md"));
    assertThat(operations)
        .as("the rules the documentation shows are the ones tested")
        .contains(Files.readString(rules));
  }
}
