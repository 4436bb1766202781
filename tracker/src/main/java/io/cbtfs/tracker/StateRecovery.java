package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The recovery rule of docs/STATE.md, a pure function of what was saved: a clean state is trusted
 * unless the backing file's fingerprint changed (then the next sync compares every block); an
 * unclean one yields its saved bitmap plus every block of every extent its activity log names, and
 * a damaged log slot makes the next sync compare too. Never "assume clean".
 */
public final class StateRecovery {
  private StateRecovery() {}

  /**
   * What recovery makes of a saved state.
   *
   * @param dirty the blocks marked dirty: the saved bitmap, plus after an unclean stop every block
   *     of the extents the activity log names
   * @param recovery what was found, for status and the log
   * @param verifyNextSync whether the next sync must compare every block with its target: the state
   *     asks for it, or what was found cannot bound what changed
   * @param history the saved history (every target's generation, what each generation changed);
   *     what a target at generation g lacks is {@code dirty} plus the history since g
   */
  public record Recovered(
      DirtySet dirty,
      TrackedImage.Recovery recovery,
      boolean verifyNextSync,
      ChangeHistory.Saved history) {

    /**
     * What a target at {@code generation} is sent by its next sync, or null if that sync compares
     * every block (the history does not reach it, or a change no bit records happened since).
     */
    public DirtySet lacks(long generation) {
      ChangeHistory h = new ChangeHistory(dirty.geometry(), history);
      if (h.needsVerify(generation) || (recovery.requiresVerifiedSync() && generation >= 0)) {
        return null;
      }
      return dirty.union(DirtySet.of(dirty.geometry(), h.since(generation)));
    }
  }

  /**
   * Recovers {@code state}.
   *
   * @param log the activity log, read because {@code state} is unclean; null when it is clean
   * @param current the backing file now ({@link Fingerprint#UNKNOWN} when not known): its size
   *     bounds the log's extents with the saved size, and a contradicting fingerprint means the
   *     file changed while it was not served
   */
  public static Recovered recover(
      TrackerState state, ActivityLog.Contents log, Fingerprint current) {
    TrackedImage.Recovery recovery;
    DirtySet dirty = state.dirty();
    if (log != null) {
      long bound = Math.max(Math.max(0, current.size()), state.imageSize());
      dirty = dirty.union(log.blocks(state.geometry()).within(bound));
      // A damaged slot may have been the newer one, naming extents the valid one does not: the
      // log cannot bound what changed, so the next sync compares (docs/STATE.md, step 4).
      recovery =
          new TrackedImage.Recovery(
              log.damagedSlot()
                  ? TrackedImage.Recovery.Kind.UNCLEAN_DAMAGED_LOG
                  : TrackedImage.Recovery.Kind.UNCLEAN,
              dirty.blockCount() - state.dirty().blockCount(),
              log.extents().length);
    } else if (state.fingerprint().contradicts(current)) {
      // Something wrote the file while it was not served: no bitmap can say what.
      recovery = new TrackedImage.Recovery(TrackedImage.Recovery.Kind.CHANGED_OUTSIDE, 0, 0);
    } else {
      recovery = new TrackedImage.Recovery(TrackedImage.Recovery.Kind.CLEAN, 0, 0);
    }
    return new Recovered(
        dirty,
        recovery,
        state.verifyNextSync() || recovery.requiresVerifiedSync(),
        state.history());
  }

  /**
   * What recovery would find for a saved state (for status when nothing is mounted).
   *
   * @throws CorruptStateException if the state is unclean and its activity log unreadable
   */
  public static Recovered recover(Path stateDir, String imageName, TrackerState state)
      throws IOException {
    return recover(new StateFiles(FileStateIo.INSTANCE, stateDir), imageName, state);
  }

  /**
   * What a mount would recover for {@code imageName} from the state behind {@code io}, without
   * serving anything (what the crash simulator checks).
   *
   * @return empty when the image has no state
   * @throws CorruptStateException if the state cannot be trusted
   */
  public static Optional<Recovered> recover(StateIo io, Path stateDir, String imageName)
      throws IOException {
    StateFiles files = new StateFiles(io, stateDir);
    Optional<TrackerState> state = files.read(imageName);
    if (state.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(recover(files, imageName, state.get()));
  }

  static Recovered recover(StateFiles files, String imageName, TrackerState state)
      throws IOException {
    ActivityLog.Contents log = state.clean() ? null : files.readLog(imageName, state);
    return recover(state, log, Fingerprint.UNKNOWN);
  }
}
