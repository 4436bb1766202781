package io.cbtfs.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The option and request parsers on any bytes: each gives a value or an {@link
 * NbdProtocolException}, never another exception and never a hang (the input is finite, and every
 * length is checked before anything is allocated or read).
 */
class ParserFuzzTest {
  private static WireInput wire(byte[] bytes) {
    return new WireInput(Channels.newChannel(new ByteArrayInputStream(bytes)));
  }

  @Provide
  Arbitrary<byte[]> bytes() {
    return Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
  }

  /** Bytes that start as an option does, so the payload parsers are reached often. */
  @Provide
  Arbitrary<byte[]> options() {
    return Arbitraries.integers()
        .between(0, 12)
        .flatMap(
            type ->
                bytes()
                    .map(
                        payload ->
                            ByteBuffer.allocate(16 + payload.length)
                                .putLong(Nbd.IHAVEOPT)
                                .putInt(type)
                                .putInt(payload.length)
                                .put(payload)
                                .array()));
  }

  /** Option headers that announce any length at all, followed by a few bytes. */
  @Provide
  Arbitrary<byte[]> announced() {
    return Arbitraries.integers()
        .flatMap(
            length ->
                bytes()
                    .map(
                        payload ->
                            ByteBuffer.allocate(16 + payload.length)
                                .putLong(Nbd.IHAVEOPT)
                                .putInt(Nbd.OPT_GO)
                                .putInt(length)
                                .put(payload)
                                .array()));
  }

  @Property(tries = 3000)
  void anyAnnouncedLengthGivesAnOptionOrAProtocolError(@ForAll("announced") byte[] bytes) {
    parseOptions(bytes);
  }

  @Property(tries = 3000)
  void anyBytesGiveAnOptionOrAProtocolError(@ForAll("bytes") byte[] bytes) {
    parseOptions(bytes);
  }

  @Property(tries = 3000)
  void anyOptionPayloadGivesAValueOrAProtocolError(@ForAll("options") byte[] bytes) {
    parseOptions(bytes);
  }

  private static void parseOptions(byte[] bytes) {
    try {
      ClientOption option = ClientOption.read(wire(bytes));
      assertThat(option.data().length).isLessThanOrEqualTo(Nbd.MAX_OPTION_BYTES);
      payloads(option);
    } catch (NbdProtocolException expected) {
      // a clean refusal
    } catch (IOException e) {
      throw new AssertionError("not a protocol error", e);
    }
  }

  private static void payloads(ClientOption option) {
    for (int parser = 0; parser < 3; parser++) {
      try {
        switch (parser) {
          case 0 -> assertThat(ExportQuery.parse(option.data()).name()).isNotNull();
          case 1 ->
              assertThat(MetaContextQuery.parse(option.data()).queries().size())
                  .isLessThanOrEqualTo(Nbd.MAX_QUERIES);
          default -> assertThat(ExportQuery.parseName(option.data())).isNotNull();
        }
      } catch (InvalidOptionException e) {
        assertThat(e.reply()).isIn(Nbd.REP_ERR_INVALID, Nbd.REP_ERR_TOO_BIG);
      }
    }
  }

  @Property(tries = 3000)
  void anyBytesGiveARequestWithAnAnswerOrAProtocolError(
      @ForAll("bytes") byte[] bytes,
      @ForAll boolean writable,
      @ForAll boolean structured,
      @ForAll("sizes") long exportSize) {
    RequestCheck check = new RequestCheck(exportSize, writable, structured, structured ? 1 : 0);
    WireInput in = wire(bytes);
    try {
      while (!in.atEnd()) {
        Request request = Request.read(in);
        int error = check.errorOf(request);
        assertThat(error).isIn(0, Nbd.EINVAL, Nbd.EPERM, Nbd.ENOSPC);
        if (error == 0 && request.type() != Nbd.CMD_DISC && request.type() != Nbd.CMD_FLUSH) {
          assertThat(request.end()).isBetween(0L, exportSize);
        }
      }
    } catch (NbdProtocolException expected) {
      // a clean refusal
    } catch (IOException e) {
      throw new AssertionError("not a protocol error", e);
    }
  }

  /** Requests that start with the request magic, so the checks are reached often. */
  @Property(tries = 3000)
  void wellFramedRequestsAlwaysGetAnAnswer(
      @ForAll("requests") byte[] bytes, @ForAll("sizes") long exportSize) {
    anyBytesGiveARequestWithAnAnswerOrAProtocolError(bytes, true, true, exportSize);
  }

  @Provide
  Arbitrary<byte[]> requests() {
    return Arbitraries.bytes()
        .array(byte[].class)
        .ofSize(24)
        .map(rest -> ByteBuffer.allocate(28).putInt(Nbd.REQUEST_MAGIC).put(rest).array());
  }

  @Provide
  Arbitrary<Long> sizes() {
    return Arbitraries.longs().between(0, 1L << 50);
  }
}
