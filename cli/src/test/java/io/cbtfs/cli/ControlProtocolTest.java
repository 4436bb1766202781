package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.SyncReport;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The typed replies through their frames, as the mount writes and the client reads them. */
class ControlProtocolTest {
  private static final String ODD = "x\tfile:e\ttrue\nz \u00e9\ud83d\udcbe";

  /**
   * What a client reads from {@code frames}: the fields up to OK, as {@link ControlClient} does.
   */
  private static Map<String, String> read(byte[] frames) throws IOException {
    ByteArrayInputStream in = new ByteArrayInputStream(frames);
    Map<String, String> fields = new LinkedHashMap<>();
    ControlProtocol.Frame f;
    while ((f = ControlProtocol.readReply(in)).type() == ControlProtocol.FIELD) {
      String[] kv = ControlProtocol.keyValue(f);
      fields.put(kv[0], kv[1]);
    }
    assertThat(f.type()).isEqualTo(ControlProtocol.OK);
    assertThat(in.available()).isZero();
    return fields;
  }

  @Test
  void aStatusReplyComesBackAsItWasSent() throws IOException {
    ImageStatus sent =
        new ImageStatus(
            ODD, 1L << 40, 65536, 3, 196608, 41, ODD, "mounted", false, ODD, true, List.of(),
            "kernel");
    ControlProtocol.ReplyCodec<ImageStatus> codec = new ControlRequest.Status(ODD).replyCodec();
    assertThat(codec.decode(read(codec.answer(sent)))).isEqualTo(sent);
  }

  /** Every target of the image crosses the socket: its cursor's name byte for byte, and its lag. */
  @Test
  void aStatusReplyCarriesEveryTarget() throws IOException {
    List<TargetStatus> targets =
        List.of(
            new TargetStatus(
                ODD, 3, Instant.parse("2026-01-02T03:04:05.678Z"), 2, 131072, 60, true),
            new TargetStatus(
                "s3://b/fleet/vm?endpoint=http://h:9", 1, Instant.EPOCH, -1, -1, 1L << 40, false));
    ImageStatus sent =
        new ImageStatus(
            ODD, 1L << 40, 65536, 3, 196608, 41, ODD, "mounted", true, "", false, targets,
            "kernel");
    ControlProtocol.ReplyCodec<ImageStatus> codec = ControlProtocol.STATUS_REPLY;
    ImageStatus received = codec.decode(read(codec.answer(sent)));
    assertThat(received.targets()).containsExactlyElementsOf(targets);
    assertThat(received).isEqualTo(sent);
  }

  /** A mount of the version before cursors sends no targets: none, not a protocol error. */
  @Test
  void aStatusReplyWithoutTargetsHasNone() throws IOException {
    ImageStatus sent =
        new ImageStatus(
            "a", 1, 4096, 0, 0, 0, "L", "mounted", true, "", false, List.of(), "libfuse2");
    Map<String, String> fields = read(ControlProtocol.STATUS_REPLY.answer(sent));
    fields.remove("targets");
    assertThat(ControlProtocol.STATUS_REPLY.decode(fields)).isEqualTo(sent);
    fields.put("targets", "1"); // one announced, none sent
    assertThatThrownBy(() -> ControlProtocol.STATUS_REPLY.decode(fields))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessage("protocol error: the reply has no field 'targets.0.target'");
    fields.put("targets", "-1");
    assertThatThrownBy(() -> ControlProtocol.STATUS_REPLY.decode(fields))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessage("protocol error: the reply names -1 targets");
  }

  /** A sync through the mount says what the target held and why that much was sent. */
  @Test
  void aSyncReplyCarriesBaseAndWhy() throws IOException {
    SyncReport sent = new SyncReport(ODD, 7, false, 10, 655360, 1234, 3, 1, 0.125, "", 6, ODD);
    ControlProtocol.ReplyCodec<SyncReport> codec = ControlProtocol.SYNC_REPLY;
    SyncReport received = codec.decode(read(codec.answer(sent)));
    assertThat(received.base()).isEqualTo(6);
    assertThat(received.why()).isEqualTo(ODD);
    assertThat(received).isEqualTo(sent);
  }

  @Test
  void aForgetRequestComesBackAsItWasSent() throws IOException {
    ControlRequest.Forget sent = new ControlRequest.Forget(ODD, ODD);
    assertThat(ControlProtocol.readRequest(new ByteArrayInputStream(ControlProtocol.encode(sent))))
        .isEqualTo(sent);
  }

  @Test
  void aSyncRequestCarriesItsSnapshotChoiceAndFleeceLimit() throws IOException {
    for (SnapshotOption snapshot :
        List.of(
            SnapshotOption.DEFAULT,
            SnapshotOption.OFF,
            new SnapshotOption(true, new FleeceLimit(-1, 100)),
            new SnapshotOption(true, new FleeceLimit(Long.MAX_VALUE, -1)),
            new SnapshotOption(true, new FleeceLimit(0, -1)))) {
      ControlRequest.Sync sent =
          new ControlRequest.Sync(ODD, new TargetAddress("file:/r"), true, snapshot);
      assertThat(
              ControlProtocol.readRequest(new ByteArrayInputStream(ControlProtocol.encode(sent))))
          .isEqualTo(sent);
    }
  }

  @Test
  void aSyncRequestWithABadFleeceLimitIsRefused() {
    byte[] frame =
        ControlProtocol.encode(
            new ControlRequest.Sync(
                "vm.raw",
                new TargetAddress("file:/r"),
                false,
                new SnapshotOption(true, new FleeceLimit(-1, 50))));
    java.nio.ByteBuffer.wrap(frame).putLong(frame.length - 8, 101); // 101 percent
    assertThatThrownBy(() -> ControlProtocol.readRequest(new ByteArrayInputStream(frame)))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessageContaining("fleece limit");
  }

  @Test
  void aCellsRequestComesBackAsItWasSent() throws IOException {
    for (ControlRequest.Cells sent :
        List.of(
            new ControlRequest.Cells(ODD, ODD, DirtyCells.MAX_CELLS),
            new ControlRequest.Cells("vm.raw", "", 1))) {
      assertThat(
              ControlProtocol.readRequest(new ByteArrayInputStream(ControlProtocol.encode(sent))))
          .isEqualTo(sent);
    }
  }

  @Test
  void aCellsRequestForTooManyOrNoCellsIsRefused() {
    for (int count : new int[] {0, -1, DirtyCells.MAX_CELLS + 1}) {
      byte[] frame = ControlProtocol.encode(new ControlRequest.Cells("vm.raw", "", 1));
      java.nio.ByteBuffer.wrap(frame).putInt(frame.length - 4, count);
      assertThatThrownBy(() -> ControlProtocol.readRequest(new ByteArrayInputStream(frame)))
          .isInstanceOf(ControlProtocolException.class)
          .hasMessageContaining("cells");
    }
  }

  @Test
  void aCellsReplyComesBackAsItWasSent() throws IOException {
    List<Long> counts = new java.util.ArrayList<>();
    for (int i = 0; i < DirtyCells.MAX_CELLS; i++) { // the most, each as long as it can be
      counts.add(i == DirtyCells.MAX_CELLS - 1 ? 1L : 1_048_576L);
    }
    DirtyCells sent =
        new DirtyCells(ODD, (4095L * 1_048_576 + 1) * 4096, 4096, 1_048_576, 12345, counts);
    ControlProtocol.ReplyCodec<DirtyCells> codec =
        new ControlRequest.Cells("a", "", 1).replyCodec();
    assertThat(codec.decode(read(codec.answer(sent)))).isEqualTo(sent);
    DirtyCells empty = new DirtyCells("", 0, 65536, 1, 0, List.of());
    assertThat(codec.decode(read(codec.answer(empty)))).isEqualTo(empty);
  }

  @Test
  void aCellsReplyThatIsNotAMapIsAProtocolError() throws IOException {
    ControlProtocol.ReplyCodec<DirtyCells> codec = ControlProtocol.CELLS_REPLY;
    Map<String, String> fields =
        read(codec.answer(new DirtyCells("", 3 * 4096, 4096, 1, 4096, List.of(0L, 1L, 0L))));
    for (String bad : new String[] {"0,1", "0,2,0", "0,,0", "0,1,0,", "0,-1,0", "a,b,c"}) {
      Map<String, String> f = new LinkedHashMap<>(fields);
      f.put("dirtyBlocks", bad);
      assertThatThrownBy(() -> codec.decode(f))
          .as(bad)
          .isInstanceOf(ControlProtocolException.class)
          .hasMessageStartingWith("protocol error: ");
    }
  }

  @Test
  void backupRequestsComeBackAsTheyWereSentAndUnknownFlagsAreRefused() throws IOException {
    for (ControlRequest<?> sent :
        List.<ControlRequest<?>>of(
            new ControlRequest.BackupBegin("vm.raw", "nightly", FleeceLimit.DEFAULT),
            new ControlRequest.BackupBegin(ODD, "n", new FleeceLimit(512L << 20, -1)),
            new ControlRequest.BackupEnd("vm.raw", "nightly", true),
            new ControlRequest.BackupEnd(ODD, "n", false))) {
      assertThat(
              ControlProtocol.readRequest(new ByteArrayInputStream(ControlProtocol.encode(sent))))
          .isEqualTo(sent);
    }
    byte[] frame = ControlProtocol.encode(new ControlRequest.BackupEnd("vm.raw", "nightly", false));
    frame[frame.length - 1] = 2; // a flag no one defined
    assertThatThrownBy(() -> ControlProtocol.readRequest(new ByteArrayInputStream(frame)))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessageContaining("unknown BACKUP_END flags 2");
  }

  @Test
  void aBackupReplyComesBackAsItWasSent() throws IOException {
    BackupReport sent =
        new BackupReport(
            "vm.raw@nightly",
            List.of("nbd+unix:///vm.raw@nightly?socket=/run/n.sock", "nbd://127.0.0.1:10809/x"),
            "nbd:nightly",
            12,
            -1,
            1L << 30,
            65536,
            16384,
            1L << 30,
            ODD,
            BackupReport.OPEN);
    ControlProtocol.ReplyCodec<BackupReport> codec = ControlProtocol.BACKUP_REPLY;
    assertThat(codec.decode(read(codec.answer(sent)))).isEqualTo(sent);
  }

  @Test
  void aSyncReplyComesBackAsItWasSent() throws IOException {
    SyncReport sent = new SyncReport(ODD, 7, true, 10, 655360, 1234, 3, 1, 0.125, ODD);
    ControlProtocol.ReplyCodec<SyncReport> codec =
        new ControlRequest.Sync("a", new TargetAddress("file:/r"), false).replyCodec();
    assertThat(codec.decode(read(codec.answer(sent)))).isEqualTo(sent);
  }

  @Test
  void aReplyWithAMissingOrBadFieldIsAProtocolError() throws IOException {
    ControlProtocol.ReplyCodec<SyncReport> codec = ControlProtocol.SYNC_REPLY;
    Map<String, String> fields =
        read(codec.answer(new SyncReport("file:/r", 7, true, 10, 1, 1, 1, 0, 0.5, "")));
    Map<String, String> missing = new LinkedHashMap<>(fields);
    missing.remove("generation");
    assertThatThrownBy(() -> codec.decode(missing))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessage("protocol error: the reply has no field 'generation'");
    Map<String, String> bad = new LinkedHashMap<>(fields);
    bad.put("full", "yes");
    assertThatThrownBy(() -> codec.decode(bad))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessage("protocol error: the reply's field 'full' is not a boolean");
  }
}
