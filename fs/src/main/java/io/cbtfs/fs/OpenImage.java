package io.cbtfs.fs;

import io.cbtfs.tracker.TrackedImage;

/**
 * One FUSE open of an image: the backing file descriptor, opened once and used for every read and
 * write of this handle, and the tracking of the image (shared by all handles of it).
 */
public record OpenImage(String imageName, int fd, TrackedImage image) {}
