package io.cbtfs.cli;

import io.cbtfs.syncer.SyncReport;
import java.util.List;

/**
 * What a consistency group's sync did: the reports of the images that committed, in the group's
 * order, and, if one failed, why (naming it). The images after the committed ones were not synced:
 * their targets keep their generations and their blocks stay dirty.
 *
 * @param failure empty when every image committed
 */
record GroupReport(List<SyncReport> committed, String failure) {
  GroupReport {
    committed = List.copyOf(committed);
  }
}
