/* Outputs never overwrite inputs: the same file is the same device and
 * inode, however the two paths spell it. */
#include <sys/stat.h>

#include "cli.h"

bool cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
