/* NORB / smallNORB "binary matrix" files: int32 magic (element type), int32
 * ndim, max(ndim, 3) int32 dimensions, elements; all little-endian. The
 * header always has room for three dimensions, so a vector file still
 * carries two unused ones. */
#include <string.h>

#include "data/data_internal.h"

static gm_status norb_read_src(gm__src *s, gm_array *out) {
    unsigned char hdr[8];
    GM_FORWARD_IF_ERROR(gm__src_read_exact(s, hdr, 4, "magic"));
    uint32_t magic = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
                     (uint32_t)hdr[3] << 24;
    gm__elem e;
    switch (magic) {
    case 0x1E3D4C55: e = GM__ELEM_U8; break;
    case 0x1E3D4C54: e = GM__ELEM_I32; break;
    case 0x1E3D4C56: e = GM__ELEM_I16; break;
    case 0x1E3D4C51: e = GM__ELEM_F32; break;
    case 0x1E3D4C53: e = GM__ELEM_F64; break;
    case 0x1E3D4C52:
        return gm__src_fail(s, GM_ERR_UNSUPPORTED, 0, "packed matrices (magic 0x1E3D4C52) "
                                                      "are not supported");
    default:
        return gm__src_fail(s, GM_ERR_FORMAT, 0,
                            "bad magic 0x%08X (not a NORB binary matrix: expected 0x1E3D4C51, "
                            "0x1E3D4C53, 0x1E3D4C54, 0x1E3D4C55 or 0x1E3D4C56)",
                            (unsigned)magic);
    }
    GM_FORWARD_IF_ERROR(gm__src_read_exact(s, hdr + 4, 4, "ndim"));
    int32_t ndim = (int32_t)((uint32_t)hdr[4] | (uint32_t)hdr[5] << 8 | (uint32_t)hdr[6] << 16 |
                             (uint32_t)hdr[7] << 24);
    if (ndim < 0 || ndim > GM_ARRAY_MAX_DIMS) {
        return gm__src_fail(s, GM_ERR_FORMAT, 4, "ndim %d outside 0..%d", (int)ndim,
                            GM_ARRAY_MAX_DIMS);
    }
    int stored = ndim < 3 ? 3 : ndim;
    unsigned char dims[4 * GM_ARRAY_MAX_DIMS];
    GM_FORWARD_IF_ERROR(gm__src_read_exact(s, dims, 4 * (size_t)stored, "dimensions"));
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        const unsigned char *p = dims + 4 * d;
        int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
        if (v < 0) {
            return gm__src_fail(s, GM_ERR_FORMAT, 8 + 4 * d, "dimension %d is negative (%d)",
                                d + 1, (int)v);
        }
        out->shape[d] = v;
    }
    return gm__src_read_shaped(s, e, 0, 8, out);
}

gm_status gm_norb_read(const char *path, gm_array *out) {
    GM_RETURN_ERROR_IF(!path || !out, GM_ERR_INVALID_ARG, "gm_norb_read: NULL argument");
    return gm__src_read_array("norb", path, norb_read_src, out);
}
