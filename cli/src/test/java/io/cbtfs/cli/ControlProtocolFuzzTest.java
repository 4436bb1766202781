package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.Fuzz;
import io.cbtfs.tracker.Mutations;
import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the mount's request parser ({@link ControlProtocol#readRequest}) with random bytes, random
 * frames and mutated valid requests ({@link Fuzz}, seeded: CI runs the same inputs every time;
 * bench/fuzz.sh runs more). Property: it returns a well-formed request, which is exactly what the
 * input's first frame encodes, or throws {@link ControlProtocolException}; never anything else,
 * never hangs, never allocates much more than the protocol's limits.
 */
class ControlProtocolFuzzTest {
  /**
   * The payload, its decoded strings (two bytes a char), and the parser's own small objects, with
   * room for what the JIT and class loading allocate on a thread: far below the 2 GiB that a length
   * trusted before its check would ask for.
   */
  private static final long ALLOCATION_LIMIT =
      8L * ControlProtocol.MAX_REQUEST_PAYLOAD + (256 << 10);

  private static final int TRIES = 3000;

  static { // load and initialise what the parser uses before anything is measured
    for (byte[] warm :
        List.of(
            ControlProtocol.encode(ControlServerTest.sync("vm.img", "file:/r", false)),
            new byte[] {1, 2, 3},
            Mutations.concat(ControlProtocol.PREAMBLE, new byte[] {9, 0, 0, 0, 1, 0}))) {
      try {
        parsesOrRefuses(warm);
      } catch (RuntimeException | AssertionError ignored) {
        // only the classes matter here
      }
    }
  }

  @Test
  void randomBytesAreRefusedOrParsed() {
    Fuzz.run(
        "control random bytes",
        TRIES,
        ALLOCATION_LIMIT,
        r -> Mutations.random(r, r.nextInt(300)),
        ControlProtocolFuzzTest::parsesOrRefuses);
  }

  @Test
  void randomFramesAfterThePreambleAreRefusedOrParsed() {
    Fuzz.Report report =
        Fuzz.run(
            "control random frames",
            TRIES,
            ALLOCATION_LIMIT,
            r ->
                Mutations.concat(
                    ControlProtocol.PREAMBLE,
                    ByteBuffer.allocate(5).put((byte) frameType(r)).putInt(length(r)).array(),
                    Mutations.random(r, r.nextInt(600))),
            ControlProtocolFuzzTest::parsesOrRefuses);
    assertThat(report.refused()).isPositive();
  }

  @Test
  void mutatedValidRequestsAreRefusedOrParsedAsTheyRead() {
    Fuzz.Report report =
        Fuzz.run(
            "control mutated requests",
            TRIES,
            ALLOCATION_LIMIT,
            r -> r.nextInt(4) == 0 ? valid(r) : Mutations.mutate(valid(r), r),
            ControlProtocolFuzzTest::parsesOrRefuses);
    assertThat(report.accepted()).isPositive();
    assertThat(report.refused()).isPositive();
  }

  private static int frameType(Random r) {
    return r.nextBoolean() ? r.nextInt(7) : r.nextInt();
  }

  private static int length(Random r) {
    return switch (r.nextInt(3)) {
      case 0 -> r.nextInt(601);
      case 1 -> r.nextInt();
      default -> {
        int[] edges = {
          ControlProtocol.MAX_REQUEST_PAYLOAD,
          ControlProtocol.MAX_REQUEST_PAYLOAD + 1,
          Integer.MAX_VALUE,
          -1
        };
        yield edges[r.nextInt(edges.length)];
      }
    };
  }

  /** An encoded request with a name and target of any characters, up to and past the limits. */
  private static byte[] valid(Random r) {
    String name =
        switch (r.nextInt(3)) {
          case 0 -> chars(r, 1 + r.nextInt(20), '\u0001', '\uffff');
          case 1 -> chars(r, 1 + r.nextInt(255), '\u0001', '\u00ff');
          default -> {
            String[] odd = {"x\tfile:elsewhere.img\ttrue\nz", ".", "..", "a/b", "\u0000"};
            yield odd[r.nextInt(odd.length)];
          }
        };
    String target =
        r.nextBoolean()
            ? chars(r, 1 + r.nextInt(40), '\u0001', '\uffff')
            : chars(r, 1 + r.nextInt(8), ' ', '~') // exactly at the limit
                .repeat(ControlProtocol.MAX_TARGET_BYTES)
                .substring(0, ControlProtocol.MAX_TARGET_BYTES);
    try {
      return ControlProtocol.encode(
          switch (r.nextInt(6)) {
            case 0 -> new ControlRequest.Ping();
            case 4 ->
                new ControlRequest.Cells(
                    name, r.nextBoolean() ? "" : target, 1 + r.nextInt(DirtyCells.MAX_CELLS));
            case 1 -> new ControlRequest.Status(name);
            case 2 ->
                new ControlRequest.Sync(
                    name,
                    new TargetAddress(target),
                    r.nextBoolean(),
                    r.nextBoolean()
                        ? SnapshotOption.DEFAULT
                        : new SnapshotOption(
                            r.nextBoolean(), new io.cbtfs.syncer.FleeceLimit(-1, r.nextInt(101))));
            case 3 -> new ControlRequest.Forget(name, target);
            default -> new ControlRequest.Unmount();
          });
    } catch (ControlProtocolException tooLongOrNotUnicode) {
      return ControlProtocol.encode(new ControlRequest.Status("vm.img"));
    }
  }

  private static String chars(Random r, int n, char from, char to) {
    StringBuilder b = new StringBuilder(n);
    for (int i = 0; i < n; i++) {
      b.append((char) (from + r.nextInt(to - from + 1)));
    }
    return b.toString();
  }

  /** True if the parser accepted the input (and it reads as it encodes), false if it refused it. */
  private static boolean parsesOrRefuses(byte[] input) {
    ControlRequest<?> r;
    try {
      r = ControlProtocol.readRequest(new ByteArrayInputStream(input));
    } catch (ControlProtocolException e) {
      assertThat(e.getMessage()).isNotBlank().doesNotContain("\n");
      return false;
    } catch (java.io.IOException e) {
      throw new AssertionError("not the protocol's own refusal: " + e, e);
    }
    String name =
        r instanceof ControlRequest.Status s
            ? s.imageName()
            : r instanceof ControlRequest.Sync s
                ? s.imageName()
                : r instanceof ControlRequest.Forget f
                    ? f.imageName()
                    : r instanceof ControlRequest.Cells c ? c.imageName() : null;
    if (name != null) {
      assertThat(name.getBytes(StandardCharsets.UTF_8).length)
          .isBetween(1, ControlProtocol.MAX_NAME_BYTES);
      assertThat(name).doesNotContain("/", "\0").isNotIn(List.of(".", ".."));
    } else {
      assertThat(r).isInstanceOfAny(ControlRequest.Ping.class, ControlRequest.Unmount.class);
    }
    if (r instanceof ControlRequest.Sync s) {
      assertThat(s.target().uri().getBytes(StandardCharsets.UTF_8).length)
          .isBetween(1, ControlProtocol.MAX_TARGET_BYTES);
      assertThat(s.target().uri()).doesNotContain("\0");
    }
    if (r instanceof ControlRequest.Forget f) {
      assertThat(f.target().getBytes(StandardCharsets.UTF_8).length)
          .isBetween(1, ControlProtocol.MAX_TARGET_BYTES);
      assertThat(f.target()).doesNotContain("\0");
    }
    if (r instanceof ControlRequest.Cells c) {
      assertThat(c.target().getBytes(StandardCharsets.UTF_8).length)
          .isLessThanOrEqualTo(ControlProtocol.MAX_TARGET_BYTES);
      assertThat(c.target()).doesNotContain("\0");
      assertThat(c.maxCells()).isBetween(1, DirtyCells.MAX_CELLS);
    }
    byte[] encoded = ControlProtocol.encode(r);
    assertThat(Arrays.copyOf(input, Math.min(input.length, encoded.length)))
        .as("the request is exactly what the input's first frame says")
        .isEqualTo(encoded);
    return true;
  }
}
