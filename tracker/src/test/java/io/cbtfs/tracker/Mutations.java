package io.cbtfs.tracker;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Random;

/**
 * Seeded mutations of valid encodings, for the fuzz tests ({@link Fuzz}): bit flips, truncations,
 * insertions, splices, and hostile integers (lengths, counts) written over a field. Shared with the
 * other modules' tests through the tracker's test jar.
 */
public final class Mutations {
  private static final int[] HOSTILE_INTS = {
    0,
    1,
    -1,
    2,
    7,
    8,
    255,
    256,
    4095,
    4096,
    65535,
    65536,
    1 << 20,
    16 << 20,
    1 << 30,
    Integer.MAX_VALUE,
    Integer.MIN_VALUE,
    Integer.MAX_VALUE - 7
  };

  private Mutations() {}

  /** One to four mutations of {@code valid}, chosen by {@code rnd}. */
  public static byte[] mutate(byte[] valid, Random rnd) {
    byte[] b = valid;
    for (int n = 1 + rnd.nextInt(4); n > 0; n--) {
      b = once(b, rnd);
    }
    return b;
  }

  private static byte[] once(byte[] b, Random rnd) {
    if (b.length == 0) {
      return random(rnd, 1 + rnd.nextInt(64));
    }
    switch (rnd.nextInt(6)) {
      case 0 -> { // flip bits
        byte[] out = b.clone();
        for (int k = 1 + rnd.nextInt(8); k > 0; k--) {
          out[rnd.nextInt(out.length)] ^= (byte) (1 << rnd.nextInt(8));
        }
        return out;
      }
      case 1 -> { // truncate
        return Arrays.copyOf(b, rnd.nextInt(b.length));
      }
      case 2 -> { // insert random bytes
        int at = rnd.nextInt(b.length + 1);
        byte[] extra = random(rnd, 1 + rnd.nextInt(16));
        return concat(Arrays.copyOf(b, at), extra, Arrays.copyOfRange(b, at, b.length));
      }
      case 3 -> { // splice: a prefix, then a suffix from elsewhere in the same bytes
        int cut = rnd.nextInt(b.length + 1);
        int from = rnd.nextInt(b.length + 1);
        return concat(Arrays.copyOf(b, cut), Arrays.copyOfRange(b, from, b.length));
      }
      case 4 -> { // a hostile int over a field (big-endian, as the formats write them)
        if (b.length < 4) {
          return b;
        }
        byte[] out = b.clone();
        int v = HOSTILE_INTS[rnd.nextInt(HOSTILE_INTS.length)];
        int at = rnd.nextBoolean() ? rnd.nextInt(b.length - 3) / 4 * 4 : rnd.nextInt(b.length - 3);
        for (int i = 0; i < 4; i++) {
          out[at + i] = (byte) (v >>> (24 - 8 * i));
        }
        return out;
      }
      default -> { // overwrite a run with random bytes
        byte[] out = b.clone();
        int at = rnd.nextInt(out.length);
        int len = Math.min(out.length - at, 1 + rnd.nextInt(32));
        byte[] r = random(rnd, len);
        System.arraycopy(r, 0, out, at, len);
        return out;
      }
    }
  }

  public static byte[] random(Random rnd, int length) {
    byte[] b = new byte[length];
    rnd.nextBytes(b);
    return b;
  }

  public static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
