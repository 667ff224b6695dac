/* The JSON header of a safetensors file, parsed by jansson after a lexical
 * pass that fixes where errors are reported and sets aside what JSON allows
 * but safetensors does not (control characters, \u0000, numbers that are not
 * plain integers), which is rejected after the parse. Header numbers are
 * doubles, so shapes and offsets are limited to integers below 2^53. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core_internal.h"
#include "io/safetensors_internal.h"

/* ---- reading: the header's JSON ------------------------------------------ */

/* Header numbers are read as doubles, exact only below 2^53, so larger shapes
 * and offsets are refused rather than read rounded. */
#define ST_MAX_JSON_INT 9007199254740992.0

/* Nesting deeper than this is a syntax error at the opening bracket. */
#define ST_MAX_DEPTH 1000

static gm_status st_fail_at(const char *path, size_t pos, const char *fmt, ...) GM_PRINTF(3, 4);

/* An error at a header offset; file offsets count the 8-byte size. */
static gm_status st_fail_at(const char *path, size_t pos, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gm_error_set(GM_ERR_FORMAT, "safetensors '%s' at byte %zu: %s", path, pos + 8, msg);
}

static bool st_is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool st_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool st_is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
/* The characters a number is made of. */
static bool st_is_numeric(unsigned char c) {
    return st_is_digit(c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

static int st_hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s, or 0 when one of them is not a hex digit. */
static unsigned st_hex4(const unsigned char *s) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        const int h = st_hex_digit(s[k]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    return v;
}

/* The reader's rules for the JSON of a header, beyond the grammar that
 * jansson checks:
 *
 * - A syntax error is reported at the byte where the offending token starts;
 *   in a string at the escape that is wrong (a \u escape needs its four
 *   characters, and a surrogate its partner, before the closing quote); in a
 *   string that never closes just after its opening quote; at the end of the
 *   header at its last byte. Nesting deeper than ST_MAX_DEPTH is an error at
 *   the opening bracket. A number is the longest prefix of its run of
 *   characters from "0123456789+-.eE" that strtod reads; the rest of the run
 *   is a syntax error.
 * - Lexemes that are not what a header may hold are reported after the
 *   parse, so that a syntax error anywhere comes first: control characters
 *   (between tokens too), \u escapes with bad hex digits or for U+0000, and
 *   numbers other than plain non-negative integers ("01", "1.0", "4e0",
 *   "-0", "1."). For the parse they count as whitespace, a string and the
 *   number 0.
 *
 * st_lex_scan applies them to the header: `text` is what jansson parses,
 * cut short (and ended by a token that keeps its place in the grammar) at
 * the first lexeme that fails, whose error is then at `cut_at`. */
typedef enum st_fault {
    ST_FAULT_NONE,
    ST_FAULT_CONTROL_IN_STRING,
    ST_FAULT_HEX_ESCAPE,
    ST_FAULT_NUL_ESCAPE,
    ST_FAULT_NEGATIVE,
    ST_FAULT_NOT_INTEGER,
    ST_FAULT_LEADING_ZERO,
    ST_FAULT_CONTROL_OUTSIDE
} st_fault;

typedef struct st_lex {
    char *text; /* what jansson parses (gm_free it) */
    size_t len;
    bool cut;      /* text stops at a lexeme that fails */
    size_t cut_at; /* its error's offset in the header */
    st_fault fault; /* the first lexeme a header may not hold */
    size_t fault_at;
    unsigned char fault_byte;
} st_lex;

static void st_lex_fault(st_lex *lx, st_fault f, size_t at, unsigned char byte) {
    if (lx->fault != ST_FAULT_NONE) return;
    lx->fault = f;
    lx->fault_at = at;
    lx->fault_byte = byte;
}

/* Where the escapes of the string s[b..e) (between its quotes) fail, or
 * SIZE_MAX. A \u escape with bad hex digits passes here (as U+0000); the
 * lexeme check rejects it. */
static size_t st_string_error(const unsigned char *s, size_t b, size_t e) {
    for (size_t p = b; p < e;) {
        if (s[p] != '\\') {
            p++;
            continue;
        }
        const unsigned char c = s[p + 1];
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
            c == 't') {
            p += 2;
            continue;
        }
        if (c != 'u' || e - p < 6) return p;
        const unsigned hi = st_hex4(s + p + 2);
        if (hi >= 0xdc00 && hi <= 0xdfff) return p;
        if (hi >= 0xd800 && hi <= 0xdbff) {
            if (e - p < 12 || s[p + 6] != '\\' || s[p + 7] != 'u') return p;
            const unsigned lo = st_hex4(s + p + 8);
            if (lo < 0xdc00 || lo > 0xdfff) return p;
            p += 12;
        } else {
            p += 6;
        }
    }
    return SIZE_MAX;
}

/* Records the first lexeme fault of the string s[b..e); true when it has one. */
static bool st_string_fault(st_lex *lx, const unsigned char *s, size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
        if (s[i] < 0x20) {
            st_lex_fault(lx, ST_FAULT_CONTROL_IN_STRING, i, s[i]);
            return true;
        }
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u') {
            unsigned cp = 0;
            for (size_t k = i + 2; k < i + 6; k++) {
                const int h = st_hex_digit(s[k]);
                if (h < 0) {
                    st_lex_fault(lx, ST_FAULT_HEX_ESCAPE, i, 0);
                    return true;
                }
                cp = cp * 16 + (unsigned)h;
            }
            if (cp == 0) {
                st_lex_fault(lx, ST_FAULT_NUL_ESCAPE, i, 0);
                return true;
            }
        }
        i++;
    }
    return false;
}

/* Ends lx->text at `at` with `tail` (a token that stands where the failing
 * lexeme stood), the error lying at `err`. */
static void st_lex_cut(st_lex *lx, size_t at, const char *tail, size_t err) {
    const size_t k = strlen(tail);
    memcpy(lx->text + at, tail, k);
    lx->len = at + k;
    lx->cut = true;
    lx->cut_at = err;
}

/* Applies the rules above to the header s[0..n), valid UTF-8 without NUL
 * bytes. */
static gm_status st_lex_scan(const unsigned char *s, size_t n, st_lex *lx) {
    *lx = (st_lex){.text = gm_malloc(n + 2), .len = n};
    if (!lx->text) return gm__nomem("safetensors header");
    memcpy(lx->text, s, n);
    size_t depth = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
            if (j >= n) {
                st_lex_cut(lx, i, "\"\"", i + 1);
                return GM_OK;
            }
            const size_t bad = st_string_error(s, i + 1, j);
            if (bad != SIZE_MAX) {
                st_lex_cut(lx, i, "\"\"", bad);
                return GM_OK;
            }
            if (st_string_fault(lx, s, i + 1, j)) memset(lx->text + i + 1, 'x', j - i - 1);
            i = j + 1;
        } else if (c == '-' || st_is_digit(c)) {
            size_t r = i;
            while (r < n && st_is_numeric(s[r])) r++;
            /* strtod reads the number from a copy of the run, which may not
             * be all number. */
            char small[64], *num = r - i < sizeof small ? small : gm_malloc(r - i + 1);
            if (!num) {
                gm_free(lx->text);
                lx->text = NULL;
                return gm__nomem("safetensors header number");
            }
            memcpy(num, s + i, r - i);
            num[r - i] = '\0';
            char *end = num;
            const double value = strtod(num, &end);
            const size_t used = (size_t)(end - num);
            if (num != small) gm_free(num);
            if (used == 0 || used < r - i) {
                st_lex_cut(lx, i, "0", i + used);
                return GM_OK;
            }
            bool integral = true;
            for (size_t k = i; k < r; k++) integral = integral && st_is_digit(s[k]);
            const st_fault f = c == '-'                  ? ST_FAULT_NEGATIVE
                               : !integral               ? ST_FAULT_NOT_INTEGER
                               : c == '0' && r - i > 1 ? ST_FAULT_LEADING_ZERO
                                                         : ST_FAULT_NONE;
            if (f != ST_FAULT_NONE) {
                st_lex_fault(lx, f, i, 0);
                lx->text[i] = '0';
                memset(lx->text + i + 1, ' ', r - i - 1);
            } else if (isinf(value)) {
                /* Too large for a double, and so for a header (jansson
                 * refuses it): 2^53 stands in. */
                static const char big[] = "9007199254740992";
                memcpy(lx->text + i, big, sizeof big - 1);
                memset(lx->text + i + sizeof big - 1, ' ', r - i - (sizeof big - 1));
            }
            i = r;
        } else if (st_is_alpha(c)) {
            size_t r = i;
            while (r < n && st_is_alpha(s[r])) r++;
            size_t lit = 0;
            if (n - i >= 4 && (!memcmp(s + i, "null", 4) || !memcmp(s + i, "true", 4))) lit = 4;
            if (n - i >= 5 && !memcmp(s + i, "false", 5)) lit = 5;
            if (lit && r > i + lit) {
                st_lex_cut(lx, i + lit, "", i + lit);
                return GM_OK;
            }
            i = r;
        } else {
            if (c == '{' || c == '[') {
                if (++depth > ST_MAX_DEPTH) {
                    const char bracket[2] = {(char)c, '\0'};
                    st_lex_cut(lx, i, bracket, i);
                    return GM_OK;
                }
            } else if ((c == '}' || c == ']') && depth > 0) {
                depth--;
            } else if (c < 0x20 && !st_is_ws(c)) {
                st_lex_fault(lx, ST_FAULT_CONTROL_OUTSIDE, i, c);
                lx->text[i] = ' ';
            }
            i++;
        }
    }
    return GM_OK;
}

/* Where a syntax error that jansson reports just after the token of
 * text[0..len) ending at `end` lies: at the start of that token, or one byte
 * later when it stands where an object key belongs. */
static size_t st_syntax_error_at(const char *text, size_t len, size_t end) {
    const unsigned char *t = (const unsigned char *)text;
    unsigned char open[ST_MAX_DEPTH + 1]; /* the brackets around the token */
    size_t depth = 0;
    bool key_next = false;
    for (size_t i = 0; i < len;) {
        if (st_is_ws(t[i])) {
            i++;
            continue;
        }
        const size_t start = i++;
        const unsigned char c = t[start];
        if (c == '"') {
            while (i < len && t[i] != '"') i += t[i] == '\\' ? 2 : 1;
            i++;
        } else if (c == '-' || st_is_digit(c)) {
            while (i < len && st_is_digit(t[i])) i++;
        } else if (st_is_alpha(c)) {
            while (i < len && st_is_alpha(t[i])) i++;
        } else if (c >= 0xc0) {
            while (i < len && (t[i] & 0xc0) == 0x80) i++;
        }
        if (i >= end) return start + (key_next && c != '"');
        if (c == '{' || c == '[') {
            if (depth < sizeof open) open[depth] = c;
            depth++;
            key_next = c == '{';
        } else if (c == '}' || c == ']') {
            depth -= depth > 0;
            key_next = false;
        } else {
            key_next = c == ',' && depth > 0 && depth <= sizeof open && open[depth - 1] == '{';
        }
    }
    return end;
}

static gm_status st_lex_report(const char *path, const st_lex *lx) {
    const size_t at = lx->fault_at;
    switch (lx->fault) {
    case ST_FAULT_NONE: return GM_OK;
    case ST_FAULT_CONTROL_IN_STRING:
        return st_fail_at(path, at, "control character 0x%02x inside a string", lx->fault_byte);
    case ST_FAULT_HEX_ESCAPE: return st_fail_at(path, at, "invalid \\u escape in a string");
    case ST_FAULT_NUL_ESCAPE: return st_fail_at(path, at, "U+0000 inside a string");
    case ST_FAULT_NEGATIVE: return st_fail_at(path, at, "numbers must be non-negative integers");
    case ST_FAULT_NOT_INTEGER: return st_fail_at(path, at, "a number must be an integer");
    case ST_FAULT_LEADING_ZERO: return st_fail_at(path, at, "integer with a leading zero");
    case ST_FAULT_CONTROL_OUTSIDE:
        return st_fail_at(path, at, "control character 0x%02x outside a string", lx->fault_byte);
    }
    return GM_OK;
}

/* ---- reading: the header's members --------------------------------------- */

/* jansson keeps one value per key, so the members of the header and of its
 * objects are listed from the text, which has parsed: every duplicate is
 * seen (and reported) in its place. Values are decoded by jansson. */
typedef struct st_span {
    size_t b, e;
} st_span;

/* The end of the JSON value that starts at s[i]. */
static size_t st_skip_value(const unsigned char *s, size_t n, size_t i) {
    if (s[i] == '"') {
        for (i++; s[i] != '"'; i++)
            if (s[i] == '\\') i++;
        return i + 1;
    }
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        do {
            if (s[i] == '"') {
                i = st_skip_value(s, n, i);
                continue;
            }
            if (s[i] == '{' || s[i] == '[') depth++;
            if (s[i] == '}' || s[i] == ']') depth--;
            i++;
        } while (depth > 0);
        return i;
    }
    while (i < n && !st_is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']') i++;
    return i;
}

static size_t st_skip_ws(const unsigned char *s, size_t n, size_t i) {
    while (i < n && st_is_ws(s[i])) i++;
    return i;
}

/* The members of an object, in order: *pos starts at its '{'. */
static bool st_next_member(const unsigned char *s, size_t n, size_t *pos, st_span *key,
                           st_span *value) {
    if (s[*pos] == '}') return false;
    const size_t i = st_skip_ws(s, n, *pos + 1);
    if (s[i] == '}') {
        *pos = i;
        return false;
    }
    key->b = i;
    key->e = st_skip_value(s, n, i);
    value->b = st_skip_ws(s, n, st_skip_ws(s, n, key->e) + 1);
    value->e = st_skip_value(s, n, value->b);
    *pos = st_skip_ws(s, n, value->e); /* at the ',' or the '}' */
    return true;
}

static size_t st_count_members(const unsigned char *s, size_t n, size_t at) {
    size_t count = 0;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) count++;
    return count;
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *q = gm_malloc(n);
    if (q) memcpy(q, s, n);
    return q;
}

/* The value s[span] as jansson reads it (numbers as doubles); NULL only when
 * memory runs out, since the text has parsed. */
static json_t *st_decode(const unsigned char *s, st_span span) {
    return json_loadb((const char *)s + span.b, span.e - span.b,
                      JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
}

/* The string s[span] into *out (gm_free it). */
static gm_status st_decode_string(const unsigned char *s, st_span span, char **out) {
    json_t *v = st_decode(s, span);
    *out = v ? st_strdup(json_string_value(v)) : NULL;
    json_decref(v);
    if (!*out) return gm__nomem("safetensors header string");
    return GM_OK;
}

/* A non-negative integer below 2^53 from a JSON number. */
static gm_status st_json_uint(const char *path, const char *name, const json_t *v,
                              const char *what, uint64_t *out) {
    GM_RETURN_ERROR_IF(!json_is_number(v), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT "': expected an integer (%s)",
                       path, name, what);
    double d = json_number_value(v);
    GM_RETURN_ERROR_IF(!(d >= 0), GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT
                       "': %s must be a non-negative integer",
                       path, name, what);
    GM_RETURN_ERROR_IF(d >= ST_MAX_JSON_INT, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT "': %s is too large (2^53 or "
                       "more)",
                       path, name, what);
    GM_RETURN_ERROR_IF(d != (double)(int64_t)d, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT "': %s must be an integer", path,
                       name, what);
    *out = (uint64_t)d;
    return GM_OK;
}

/* The integers of the JSON array s[span] (member `key`) into
 * vals[0..*count); more than max values sets *count to max + 1 after
 * checking them all. */
static gm_status st_json_uint_array(const char *path, const char *name, const unsigned char *s,
                                    st_span span, const char *key, const char *what,
                                    uint64_t *vals, int max, int *count) {
    *count = 0;
    json_t *arr = st_decode(s, span);
    if (!arr) return gm__nomem("safetensors header array");
    gm_status st = GM_OK;
    if (!json_is_array(arr)) {
        st = gm_error_set(GM_ERR_FORMAT,
                          "safetensors '%s' tensor '" GM__ST_NAME_FMT "': %s is not an array", path,
                          name, key);
    }
    for (size_t i = 0; st == GM_OK && i < json_array_size(arr); i++) {
        uint64_t x = 0;
        st = st_json_uint(path, name, json_array_get(arr, i), what, &x);
        if (*count < max) vals[*count] = x;
        if (*count <= max) (*count)++;
    }
    json_decref(arr);
    return st;
}

static gm_status st_read_metadata(const char *path, const unsigned char *s, size_t n,
                                  st_span meta, gm_safetensors *st) {
    GM_RETURN_ERROR_IF(s[meta.b] != '{', GM_ERR_FORMAT,
                       "safetensors '%s': __metadata__ is not an object", path);
    const size_t count = st_count_members(s, n, meta.b);
    if (count == 0) return GM_OK;
    st->meta = gm_malloc_array(2 * count, sizeof *st->meta);
    if (!st->meta) return gm__nomem("safetensors metadata");
    size_t at = meta.b;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) {
        char *key = NULL;
        GM_FORWARD_IF_ERROR(st_decode_string(s, k, &key));
        json_t *value = st_decode(s, v);
        gm_status fail = GM_OK;
        if (!value) {
            fail = gm__nomem("safetensors metadata");
        } else if (!json_is_string(value)) {
            fail = gm_error_set(GM_ERR_FORMAT,
                                "safetensors '%s': __metadata__ value of '" GM__ST_NAME_FMT
                                "' is not a string",
                                path, key);
        }
        char **pair = st->meta + 2 * st->nmeta;
        if (fail == GM_OK) {
            pair[0] = key;
            pair[1] = st_strdup(json_string_value(value));
            if (!pair[1]) fail = gm__nomem("safetensors metadata");
        }
        json_decref(value);
        if (fail != GM_OK) {
            gm_free(key);
            return fail;
        }
        st->nmeta++;
    }
    return GM_OK;
}

/* One tensor's {"dtype", "shape", "data_offsets"} (s[entry]) into it, which
 * already holds the name. */
static gm_status st_read_tensor(const char *path, const unsigned char *s, size_t n,
                                st_span entry, st_item *it) {
    const char *name = it->name;
    GM_RETURN_ERROR_IF(s[entry.b] != '{', GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT "': the tensor entry is not an "
                       "object",
                       path, name);
    st_span dtype = {0}, shape = {0}, offsets = {0};
    size_t at = entry.b;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) {
        char *key = NULL;
        GM_FORWARD_IF_ERROR(st_decode_string(s, k, &key));
        st_span *slot = strcmp(key, "dtype") == 0          ? &dtype
                        : strcmp(key, "shape") == 0        ? &shape
                        : strcmp(key, "data_offsets") == 0 ? &offsets
                                                           : NULL;
        if (!slot || slot->e) {
            const gm_status fail = gm_error_set(
                GM_ERR_FORMAT,
                "safetensors '%s' tensor '" GM__ST_NAME_FMT "': %s key '" GM__ST_NAME_FMT "'", path,
                name, slot ? "duplicate" : "unknown", key);
            gm_free(key);
            return fail;
        }
        gm_free(key);
        *slot = v;
    }
    const char *missing = !dtype.e     ? "dtype"
                          : !shape.e   ? "shape"
                          : !offsets.e ? "data_offsets"
                                       : NULL;
    GM_RETURN_ERROR_IF(missing, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT "': entry has no '%s'", path,
                       name, missing);

    GM_RETURN_ERROR_IF(s[dtype.b] != '"', GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT "': dtype is not a string", path,
                       name);
    char *dt = NULL;
    GM_FORWARD_IF_ERROR(st_decode_string(s, dtype, &dt));
    const int kind = gm__st_dtype_parse(dt, &it->e.dtype);
    gm_status fail = GM_OK;
    if (kind < 0) {
        fail = gm_error_set(GM_ERR_FORMAT,
                            "safetensors '%s' tensor '" GM__ST_NAME_FMT "': unknown dtype '%.40s'",
                            path, name, dt);
    } else if (kind == 0) {
        fail = gm_error_set(GM_ERR_UNSUPPORTED,
                            "safetensors '%s' tensor '" GM__ST_NAME_FMT
                            "': dtype %.40s is not supported (F32, F64, I32, I64 and U8 are)",
                            path, name, dt);
    }
    gm_free(dt);
    GM_FORWARD_IF_ERROR(fail);

    uint64_t dims[GM_ST_MAX_DIMS];
    int nd = 0;
    GM_FORWARD_IF_ERROR(st_json_uint_array(path, name, s, shape, "shape", "a shape dimension",
                                           dims, GM_ST_MAX_DIMS, &nd));
    GM_RETURN_ERROR_IF(nd > GM_ST_MAX_DIMS, GM_ERR_UNSUPPORTED,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT
                       "': more than %d dimensions are not supported",
                       path, name, GM_ST_MAX_DIMS);
    it->e.ndim = nd;
    for (int d = 0; d < nd; d++) it->e.shape[d] = (int64_t)dims[d];

    uint64_t offs[2] = {0, 0};
    int nv = 0;
    GM_FORWARD_IF_ERROR(st_json_uint_array(path, name, s, offsets, "data_offsets",
                                           "data_offsets", offs, 2, &nv));
    GM_RETURN_ERROR_IF(nv != 2, GM_ERR_FORMAT,
                       "safetensors '%s' tensor '" GM__ST_NAME_FMT
                       "': data_offsets must hold two integers, not %s",
                       path, name, nv > 2 ? "more" : nv == 1 ? "one" : "none");
    it->begin = offs[0];
    it->end = offs[1];
    return GM_OK;
}

/* The members of the header object at s[root] in order. */
static gm_status st_read_members(const char *path, const unsigned char *s, size_t n,
                                 size_t root, gm_safetensors *st) {
    const size_t count = st_count_members(s, n, root);
    if (count > 0) {
        st->items = gm_malloc_array(count, sizeof *st->items);
        if (!st->items) return gm__nomem("safetensors tensor list");
    }
    bool have_meta = false;
    size_t at = root;
    st_span k, v;
    while (st_next_member(s, n, &at, &k, &v)) {
        char *name = NULL;
        GM_FORWARD_IF_ERROR(st_decode_string(s, k, &name));
        if (strcmp(name, "__metadata__") == 0) {
            gm_free(name);
            GM_RETURN_ERROR_IF(have_meta, GM_ERR_FORMAT,
                               "safetensors '%s': __metadata__ appears twice", path);
            have_meta = true;
            GM_FORWARD_IF_ERROR(st_read_metadata(path, s, n, v, st));
            continue;
        }
        if (name[0] == '\0') {
            gm_free(name);
            return gm_error_set(GM_ERR_FORMAT, "safetensors '%s': empty tensor name", path);
        }
        st_item *it = &st->items[st->n++];
        *it = (st_item){.name = name};
        it->e.name = name;
        GM_FORWARD_IF_ERROR(st_read_tensor(path, s, n, v, it));
    }
    return GM_OK;
}

/* Parses hdr[0..len), which is valid UTF-8 without NUL bytes, into st. */
gm_status gm__st_parse_header(const char *path, const unsigned char *hdr, size_t len,
                                 gm_safetensors *st) {
    size_t i = 0;
    while (i < len && st_is_ws(hdr[i])) i++;
    if (i == len || hdr[i] != '{') return st_fail_at(path, i, "the header is not a JSON object");
    const size_t root = i;
    st_lex lx;
    GM_FORWARD_IF_ERROR(st_lex_scan(hdr, len, &lx));
    json_error_t err;
    json_t *parsed = json_loadb(lx.text, lx.len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_INT_AS_REAL,
                                &err);
    gm_status s = GM_OK;
    size_t stop = 0;
    if (!parsed && (!err.text[0] || json_error_code(&err) == json_error_out_of_memory)) {
        s = gm__nomem("safetensors header");
    } else if (!parsed) {
        size_t at = json_error_code(&err) == json_error_premature_end_of_input
                        ? (lx.cut ? lx.cut_at : len)
                        : st_syntax_error_at(lx.text, lx.len, (size_t)err.position);
        if (at >= len) at = len - 1; /* the end of the header is its last byte */
        s = st_fail_at(path, at, "the header is not valid JSON");
    } else {
        stop = (size_t)err.position;
        json_decref(parsed);
        for (i = stop; i < len && st_is_ws(hdr[i]); i++) {}
        if (i < len) {
            s = st_fail_at(path, i, "unexpected text after the header object");
        } else if (lx.fault != ST_FAULT_NONE && lx.fault_at < stop) {
            s = st_lex_report(path, &lx);
        } else {
            /* The lexed text, where a number too large for a double reads
             * as 2^53. */
            s = st_read_members(path, (const unsigned char *)lx.text, stop, root, st);
        }
    }
    gm_free(lx.text);
    return s;
}
