package io.cbtfs.syncer.remote;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.TargetState;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fuzz;
import io.cbtfs.tracker.Mutations;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes what the replication protocol reads from its peer before it trusts it: the frames ({@link
 * Frames#read}), a sender's HELLO and a receiver's state answer. A frame read is its bytes written
 * again; a payload parsed encodes back to itself; anything refused is a {@link CbtfsException} (a
 * protocol error) or an {@link EOFException} (the peer's stream ended); anything else, a hostile
 * length allocated or a hang fails ({@link Fuzz}). A few seconds here; {@code
 * -Dcbtfs.fuzz.factor=N} runs N times longer (bench/fuzz.sh).
 */
class FramesFuzzTest {
  @Test
  void framesReadAsWhatWasWrittenOrAreRefused() {
    Fuzz.Report r = Fuzz.run("frames", 6000, FramesFuzzTest::frames, FramesFuzzTest::readFrames);
    assertThat(r.accepted()).isPositive();
    assertThat(r.refused()).isPositive();
  }

  /** Hostile inputs kept from the runs that prove the fuzzer catches a reader without a check. */
  @Test
  void keptHostileFramesAreRefused() throws Exception {
    Fuzz.Report r = Fuzz.replay(getClass(), "frames", FramesFuzzTest::readFrames);
    assertThat(r.tries()).isPositive().isEqualTo(r.refused());
  }

  @Test
  void aHelloParsesToWhatItEncodesOrIsRefused() {
    Fuzz.Report r =
        Fuzz.run(
            "hello",
            6000,
            rnd ->
                rnd.nextBoolean()
                    ? Mutations.random(rnd, rnd.nextInt(120))
                    : Mutations.mutate(hello(rnd).encode(), rnd),
            bytes -> {
              RemoteMessages.Hello h;
              try {
                h = RemoteMessages.Hello.parse(bytes);
              } catch (CbtfsException e) {
                return false;
              }
              assertThat(h.encode()).isEqualTo(bytes);
              return true;
            });
    assertThat(r.accepted()).isPositive();
  }

  @Test
  void aTargetStateDecodesToWhatItEncodesOrIsRefused() {
    Fuzz.run(
        "target state",
        6000,
        rnd ->
            rnd.nextBoolean()
                ? Mutations.random(rnd, rnd.nextInt(40))
                : Mutations.mutate(
                    RemoteMessages.encode(
                        new TargetState(
                            true, new UUID(rnd.nextLong(), rnd.nextLong()), rnd.nextInt(9), 1)),
                    rnd),
        bytes -> {
          TargetState s;
          try {
            s = RemoteMessages.decode(bytes);
          } catch (CbtfsException e) {
            return false;
          }
          assertThat(RemoteMessages.decode(RemoteMessages.encode(s))).isEqualTo(s);
          return true;
        });
  }

  /** Reads frames until the stream ends: each one, written again, is the bytes it was read from. */
  private static boolean readFrames(byte[] input) throws IOException {
    DataInputStream in = new DataInputStream(new ByteArrayInputStream(input));
    int consumed = 0;
    int maxPayload = Math.floorMod(Arrays.hashCode(input), 3) == 0 ? 200 : Frames.MAX_PAYLOAD;
    while (true) {
      Frames.Frame f;
      try {
        f = Frames.read(in, maxPayload);
      } catch (EOFException | CbtfsException e) {
        return consumed == input.length && !(e instanceof CbtfsException);
      }
      ByteArrayOutputStream again = new ByteArrayOutputStream();
      Frames.write(new DataOutputStream(again), f.type(), f.payload());
      byte[] bytes = again.toByteArray();
      assertThat(bytes).isEqualTo(Arrays.copyOfRange(input, consumed, consumed + bytes.length));
      consumed += bytes.length;
    }
  }

  private static byte[] frames(Random r) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DataOutputStream d = new DataOutputStream(out);
    try {
      for (int k = r.nextInt(5); k >= 0; k--) {
        int type = Frames.CHALLENGE + r.nextInt(Frames.HASHES);
        byte[] payload =
            type == Frames.HELLO
                ? hello(r).encode()
                : Mutations.random(r, r.nextInt(r.nextInt(8) == 0 ? 70_000 : 64));
        Frames.write(d, type, payload);
      }
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    byte[] valid = out.toByteArray();
    return switch (r.nextInt(3)) {
      case 0 -> Mutations.random(r, r.nextInt(200));
      case 1 -> valid;
      default -> Mutations.mutate(valid, r);
    };
  }

  private static RemoteMessages.Hello hello(Random r) {
    String[] names = {"vm1", "db.img", "a-b_c.9", "x"};
    byte[] proof = Mutations.random(r, 32);
    return new RemoteMessages.Hello(r.nextInt(4), names[r.nextInt(names.length)], proof);
  }
}
