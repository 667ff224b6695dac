/* The lock of a run's output directory: one training run at a time writes
 * there. An flock(2) on DIR/.gmcnn-lock, which the kernel releases when the
 * process ends however it ends, so a crash never leaves a stale lock; the
 * file holds the owner's process id for the message a second run gets.
 * And the check that an output is not an input (gm_same_file). */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "gmcnn/io.h"

bool gm_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

gm_status gm_output_dir_lock(const char *dir, int *fd_out) {
    GM_RETURN_ERROR_IF(!dir || !fd_out, GM_ERR_INVALID_ARG,
                       "gm_output_dir_lock: dir and fd_out are required");
    *fd_out = -1;
    char path[4096];
    GM_RETURN_ERROR_IF((size_t)snprintf(path, sizeof path, "%s/" GM_OUTPUT_DIR_LOCK, dir) >=
                           sizeof path,
                       GM_ERR_INVALID_ARG, "output directory '%.200s...': path too long", dir);
    const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    GM_RETURN_ERROR_IF(fd < 0, GM_ERR_IO, "output directory '%s': cannot create %s: %s", dir,
                       GM_OUTPUT_DIR_LOCK, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char pid[32] = {0};
        const ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        GM_RETURN_ERROR_IF(e == EWOULDBLOCK, GM_ERR_BUSY,
                           "output directory '%s' is in use by another run (process %s); wait "
                           "for it to end or choose another output directory",
                           dir, pid[0] ? pid : "unknown");
        return gm_error_set(GM_ERR_IO, "output directory '%s': cannot lock %s: %s", dir,
                            GM_OUTPUT_DIR_LOCK, strerror(e));
    }
    char pid[32];
    const int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        const int e = errno;
        close(fd);
        return gm_error_set(GM_ERR_IO, "output directory '%s': cannot write %s: %s", dir,
                            GM_OUTPUT_DIR_LOCK, strerror(e));
    }
    *fd_out = fd;
    return GM_OK;
}

void gm_output_dir_unlock(int fd) {
    if (fd >= 0) close(fd);
}
