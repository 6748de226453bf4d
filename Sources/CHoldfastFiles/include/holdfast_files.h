// System calls and zlib set-up that Swift cannot reach directly: glibc 2.36 has no wrapper for
// openat2(2), Swift's Glibc module hides renameat2(2), and zlib's deflateInit2 is a macro.
#ifndef HOLDFAST_FILES_H
#define HOLDFAST_FILES_H

#include <stdint.h>
#include <zlib.h>

/// openat2(2) with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV`, plus
/// `RESOLVE_NO_SYMLINKS` when `no_symlinks` is set: `path` is resolved inside `dirfd` and never
/// leaves it (an absolute link, a `..` above it or a mount crossing fails with EXDEV).
/// Returns the descriptor, or -1 with errno set.
int holdfast_open_beneath(int dirfd, const char *path, uint64_t flags, uint64_t mode, int no_symlinks);

/// renameat2(2); `no_replace` adds RENAME_NOREPLACE (EEXIST rather than replace the target).
int holdfast_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int no_replace);

/// deflateInit2 for a gzip stream (window bits 15 + 16) at `level`.
int holdfast_gzip_init(z_stream *stream, int level);

#endif
