#define _GNU_SOURCE
#include "holdfast_files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int holdfast_open_beneath(int dirfd, const char *path, uint64_t flags, uint64_t mode, int no_symlinks) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags | O_CLOEXEC;
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    if (no_symlinks) how.resolve |= RESOLVE_NO_SYMLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int holdfast_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int no_replace) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, no_replace ? RENAME_NOREPLACE : 0);
}

int holdfast_gzip_init(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
