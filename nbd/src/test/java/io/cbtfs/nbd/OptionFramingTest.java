package io.cbtfs.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import org.junit.jupiter.api.Test;

class OptionFramingTest {
  private static WireInput wire(byte[] bytes) {
    return new WireInput(Channels.newChannel(new ByteArrayInputStream(bytes)));
  }

  @Test
  void anOptionTooLongIsRefusedFromItsHeaderAlone() {
    byte[] header =
        ByteBuffer.allocate(16).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_GO).putInt(1 << 30).array();
    assertThatThrownBy(() -> ClientOption.read(wire(header)))
        .isInstanceOf(NbdProtocolException.class)
        .hasMessageContaining("too long"); // not "hung up": nothing past the header was wanted
  }

  @Test
  void anOptionIsReadWhole() throws Exception {
    byte[] bytes =
        ByteBuffer.allocate(19)
            .putLong(Nbd.IHAVEOPT)
            .putInt(99)
            .putInt(3)
            .put(new byte[] {1, 2, 3})
            .array();
    ClientOption option = ClientOption.read(wire(bytes));
    assertThat(option.type()).isEqualTo(99);
    assertThat(option.data()).containsExactly(1, 2, 3);
  }

  @Test
  void payloadsAreCheckedFieldByField() {
    byte[] tooManyQueries = ByteBuffer.allocate(8).putInt(0).putInt(Nbd.MAX_QUERIES + 1).array();
    assertThatThrownBy(() -> MetaContextQuery.parse(tooManyQueries))
        .isInstanceOfSatisfying(
            InvalidOptionException.class,
            e -> assertThat(e.reply()).isEqualTo(Nbd.REP_ERR_TOO_BIG));
    byte[] trailing = ByteBuffer.allocate(7).putInt(0).putShort((short) 0).put((byte) 1).array();
    assertThatThrownBy(() -> ExportQuery.parse(trailing))
        .isInstanceOfSatisfying(
            InvalidOptionException.class,
            e -> assertThat(e.reply()).isEqualTo(Nbd.REP_ERR_INVALID));
    byte[] longName = ByteBuffer.allocate(8).putInt(Nbd.MAX_STRING_BYTES + 1).putInt(0).array();
    assertThatThrownBy(() -> ExportQuery.parse(longName))
        .isInstanceOf(InvalidOptionException.class);
  }
}
