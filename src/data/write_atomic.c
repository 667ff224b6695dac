/* Atomic file replacement, the one implementation every writer of the
 * library uses (data_internal.h): a temporary "<path>.tmp.XXXXXX" beside the
 * file, written, flushed to disk and renamed over it. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "data/data_internal.h"

/* Permission bits a plain fopen(path, "w") would produce: those of the file
 * being replaced, or 0666 less the umask. umask() can only be read by setting
 * it, so it is briefly set to the most restrictive value and restored, which
 * errs on the private side should another thread create a file meanwhile. */
static mode_t target_mode(const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return sb.st_mode & 07777;
    mode_t mask = umask(077);
    umask(mask);
    return 0666 & ~mask;
}

int gm__data_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (w == 0) return EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

gm_status gm__data_write_atomic(const char *kind, const char *path, gm__data_writer write_fn,
                                void *ctx) {
    static const char suffix[] = ".tmp.XXXXXX";
    size_t path_len = strlen(path);
    char *tmp = gm_malloc(path_len + sizeof suffix);
    if (!tmp) return gm__nomem("temporary path");
    memcpy(tmp, path, path_len);
    memcpy(tmp + path_len, suffix, sizeof suffix);

    mode_t mode = target_mode(path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int err = errno;
        gm_free(tmp);
        return gm_error_set(GM_ERR_IO, "%s file '%s': cannot create a temporary file: %s", kind,
                            path, strerror(err));
    }
    /* A failed chmod leaves the file private (mkstemp's 0600), which is safe. */
    (void)fchmod(fd, mode);
    gm_status st = write_fn(fd, tmp, ctx);
    /* Without fsync the rename can reach the disk before the data does, and a
     * crash would leave an empty or partial file under the final name. */
    if (st == GM_OK && fsync(fd) != 0) {
        st = gm_error_set(GM_ERR_IO, "%s file '%s': write failed: %s", kind, tmp,
                          strerror(errno));
    }
    if (close(fd) != 0 && st == GM_OK) {
        st = gm_error_set(GM_ERR_IO, "%s file '%s': write failed: %s", kind, tmp,
                          strerror(errno));
    }
    if (st == GM_OK) {
        char point[64];
        snprintf(point, sizeof point, "%s.rename", kind);
        gm__failpoint(point);
    }
    if (st == GM_OK && rename(tmp, path) != 0) {
        st = gm_error_set(GM_ERR_IO, "%s file '%s': cannot rename '%s' over it: %s", kind, path,
                          tmp, strerror(errno));
    }
    if (st != GM_OK) remove(tmp);
    gm_free(tmp);
    return st;
}

typedef struct gm__text {
    const char *label, *text;
    size_t len;
} gm__text;

static gm_status write_text(int fd, const char *tmp, void *ctx) {
    const gm__text *t = ctx;
    const int err = gm__data_write_all(fd, t->text, t->len);
    GM_RETURN_ERROR_IF(err != 0, GM_ERR_IO, "%s '%s': write failed: %s", t->label, tmp,
                       strerror(err));
    return GM_OK;
}

gm_status gm__data_write_text_atomic(const char *kind, const char *label, const char *path,
                                     const char *text, size_t len) {
    gm__text t = {label, text, len};
    return gm__data_write_atomic(kind, path, write_text, &t);
}
