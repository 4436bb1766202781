package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.BorrowingStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class BatchingStreamTest {
  /** Records what it was handed, in order, and whether each piece was lent or copied. */
  static class Recorder extends BorrowingStream {
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    final List<String> calls = new ArrayList<>();
    final List<ByteBuffer> lent = new ArrayList<>();

    @Override
    public void copy(ByteBuffer b) {
      calls.add("copy " + b.remaining());
      take(b);
    }

    @Override
    public void borrow(ByteBuffer b, Runnable giveBack) {
      calls.add("borrow " + b.remaining());
      lent.add(b);
      take(b);
      giveBack.run();
    }

    private void take(ByteBuffer b) {
      byte[] a = new byte[b.remaining()];
      b.duplicate().get(a);
      bytes.write(a, 0, a.length);
    }
  }

  @Test
  void aLentPayloadIsLentOnAfterTheBytesWrittenBeforeIt() throws IOException {
    Recorder into = new Recorder();
    BatchingStream s = new BatchingStream(into);
    ByteBuffer payload = ByteBuffer.allocateDirect(3).put(new byte[] {7, 8, 9}).flip();
    AtomicInteger givenBack = new AtomicInteger();
    s.write(new byte[] {1, 2});
    s.borrow(payload, givenBack::incrementAndGet);
    s.write(new byte[] {3});
    s.flush();
    assertThat(into.calls).containsExactly("copy 2", "borrow 3", "copy 1");
    assertThat(into.lent.get(0)).isSameAs(payload); // the sender's buffer itself: no copy
    assertThat(givenBack).hasValue(1);
    assertThat(into.bytes.toByteArray()).containsExactly(1, 2, 7, 8, 9, 3);
  }

  /**
   * The sender's buffer goes back only when the stream it was lent to is done with it: given back
   * before, the sender refills it while the verifier still reads it (hostile pass: a mutant that
   * gave it back first passed every other test; a real sync then failed its checksums).
   */
  @Test
  void aLentPayloadIsNotGivenBackBeforeTheStreamLentToHasIt() throws IOException {
    AtomicInteger givenBack = new AtomicInteger();
    List<Integer> givenBackAtBorrow = new ArrayList<>();
    Recorder into =
        new Recorder() {
          @Override
          public void borrow(ByteBuffer b, Runnable giveBack) {
            givenBackAtBorrow.add(givenBack.get());
            super.borrow(b, giveBack);
          }
        };
    BatchingStream s = new BatchingStream(into);
    s.write(new byte[] {1});
    s.borrow(
        ByteBuffer.allocateDirect(2).put(new byte[] {5, 6}).flip(), givenBack::incrementAndGet);
    s.flush();
    assertThat(givenBackAtBorrow).containsExactly(0);
    assertThat(givenBack).hasValue(1);
  }

  @Test
  void smallWritesGoOnInBatches() throws IOException {
    Recorder into = new Recorder();
    BatchingStream s = new BatchingStream(into);
    byte[] piece = new byte[8192];
    int pieces = 3 * BatchingStream.BATCH_BYTES / piece.length + 5;
    ByteArrayOutputStream expected = new ByteArrayOutputStream();
    for (int i = 0; i < pieces; i++) {
      java.util.Arrays.fill(piece, (byte) i);
      s.write(piece);
      expected.write(piece);
    }
    s.flush();
    assertThat(into.calls)
        .containsExactly(
            "copy " + BatchingStream.BATCH_BYTES,
            "copy " + BatchingStream.BATCH_BYTES,
            "copy " + BatchingStream.BATCH_BYTES,
            "copy " + 5 * piece.length);
    assertThat(into.bytes.toByteArray()).isEqualTo(expected.toByteArray());
  }
}
