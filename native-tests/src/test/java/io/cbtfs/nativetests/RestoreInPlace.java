package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.OverlayMountIT.ok;
import static io.cbtfs.nativetests.OverlayMountIT.qemuIo;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The restore in place of docs/OPERATIONS.md ("Making the overlay the new primary") against one
 * backup target, whatever its kind ({@code archive:}, {@code s3://}, {@code cbtfs://…?archive}): an
 * image synced there, a generation of it booted with {@code --overlay --hydrate} and written
 * (qemu-io), hydrated whole; then {@code cbtfs adopt --from} that target. Shared by the ITs of
 * adopt, so that each kind of target goes through the same steps.
 */
final class RestoreInPlace {
  private static final Pattern GENERATION = Pattern.compile("generation (\\d+)");

  private RestoreInPlace() {}

  /**
   * An image synced to {@code target}, its generation hydrated whole in an overlay with writes.
   *
   * @param base the generation's bytes, as the last sync saw the image
   * @param expected the generation's bytes with the writes: what the adopted image must be
   */
  record Booted(String target, Path overlayImage, Path base, Path expected, long generation) {
    Path map(String suffix) {
      String n = overlayImage.getFileName().toString();
      return overlayImage.resolveSibling(n.substring(0, n.length() - ".img".length()) + suffix);
    }
  }

  /**
   * Syncs a random image {@code vm} of {@code size} bytes from a daemon mount in {@code dir/old} to
   * {@code target} {@code syncs} times (a random 64 KiB written between two), boots the last
   * generation read-only in {@code dir/booted} with {@code --overlay dir/overlay --hydrate},
   * applies {@code writes} (qemu-io commands) through it, waits until it is hydrated and unmounts.
   */
  static Booted bootAndHydrate(
      Path dir, String target, int size, long seed, int syncs, List<String> writes)
      throws Exception {
    Tools.require("qemu-io");
    Path base = dir.resolve("base.img");
    long generation = -1;
    try (DaemonMount old = DaemonMount.prepare(Files.createDirectory(dir.resolve("old")))) {
      old.mount();
      Files.write(old.image("vm"), Tools.random(size, seed));
      for (int i = 0; i < syncs; i++) {
        if (i > 0) {
          Tools.pwrite(old.image("vm"), (long) i << 20, Tools.random(64 << 10, seed + i));
        }
        Matcher synced =
            GENERATION.matcher(ok("sync", old.image("vm").toString(), target).output());
        assertThat(synced.find()).isTrue();
        long next = Long.parseLong(synced.group(1));
        assertThat(next).as("each sync a new generation").isGreaterThan(generation);
        generation = next;
      }
      Files.copy(old.backingFile("vm"), base); // the image as the last sync saw it
    }
    Path expected = Files.copy(base, dir.resolve("expected.img"));
    qemuIo(expected, writes);
    Path overlay = dir.resolve("overlay");
    String name = "vm@" + generation;
    try (ReadOnlyMountProcess m =
        ReadOnlyMountProcess.start(
            dir.resolve("booted"),
            Map.of(),
            target,
            "--overlay",
            overlay.toString(),
            "--hydrate",
            name)) {
      qemuIo(m.mnt.resolve(name), writes);
      m.awaitOutput("cbtfs: hydrated " + name);
    }
    return new Booted(target, overlay.resolve(name + ".img"), base, expected, generation);
  }

  /** {@code cbtfs adopt OVERLAY FOLDER --from TARGET}; fails the test unless it adopted. */
  static Tools.Result adopt(Booted b, DaemonMount into) throws IOException {
    Tools.Result r =
        ok("adopt", b.overlayImage().toString(), into.backing.toString(), "--from", b.target());
    assertThat(r.output()).contains("adopted " + b.overlayImage());
    assertThat(b.overlayImage()).doesNotExist();
    assertThat(Files.mismatch(into.backingFile("vm"), b.expected())).isEqualTo(-1L);
    return r;
  }

  /**
   * Restores {@code generation} of {@code b}'s target (its newest if null) into {@code out}: it
   * must be {@code image}.
   */
  static void assertRestores(Booted b, Long generation, Path out, Path image) throws IOException {
    List<String> restore = new ArrayList<>(List.of("restore", b.target()));
    if (generation != null) {
      restore.addAll(List.of("--generation", generation.toString()));
    }
    restore.add(out.toString());
    ok(restore.toArray(String[]::new));
    assertThat(Files.mismatch(out, image))
        .as("generation %s restores as %s", generation == null ? "newest" : generation, image)
        .isEqualTo(-1L);
  }
}
