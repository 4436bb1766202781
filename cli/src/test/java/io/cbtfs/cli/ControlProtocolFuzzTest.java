package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.ByteArrayInputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/**
 * Fuzzes the mount's request parser ({@link ControlProtocol#readRequest}) with random bytes, random
 * frames and mutated valid requests. Property: it returns a well-formed request, which is exactly
 * what the input's first frame encodes, or throws {@link ControlProtocolException}; never anything
 * else, never hangs, never allocates much more than the protocol's limits.
 *
 * <p>Tries per property: {@code jqwik.tries.default} in
 * src/test/resources/junit-platform.properties (a few seconds in CI). A longer run: {@code mvn -pl
 * cli -am verify -DskipITs -Dtest=ControlProtocolFuzzTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Djqwik.tries.default=1000000} (a system property wins over the file).
 */
class ControlProtocolFuzzTest {
  /**
   * The payload, its decoded strings (two bytes a char), and the parser's own small objects, with
   * room for what the JIT and class loading allocate on a thread: far below the 2 GiB that a length
   * trusted before its check would ask for.
   */
  private static final long ALLOCATION_LIMIT =
      8L * ControlProtocol.MAX_REQUEST_PAYLOAD + (256 << 10);

  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  static { // load and initialise what the parser uses before anything is measured
    try {
      ControlProtocol.readRequest(
          new ByteArrayInputStream(
              ControlProtocol.encode(ControlRequest.sync("vm.img", "file:/r", false))));
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
  }

  @Property
  void randomBytes(@ForAll @Size(max = 300) byte[] input) {
    parsesOrRefuses(input);
  }

  @Property
  void randomFramesAfterThePreamble(
      @ForAll("frameType") int type,
      @ForAll("length") int length,
      @ForAll @Size(max = 600) byte[] payload) {
    parsesOrRefuses(
        concat(
            ControlProtocol.PREAMBLE,
            ByteBuffer.allocate(5).put((byte) type).putInt(length).array(),
            payload));
  }

  @Property
  void mutatedValidRequests(@ForAll("mutated") byte[] input) {
    parsesOrRefuses(input);
  }

  @Provide
  Arbitrary<Integer> frameType() {
    return Arbitraries.oneOf(Arbitraries.integers().between(0, 5), Arbitraries.integers());
  }

  @Provide
  Arbitrary<Integer> length() {
    return Arbitraries.oneOf(
        Arbitraries.integers().between(0, 600),
        Arbitraries.integers(),
        Arbitraries.of(
            ControlProtocol.MAX_REQUEST_PAYLOAD,
            ControlProtocol.MAX_REQUEST_PAYLOAD + 1,
            Integer.MAX_VALUE,
            -1));
  }

  @Provide
  Arbitrary<byte[]> mutated() {
    return Combinators.combine(valid(), Arbitraries.integers().between(1, 4).list().ofSize(3))
        .flatAs(
            (frame, kinds) -> {
              Arbitrary<byte[]> a = Arbitraries.just(frame);
              for (int kind : kinds) {
                a = a.flatMap(f -> mutate(f, kind));
              }
              return a;
            });
  }

  /** Encoded requests with names and targets of any characters, up to and past the limits. */
  private static Arbitrary<byte[]> valid() {
    Arbitrary<String> name =
        Arbitraries.oneOf(
            Arbitraries.strings().ofMinLength(1).ofMaxLength(20),
            Arbitraries.strings().withCharRange('\u0001', '\u00ff').ofMinLength(1).ofMaxLength(255),
            Arbitraries.of("x\tfile:elsewhere.img\ttrue\nz", ".", "..", "a/b", "\u0000"));
    Arbitrary<String> target =
        Arbitraries.oneOf(
            Arbitraries.strings().ofMinLength(1).ofMaxLength(40),
            Arbitraries.strings() // exactly at the limit, made from a short random piece
                .withCharRange(' ', '~')
                .ofMinLength(1)
                .ofMaxLength(8)
                .map(
                    p ->
                        p.repeat(ControlProtocol.MAX_TARGET_BYTES / p.length() + 1)
                            .substring(0, ControlProtocol.MAX_TARGET_BYTES)));
    return Combinators.combine(
            Arbitraries.integers().between(1, 4), name, target, Arbitraries.of(true, false))
        .as(
            (type, n, t, full) -> {
              try {
                return ControlProtocol.encode(new ControlRequest(type, n, t, full));
              } catch (ControlProtocolException tooLongOrNotUnicode) {
                return ControlProtocol.encode(ControlRequest.status("vm.img"));
              }
            });
  }

  /** One mutation: flip a byte, cut the input short, insert bytes, or overwrite four. */
  private static Arbitrary<byte[]> mutate(byte[] f, int kind) {
    if (f.length == 0) {
      return Arbitraries.just(f);
    }
    Arbitrary<Integer> at = Arbitraries.integers().between(0, f.length - 1);
    return switch (kind) {
      case 1 ->
          Combinators.combine(at, Arbitraries.bytes())
              .as(
                  (i, b) -> {
                    byte[] m = f.clone();
                    m[i] = b;
                    return m;
                  });
      case 2 -> at.map(i -> Arrays.copyOf(f, i));
      case 3 ->
          Combinators.combine(at, Arbitraries.bytes().array(byte[].class).ofMaxSize(8))
              .as((i, ins) -> concat(Arrays.copyOf(f, i), ins, Arrays.copyOfRange(f, i, f.length)));
      default ->
          Combinators.combine(at, Arbitraries.integers())
              .as(
                  (i, v) -> {
                    byte[] m = Arrays.copyOf(f, Math.max(f.length, i + 4));
                    ByteBuffer.wrap(m).putInt(i, v);
                    return m;
                  });
    };
  }

  private static void parsesOrRefuses(byte[] input) {
    Object outcome =
        assertTimeoutPreemptively(
            Duration.ofSeconds(5),
            () -> {
              long before = THREADS.getCurrentThreadAllocatedBytes();
              Object result;
              try {
                result = ControlProtocol.readRequest(new ByteArrayInputStream(input));
              } catch (Throwable e) {
                result = e;
              }
              long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
              assertThat(allocated).as("bytes allocated").isLessThan(ALLOCATION_LIMIT);
              return result;
            });
    if (outcome instanceof Throwable e) {
      assertThat(e).isInstanceOf(ControlProtocolException.class);
      assertThat(e.getMessage()).isNotBlank().doesNotContain("\n");
      return;
    }
    ControlRequest r = (ControlRequest) outcome;
    assertThat(r.type()).isBetween(ControlProtocol.PING, ControlProtocol.UNMOUNT);
    if (r.type() == ControlProtocol.STATUS || r.type() == ControlProtocol.SYNC) {
      assertThat(r.name().getBytes(StandardCharsets.UTF_8).length)
          .isBetween(1, ControlProtocol.MAX_NAME_BYTES);
      assertThat(r.name()).doesNotContain("/", "\0").isNotIn(List.of(".", ".."));
    } else {
      assertThat(r.name()).isEmpty();
    }
    if (r.type() == ControlProtocol.SYNC) {
      assertThat(r.target().getBytes(StandardCharsets.UTF_8).length)
          .isBetween(1, ControlProtocol.MAX_TARGET_BYTES);
      assertThat(r.target()).doesNotContain("\0");
    } else {
      assertThat(r.target()).isEmpty();
      assertThat(r.full()).isFalse();
    }
    byte[] encoded = ControlProtocol.encode(r);
    assertThat(Arrays.copyOf(input, Math.min(input.length, encoded.length)))
        .as("the request is exactly what the input's first frame says")
        .isEqualTo(encoded);
  }

  private static byte[] concat(byte[]... parts) {
    ByteBuffer all = ByteBuffer.allocate(Arrays.stream(parts).mapToInt(p -> p.length).sum());
    for (byte[] p : parts) {
      all.put(p);
    }
    return all.array();
  }
}
