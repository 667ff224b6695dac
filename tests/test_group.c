/* Groups: axioms of every constructor, the fixed orderings, element names,
 * the spec parser and the Cayley table reader (including malformed input),
 * large groups and out-of-memory behaviour. */
#include <jansson.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

/* Under AddressSanitizer a leak is only reported when the worker process
 * exits, after Criterion has recorded the test as passed (an assertion or
 * abort in a .fini hook does not fail it either), so every test ends with
 * leak_check(). */
#if defined(__SANITIZE_ADDRESS__)
#define GM_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GM_TEST_LSAN 1
#endif
#endif
#ifdef GM_TEST_LSAN
#include <sanitizer/lsan_interface.h>
static void leak_check(void) {
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (report above)");
}
#else
static void leak_check(void) {}
#endif

/* --- helpers ------------------------------------------------------------- */

/* Identity at 0, two-sided inverses, closure, Latin rows, associativity
 * (exhaustive for small orders, otherwise Light's test over the group's own
 * generators), and that the generators generate the group. */
static void check_axioms(const gm_group *g) {
    const int32_t n = (int32_t)gm_group_order(g);
    const char *name = gm_group_name(g);
    cr_assert(n >= 1, "%s: order %d", name, n);
    for (int32_t a = 0; a < n; a++) {
        const int32_t ia = gm_group_inv(g, a);
        cr_assert(ia >= 0 && ia < n, "%s: inv(%d) = %d out of range", name, a, ia);
        cr_assert_eq(gm_group_mul(g, 0, a), a, "%s: e*%d != %d", name, a, a);
        cr_assert_eq(gm_group_mul(g, a, 0), a, "%s: %d*e != %d", name, a, a);
        cr_assert_eq(gm_group_mul(g, a, ia), 0, "%s: %d * inv(%d) != e", name, a, a);
        cr_assert_eq(gm_group_mul(g, ia, a), 0, "%s: inv(%d) * %d != e", name, a, a);
    }
    if (n <= 256) {
        uint8_t *seen = gm_calloc((size_t)n, 1);
        for (int32_t a = 0; a < n; a++) {
            memset(seen, 0, (size_t)n);
            for (int32_t b = 0; b < n; b++) {
                const int32_t ab = gm_group_mul(g, a, b);
                cr_assert(ab >= 0 && ab < n, "%s: %d*%d = %d out of range", name, a, b, ab);
                cr_assert(!seen[ab]++, "%s: row %d repeats %d", name, a, ab);
            }
        }
        gm_free(seen);
    }
    if (n <= 48) {
        for (int32_t a = 0; a < n; a++)
            for (int32_t b = 0; b < n; b++)
                for (int32_t c = 0; c < n; c++)
                    cr_assert_eq(gm_group_mul(g, gm_group_mul(g, a, b), c),
                                 gm_group_mul(g, a, gm_group_mul(g, b, c)),
                                 "%s: (%d*%d)*%d != %d*(%d*%d)", name, a, b, c, a, b, c);
    } else {
        const int32_t step = n <= 256 ? 1 : n / 61;
        for (int64_t k = 0; k < gm_group_ngens(g); k++) {
            const int32_t s = gm_group_gens(g)[k];
            for (int32_t x = 0; x < n; x += step)
                for (int32_t y = 0; y < n; y += step)
                    cr_assert_eq(gm_group_mul(g, gm_group_mul(g, x, s), y),
                                 gm_group_mul(g, x, gm_group_mul(g, s, y)),
                                 "%s: (%d*%d)*%d != %d*(%d*%d)", name, x, s, y, x, s, y);
        }
    }
    /* The generators generate: breadth-first closure from e. */
    int32_t *queue = gm_malloc_array((size_t)n, sizeof *queue);
    uint8_t *in = gm_calloc((size_t)n, 1);
    int32_t count = 1;
    queue[0] = 0;
    in[0] = 1;
    for (int32_t i = 0; i < count; i++)
        for (int64_t k = 0; k < gm_group_ngens(g); k++) {
            const int32_t y = gm_group_mul(g, queue[i], gm_group_gens(g)[k]);
            if (!in[y]) {
                in[y] = 1;
                queue[count++] = y;
            }
        }
    cr_assert_eq(count, n, "%s: the generators generate %d of %d elements", name, count, n);
    for (int64_t k = 0; k < gm_group_ngens(g); k++)
        cr_assert_neq(gm_group_gens(g)[k], 0, "%s: the identity is listed as a generator", name);
    gm_free(queue);
    gm_free(in);
}

static gm_group *spec_axioms(const char *spec, int64_t order) {
    gm_group *g = ts_group(spec);
    cr_assert_eq(gm_group_order(g), order, "%s: order %lld, expected %lld", spec,
                 (long long)gm_group_order(g), (long long)order);
    check_axioms(g);
    return g;
}

static const char *elem_name(const gm_group *g, int32_t a) {
    static char buf[256];
    gm_group_element_name(g, a, buf, sizeof buf);
    return buf;
}

/* The element whose printed name is `name`, or -1. */
static int32_t find_elem(const gm_group *g, const char *name) {
    for (int32_t a = 0; a < gm_group_order(g); a++)
        if (strcmp(elem_name(g, a), name) == 0) return a;
    return -1;
}

static int32_t power(const gm_group *g, int32_t a, int64_t k) {
    int32_t x = 0;
    for (int64_t i = 0; i < k; i++) x = gm_group_mul(g, x, a);
    return x;
}

/* Expects `st` with a detail containing every non-NULL needle. */
static void expect_error(gm_status got, gm_status want, const char *what, const char *needle1,
                         const char *needle2) {
    const char *d = gm_error_detail();
    cr_assert_eq(got, want, "%s: status %s, expected %s (detail: %s)", what, gm_strerror(got),
                 gm_strerror(want), d);
    if (needle1) cr_assert(strstr(d, needle1), "%s: detail '%s' lacks '%s'", what, d, needle1);
    if (needle2) cr_assert(strstr(d, needle2), "%s: detail '%s' lacks '%s'", what, d, needle2);
    cr_assert(!strchr(d, '\n'), "%s: detail is not one line: %s", what, d);
}

/* --- arithmetic families ------------------------------------------------- */

Test(group, cyclic_axioms_and_formula) {
    for (int64_t n = 1; n <= 13; n++) {
        gm_group *g = NULL;
        cr_assert_eq(gm_group_cyclic_new(n, &g), GM_OK);
        cr_assert_eq(gm_group_order(g), n);
        cr_assert_eq(gm_group_kind_of(g), GM_GROUP_CYCLIC);
        check_axioms(g);
        for (int32_t a = 0; a < n; a++)
            for (int32_t b = 0; b < n; b++) cr_assert_eq(gm_group_mul(g, a, b), (a + b) % n);
        if (n > 1) cr_assert_eq(gm_group_element_order(g, 1), n);
        cr_assert(gm_group_is_abelian(g));
        gm_group_free(g);
    }
    leak_check();
}

Test(group, dihedral_axioms_and_spec_formula) {
    for (int64_t n = 1; n <= 12; n++) {
        gm_group *g = NULL;
        cr_assert_eq(gm_group_dihedral_new(n, &g), GM_OK);
        cr_assert_eq(gm_group_order(g), 2 * n);
        check_axioms(g);
        /* The dihedral convention: (f^a1 r^b1)(f^a2 r^b2) = f^(a1^a2) r^((a2 ? b2-b1 : b1+b2) mod n). */
        for (int32_t x = 0; x < 2 * n; x++)
            for (int32_t y = 0; y < 2 * n; y++) {
                const int64_t a1 = x >= n, b1 = x % n, a2 = y >= n, b2 = y % n;
                const int64_t r = ((a2 ? b2 - b1 : b1 + b2) % n + n) % n;
                cr_assert_eq(gm_group_mul(g, x, y), (a1 ^ a2) * n + r, "D%lld: %d*%d",
                             (long long)n, x, y);
            }
        for (int32_t p = 0; p < n; p++) {
            cr_assert_eq(gm_group_inv(g, p), (n - p) % n);
            cr_assert_eq(gm_group_inv(g, (int32_t)n + p), n + p);
            cr_assert_eq(gm_group_element_order(g, (int32_t)n + p), 2, "f*r^%d has order 2", p);
        }
        if (n >= 2) cr_assert_eq(gm_group_element_order(g, 1), n, "r has order n");
        cr_assert_eq(gm_group_is_abelian(g), n <= 2, "D%lld abelian iff n <= 2", (long long)n);
        gm_group_free(g);
    }
    leak_check();
}

Test(group, direct_products_are_row_major) {
    const struct {
        const char *spec;
        int64_t order;
    } cases[] = {{"C1xC1", 1}, {"C2xD3", 12}, {"D3xC4xC2", 48}, {"D2xS3", 24}, {"C1xD1", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_group *g = spec_axioms(cases[i].spec, cases[i].order);
        cr_assert_eq(gm_group_kind_of(g), GM_GROUP_PRODUCT);
        cr_assert_str_eq(gm_group_name(g), cases[i].spec);
        const gm_group *a = gm_group_factor(g, 0), *b = gm_group_factor(g, 1);
        cr_assert(a && b && !gm_group_factor(g, 2));
        const int32_t nb = (int32_t)gm_group_order(b);
        for (int32_t x = 0; x < cases[i].order; x++)
            for (int32_t y = 0; y < cases[i].order; y++) {
                const int32_t want = gm_group_mul(a, x / nb, y / nb) * nb +
                                     gm_group_mul(b, x % nb, y % nb);
                cr_assert_eq(gm_group_mul(g, x, y), want, "%s: %d*%d", cases[i].spec, x, y);
            }
        gm_group_free(g);
    }
    leak_check();
}

Test(group, wallpaper_groups_axioms) {
    for (int64_t n = 1; n <= 5; n++) {
        gm_group *p4 = NULL, *p4m = NULL;
        cr_assert_eq(gm_group_p4_new(n, &p4), GM_OK);
        cr_assert_eq(gm_group_p4m_new(n, &p4m), GM_OK);
        cr_assert_eq(gm_group_order(p4), 4 * n * n);
        cr_assert_eq(gm_group_order(p4m), 8 * n * n);
        cr_assert_eq(gm_group_param(p4), n);
        cr_assert_eq(gm_group_kind_of(p4m), GM_GROUP_SEMIDIRECT);
        check_axioms(p4);
        check_axioms(p4m);
        cr_assert_eq(gm_group_is_abelian(p4), n == 1, "p4:%lld abelian iff n = 1", (long long)n);
        cr_assert(!gm_group_is_abelian(p4m));
        gm_group_free(p4);
        gm_group_free(p4m);
    }
    leak_check();
}

/* (t, h) <-> h*n^2 + t with t = a*n + b the torus point (a, b). */
Test(group, p4_rotation_and_mirror_act_on_the_torus) {
    const int32_t n = 5, nn = n * n;
    gm_group *p4 = NULL, *p4m = NULL;
    cr_assert_eq(gm_group_p4_new(n, &p4), GM_OK);
    cr_assert_eq(gm_group_p4m_new(n, &p4m), GM_OK);
    const int32_t r = nn, f = 4 * nn; /* r = (0, r), f = (0, f) (D4 index 4) */
    cr_assert_eq(gm_group_element_order(p4, r), 4);
    cr_assert_eq(gm_group_element_order(p4m, f), 2);
    for (int32_t a = 0; a < n; a++)
        for (int32_t b = 0; b < n; b++) {
            const int32_t t = a * n + b;
            /* r (t, e) r^-1 = (r.t, e) with r.(a,b) = (-b, a). */
            const int32_t rt = gm_group_mul(p4, gm_group_mul(p4, r, t), gm_group_inv(p4, r));
            cr_assert_eq(rt, ((n - b) % n) * n + a, "p4: r.(%d,%d)", a, b);
            cr_assert_eq(gm_group_mul(p4m, gm_group_mul(p4m, r, t), gm_group_inv(p4m, r)),
                         ((n - b) % n) * n + a);
            /* f.(a,b) = (a, -b). */
            cr_assert_eq(gm_group_mul(p4m, gm_group_mul(p4m, f, t), f), a * n + (n - b) % n,
                         "p4m: f.(%d,%d)", a, b);
            /* (t, e)(0, r) = (t, r): H is the slow axis. */
            cr_assert_eq(gm_group_mul(p4, t, r), nn + t);
        }
    gm_group_free(p4);
    gm_group_free(p4m);
    leak_check();
}

/* C_n x| C2 with the generator acting by inversion is D_n: x -> (x, 0) on
 * rotations and f*r^k -> (-k, 1) is an isomorphism. */
Test(group, semidirect_by_inversion_is_dihedral) {
    for (int32_t n = 1; n <= 9; n++) {
        gm_group *cn = NULL, *c2 = NULL, *s = NULL, *d = NULL;
        cr_assert_eq(gm_group_cyclic_new(n, &cn), GM_OK);
        cr_assert_eq(gm_group_cyclic_new(2, &c2), GM_OK);
        cr_assert_eq(gm_group_dihedral_new(n, &d), GM_OK);
        int32_t action[2 * 9];
        for (int32_t x = 0; x < n; x++) {
            action[x] = x;
            action[n + x] = (n - x) % n;
        }
        cr_assert_eq(gm_group_semidirect_new(cn, c2, action, &s), GM_OK, "%s",
                     gm_error_detail());
        cr_assert_eq(gm_group_order(s), 2 * n);
        check_axioms(s);
        int32_t iso[18];
        for (int32_t p = 0; p < n; p++) {
            iso[p] = p;
            iso[n + p] = n + (n - p) % n;
        }
        for (int32_t a = 0; a < 2 * n; a++)
            for (int32_t b = 0; b < 2 * n; b++)
                cr_assert_eq(iso[gm_group_mul(d, a, b)], gm_group_mul(s, iso[a], iso[b]),
                             "n=%d: not a homomorphism at %d, %d", n, a, b);
        gm_group_free(cn);
        gm_group_free(c2);
        gm_group_free(s);
        gm_group_free(d);
    }
    leak_check();
}

Test(group, semidirect_rejects_bad_actions) {
    gm_group *c4 = NULL, *c2 = NULL, *c5 = NULL, *c3 = NULL, *s = NULL;
    cr_assert_eq(gm_group_cyclic_new(4, &c4), GM_OK);
    cr_assert_eq(gm_group_cyclic_new(2, &c2), GM_OK);
    cr_assert_eq(gm_group_cyclic_new(5, &c5), GM_OK);
    cr_assert_eq(gm_group_cyclic_new(3, &c3), GM_OK);
    /* Swapping 1 and 2 in C4 is a bijection but not an automorphism. */
    const int32_t swap[8] = {0, 1, 2, 3, 0, 2, 1, 3};
    expect_error(gm_group_semidirect_new(c4, c2, swap, &s), GM_ERR_GROUP_AXIOM, "swap",
                 "automorphism", NULL);
    cr_assert_null(s);
    const int32_t notbij[8] = {0, 1, 2, 3, 0, 0, 0, 0};
    expect_error(gm_group_semidirect_new(c4, c2, notbij, &s), GM_ERR_GROUP_AXIOM, "notbij",
                 "bijection", NULL);
    const int32_t range[8] = {0, 1, 2, 3, 0, 7, 2, 1};
    expect_error(gm_group_semidirect_new(c4, c2, range, &s), GM_ERR_GROUP_AXIOM, "range",
                 "not an element", NULL);
    /* phi_e must be the identity. */
    const int32_t phie[8] = {0, 3, 2, 1, 0, 1, 2, 3};
    expect_error(gm_group_semidirect_new(c4, c2, phie, &s), GM_ERR_GROUP_AXIOM, "phi_e",
                 "identity", NULL);
    /* x -> 2x and x -> 4x are automorphisms of C5, but C3 -> Aut(C5) = C4
     * has only the trivial homomorphism. */
    int32_t hom[15];
    for (int32_t x = 0; x < 5; x++) {
        hom[x] = x;
        hom[5 + x] = 2 * x % 5;
        hom[10 + x] = 4 * x % 5;
    }
    expect_error(gm_group_semidirect_new(c5, c3, hom, &s), GM_ERR_GROUP_AXIOM, "hom",
                 "homomorphism", NULL);
    cr_assert_null(s);
    gm_group_free(c4);
    gm_group_free(c2);
    gm_group_free(c5);
    gm_group_free(c3);
    leak_check();
}

/* --- permutation groups -------------------------------------------------- */

Test(group, symmetric_groups) {
    const int64_t orders[] = {1, 2, 6, 24, 120, 720};
    for (int64_t n = 1; n <= 6; n++) {
        gm_group *g = NULL;
        cr_assert_eq(gm_group_symmetric_new(n, &g), GM_OK, "%s", gm_error_detail());
        cr_assert_eq(gm_group_order(g), orders[n - 1]);
        cr_assert_eq(gm_group_kind_of(g), GM_GROUP_PERM);
        cr_assert_eq(gm_group_param(g), n);
        char want[8];
        snprintf(want, sizeof want, "S%lld", (long long)n);
        cr_assert_str_eq(gm_group_name(g), want);
        check_axioms(g);
        cr_assert_eq(gm_group_is_abelian(g), n <= 2);
        cr_assert_eq(gm_group_ngens(g), n == 1 ? 0 : (n == 2 ? 1 : 2));
        gm_group_free(g);
    }
    gm_group *g = NULL;
    expect_error(gm_group_symmetric_new(10, &g), GM_ERR_TOO_LARGE, "S10", "S10", NULL);
    expect_error(gm_group_symmetric_new(0, &g), GM_ERR_INVALID_ARG, "S0", "S0", NULL);
    cr_assert_null(g);
    leak_check();
}

Test(group, symmetric_group_s8_is_complete) {
    gm_group *g = NULL;
    cr_assert_eq(gm_group_symmetric_new(8, &g), GM_OK);
    cr_assert_eq(gm_group_order(g), 40320);
    for (int32_t a = 0; a < 40320; a += 7)
        cr_assert_eq(gm_group_mul(g, a, gm_group_inv(g, a)), 0);
    gm_group_free(g);
    leak_check();
}

Test(group, perm_closure_order_and_composition) {
    /* (0 1 2) alone: C3. */
    const int32_t c3[3] = {1, 2, 0};
    gm_group *g = NULL;
    cr_assert_eq(gm_group_perm_new(3, 1, c3, &g), GM_OK);
    cr_assert_eq(gm_group_order(g), 3);
    check_axioms(g);
    cr_assert_eq(gm_group_element_order(g, 1), 3);
    cr_assert(gm_group_is_abelian(g));
    cr_assert_str_eq(elem_name(g, 0), "()");
    cr_assert_str_eq(elem_name(g, 1), "(0 1 2)");
    cr_assert_str_eq(elem_name(g, 2), "(0 2 1)");
    gm_group_free(g);

    /* (0 1), (2 3): the Klein four-group, every element an involution. */
    const int32_t v4[8] = {1, 0, 2, 3, 0, 1, 3, 2};
    cr_assert_eq(gm_group_perm_new(4, 2, v4, &g), GM_OK);
    cr_assert_eq(gm_group_order(g), 4);
    check_axioms(g);
    cr_assert(gm_group_is_abelian(g));
    for (int32_t a = 1; a < 4; a++) cr_assert_eq(gm_group_element_order(g, a), 2);
    /* Breadth-first from e by right multiplication: e, s1, s2, s1*s2. */
    cr_assert_str_eq(elem_name(g, 1), "(0 1)");
    cr_assert_str_eq(elem_name(g, 2), "(2 3)");
    cr_assert_str_eq(elem_name(g, 3), "(0 1)(2 3)");
    cr_assert_eq(gm_group_ngens(g), 2);
    cr_assert_eq(gm_group_gens(g)[0], 1);
    cr_assert_eq(gm_group_gens(g)[1], 2);
    gm_group_free(g);

    /* S3 from (0 1), (0 1 2): breadth-first by right multiplication x*s. */
    g = ts_group("S3");
    const char *bfs[6] = {"()", "(0 1)", "(0 1 2)", "(1 2)", "(0 2)", "(0 2 1)"};
    for (int32_t a = 0; a < 6; a++) cr_assert_str_eq(elem_name(g, a), bfs[a], "S3 index %d", a);
    /* (p*q)(i) = p(q(i)): (0 1)*(1 2) = (0 1 2). */
    const int32_t p = find_elem(g, "(0 1)"), q = find_elem(g, "(1 2)");
    cr_assert(p > 0 && q > 0);
    cr_assert_str_eq(elem_name(g, gm_group_mul(g, p, q)), "(0 1 2)");
    cr_assert_str_eq(elem_name(g, gm_group_mul(g, q, p)), "(0 2 1)");
    gm_group_free(g);

    /* Duplicate and identity generators are dropped from the generating set. */
    const int32_t dup[12] = {1, 0, 2, 0, 1, 2, 1, 0, 2, 1, 2, 0};
    cr_assert_eq(gm_group_perm_new(3, 4, dup, &g), GM_OK);
    cr_assert_eq(gm_group_order(g), 6);
    cr_assert_eq(gm_group_ngens(g), 2);
    check_axioms(g);
    gm_group_free(g);

    /* No generators: the trivial group. */
    cr_assert_eq(gm_group_perm_new(5, 0, NULL, &g), GM_OK);
    cr_assert_eq(gm_group_order(g), 1);
    cr_assert_eq(gm_group_ngens(g), 0);
    gm_group_free(g);
    leak_check();
}

Test(group, perm_rejects_bad_generators) {
    gm_group *g = NULL;
    const int32_t notbij[3] = {0, 0, 1}, range[3] = {0, 1, 3};
    expect_error(gm_group_perm_new(3, 1, notbij, &g), GM_ERR_INVALID_ARG, "notbij",
                 "not a bijection", NULL);
    expect_error(gm_group_perm_new(3, 1, range, &g), GM_ERR_INVALID_ARG, "range", "maps 2 to 3",
                 NULL);
    expect_error(gm_group_perm_new(0, 0, NULL, &g), GM_ERR_INVALID_ARG, "degree", "degree",
                 NULL);
    expect_error(gm_group_perm_new(1 << 20, 0, NULL, &g), GM_ERR_TOO_LARGE, "degree", "degree",
                 NULL);
    cr_assert_null(g);
    leak_check();
}

/* S10 exceeds the closure limit; the error comes after 2^20 elements. */
Test(group, perm_closure_limit) {
    int32_t gens[20];
    for (int32_t i = 0; i < 10; i++) {
        gens[i] = i < 2 ? 1 - i : i;
        gens[10 + i] = (i + 1) % 10;
    }
    gm_group *g = NULL;
    expect_error(gm_group_perm_new(10, 2, gens, &g), GM_ERR_TOO_LARGE, "S10 closure",
                 "exceeds the limit", NULL);
    cr_assert_null(g);
    leak_check();
}

/* The identity and repeated generators change nothing, not even the order
 * of the elements, and cost nothing: fifty repeats of a transposition next
 * to a 12-cycle fail on the order limit as fast as one does. */
Test(group, perm_repeated_generators_are_skipped) {
    gm_group *a = ts_group("perm:(0 1 2 3),(0 1)");
    gm_group *b = ts_group("perm:(0 1 2 3),(0 1),(0 1),(),(0 1 2 3),(1 0)");
    cr_assert_eq(gm_group_order(a), 24);
    cr_assert_eq(gm_group_order(b), 24);
    char na[64], nb[64];
    for (int32_t x = 0; x < 24; x++) {
        gm_group_element_name(a, x, na, sizeof na);
        gm_group_element_name(b, x, nb, sizeof nb);
        cr_assert_str_eq(na, nb, "element %d", x);
    }
    gm_group_free(a);
    gm_group_free(b);
    char spec[512] = "perm:(0 1 2 3 4 5 6 7 8 9 10 11)";
    for (int i = 0; i < 50; i++) strcat(spec, ",(0 1)");
    gm_group *g = NULL;
    expect_error(gm_group_from_spec(spec, &g), GM_ERR_TOO_LARGE, "many repeats",
                 "order exceeds the limit", NULL);
    cr_assert_null(g);
    leak_check();
}

/* --- Cayley tables ------------------------------------------------------- */

/* The Cayley table of g as text, with a comment and irregular spacing. */
static char *table_text(const gm_group *g) {
    const int32_t n = (int32_t)gm_group_order(g);
    char *s = gm_malloc((size_t)(64 + n * n * 8));
    int off = sprintf(s, "# Cayley table of %s\n%d  # the order\n", gm_group_name(g), n);
    for (int32_t a = 0; a < n; a++) {
        for (int32_t b = 0; b < n; b++)
            off += sprintf(s + off, b ? "\t%d" : "%d", gm_group_mul(g, a, b));
        off += sprintf(s + off, "\n");
    }
    return s;
}

Test(group, table_file_round_trip) {
    gm_group *d3 = ts_group("D3");
    char *text = table_text(d3);
    const char *path = ts_write_temp(text);
    gm_free(text);
    gm_group *t = NULL;
    cr_assert_eq(gm_group_table_read(path, &t), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_group_kind_of(t), GM_GROUP_TABLE);
    cr_assert_eq(gm_group_order(t), 6);
    char want[128];
    snprintf(want, sizeof want, "table:%s", path);
    cr_assert_str_eq(gm_group_name(t), want);
    check_axioms(t);
    for (int32_t a = 0; a < 6; a++)
        for (int32_t b = 0; b < 6; b++)
            cr_assert_eq(gm_group_mul(t, a, b), gm_group_mul(d3, a, b));
    /* Greedy generators: r (index 1) closes to {e, r, r^2}, then f (index 3). */
    cr_assert_eq(gm_group_ngens(t), 2);
    cr_assert_eq(gm_group_gens(t)[0], 1);
    cr_assert_eq(gm_group_gens(t)[1], 3);
    cr_assert(!gm_group_is_abelian(t));
    cr_assert_str_eq(elem_name(t, 0), "e");
    cr_assert_str_eq(elem_name(t, 4), "g4");
    gm_group_free(t);

    /* Through a spec, also as a factor. */
    snprintf(want, sizeof want, "C2xtable:%s", path);
    gm_group *p = ts_group(want);
    cr_assert_eq(gm_group_order(p), 12);
    cr_assert_str_eq(gm_group_name(p), want);
    check_axioms(p);
    gm_group_free(p);
    gm_group_free(d3);
    leak_check();
}

Test(group, table_from_array) {
    gm_group *s3 = ts_group("S3"), *t = NULL;
    int32_t mul[36];
    for (int32_t a = 0; a < 6; a++)
        for (int32_t b = 0; b < 6; b++) mul[a * 6 + b] = gm_group_mul(s3, a, b);
    cr_assert_eq(gm_group_table_new(6, mul, &t), GM_OK, "%s", gm_error_detail());
    cr_assert_str_eq(gm_group_name(t), "table(6)");
    check_axioms(t);
    cr_assert(!gm_group_is_abelian(t));
    gm_group_free(t);
    const int32_t one = 0;
    cr_assert_eq(gm_group_table_new(1, &one, &t), GM_OK);
    cr_assert_eq(gm_group_ngens(t), 0);
    check_axioms(t);
    gm_group_free(t);
    t = NULL;
    expect_error(gm_group_table_new(0, mul, &t), GM_ERR_INVALID_ARG, "n=0", "order", NULL);
    expect_error(gm_group_table_new(5000, mul, &t), GM_ERR_TOO_LARGE, "n=5000", "5000", NULL);
    mul[7] = 6;
    expect_error(gm_group_table_new(6, mul, &t), GM_ERR_GROUP_AXIOM, "range", "1*1 = 6", NULL);
    cr_assert_null(t);
    gm_group_free(s3);
    leak_check();
}

Test(group, table_rejects_bad_groups) {
    const struct {
        const char *text, *needle1, *needle2;
    } cases[] = {
        /* The smallest non-associative loop (order 5): Latin, with identity. */
        {"5\n0 1 2 3 4\n1 0 3 4 2\n2 4 0 1 3\n3 2 4 0 1\n4 3 1 2 0\n", "not associative",
         "(1*1)*2 != 1*(1*2)"},
        {"2\n1 0\n0 1\n", "not the identity", NULL},
        {"3\n0 1 2\n2 0 1\n1 2 0\n", "not the identity: 1*0 = 2", NULL},
        {"3\n0 1 2\n1 1 0\n2 0 1\n", "row 1 repeats 1", NULL},
        {"3\n0 1 2\n1 2 0\n2 1 0\n", "column 1 repeats 1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = ts_write_temp(cases[i].text);
        gm_group *g = NULL;
        expect_error(gm_group_table_read(path, &g), GM_ERR_GROUP_AXIOM, cases[i].text,
                     cases[i].needle1, cases[i].needle2);
        cr_assert(strstr(gm_error_detail(), path), "detail names the file");
        cr_assert_null(g);
    }
    leak_check();
}

Test(group, table_rejects_malformed_files) {
    const struct {
        const char *text;
        gm_status st;
        const char *needle1, *needle2;
    } cases[] = {
        {"", GM_ERR_FORMAT, "line 1", "expected the order"},
        {"# only a comment\n\n", GM_ERR_FORMAT, "line 1", "end of the file"},
        {"0\n", GM_ERR_FORMAT, "line 1", "got '0'"},
        {"\n\n-2\n", GM_ERR_FORMAT, "line 3", "got '-2'"},
        {"two\n", GM_ERR_FORMAT, "line 1", "got 'two'"},
        {"5000\n", GM_ERR_TOO_LARGE, "line 1", "exceeds the limit"},
        {"99999999999999999999999999999999999999\n", GM_ERR_TOO_LARGE, "line 1", "..."},
        {"2\n0 1\n1 abc\n", GM_ERR_FORMAT, "line 3", "expected an integer, got 'abc'"},
        {"2\n0 1\n1 5\n", GM_ERR_FORMAT, "line 3", "entry 5 (row 1, column 1)"},
        {"2\n0 1\n1 -1\n", GM_ERR_FORMAT, "line 3", "entry -1"},
        {"2\n0 1\n1 0x1\n", GM_ERR_FORMAT, "line 3", "'0x1'"},
        {"3\n0 1 2\n1 2\n", GM_ERR_FORMAT, "line 3", "expected 9 entries after the order, found 5"},
        {"3\n0 1 2\n1 2 0\n2 0\n\n\n", GM_ERR_FORMAT, "line 4", "found 8"},
        {"2\n0 1\n1 0\n7\n", GM_ERR_FORMAT, "line 4", "unexpected '7'"},
        {"2\n0 1\n1 0 # fine\n# fine\nzzz # not fine\n", GM_ERR_FORMAT, "line 5", "'zzz'"},
        {"2\n0 1\n1 \x01\n", GM_ERR_FORMAT, "line 3", "got '?'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = ts_write_temp(cases[i].text);
        gm_group *g = NULL;
        expect_error(gm_group_table_read(path, &g), cases[i].st, cases[i].text, cases[i].needle1,
                     cases[i].needle2);
        cr_assert(strstr(gm_error_detail(), path), "detail names the file: %s",
                  gm_error_detail());
        cr_assert_null(g);
    }
    /* Comments and any whitespace between entries are fine. */
    gm_group *g = NULL;
    const char *ok = ts_write_temp("2 # order\n0 1 # row 0\n\n  1\t0#row 1");
    cr_assert_eq(gm_group_table_read(ok, &g), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_group_order(g), 2);
    gm_group_free(g);

    g = NULL;
    expect_error(gm_group_table_read("/nonexistent/gmcnn/table.txt", &g), GM_ERR_IO, "missing",
                 "/nonexistent/gmcnn/table.txt", NULL);
    expect_error(gm_group_table_read("/tmp", &g), GM_ERR_IO, "directory", "'/tmp'", NULL);
    expect_error(gm_group_table_read(NULL, &g), GM_ERR_INVALID_ARG, "NULL", NULL, NULL);
    cr_assert_null(g);
    leak_check();
}

/* --- specs --------------------------------------------------------------- */

Test(group, spec_parses_every_family) {
    const struct {
        const char *spec;
        int64_t order;
        const char *name;
    } cases[] = {
        {"C1", 1, "C1"},
        {"C28", 28, "C28"},
        {"C04", 4, "C4"},
        {"D1", 2, "D1"},
        {"D14xD14", 784, "D14xD14"},
        {"D31xC23", 1426, "D31xC23"},
        {"C2xC3xC4", 24, "C2xC3xC4"},
        {"p4:3", 36, "p4:3"},
        {"p4m:2", 32, "p4m:2"},
        {"p4:32", 4096, "p4:32"},
        {"p4m:28", 6272, "p4m:28"},
        {"S1", 1, "S1"},
        {"S4", 24, "S4"},
        {"S3xS3", 36, "S3xS3"},
        {"perm:(0 1 2),(0 1)", 6, "perm:(0 1 2),(0 1)"},
        {"perm:( 0  1   2 )", 3, "perm:(0 1 2)"},
        {"perm:(007 1)", 2, "perm:(7 1)"},
        {"perm:(0 1)xC3", 6, "perm:(0 1)xC3"},
        {"C3xperm:(0 1)(2 3),(0 2)xC2", 48, "C3xperm:(0 1)(2 3),(0 2)xC2"},
        {"perm:()", 1, "perm:()"},
        {"perm:(5)", 1, "perm:(5)"},
        {"perm:(0 1)(2 3 4)", 6, "perm:(0 1)(2 3 4)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_group *g = ts_group(cases[i].spec);
        cr_assert_eq(gm_group_order(g), cases[i].order, "%s", cases[i].spec);
        cr_assert_str_eq(gm_group_name(g), cases[i].name);
        check_axioms(g);
        /* The canonical name parses back to the same group. */
        gm_group *h = ts_group(gm_group_name(g));
        cr_assert_str_eq(gm_group_name(h), cases[i].name);
        cr_assert_eq(gm_group_order(h), cases[i].order);
        gm_group_free(h);
        gm_group_free(g);
    }
    gm_group *g = ts_group("perm:(007 1)");
    cr_assert_eq(gm_group_param(g), 8, "degree = largest point + 1");
    gm_group_free(g);
    leak_check();
}

Test(group, spec_rejects_malformed_specs) {
    const struct {
        const char *spec;
        gm_status st;
        const char *needle1, *needle2;
    } cases[] = {
        {"", GM_ERR_GROUP_SPEC, "empty", NULL},
        {"Q4", GM_ERR_GROUP_SPEC, "column 1", "got 'Q'"},
        {"c4", GM_ERR_GROUP_SPEC, "column 1", "got 'c'"},
        {" C4", GM_ERR_GROUP_SPEC, "column 1", "got ' '"},
        {"C0", GM_ERR_GROUP_SPEC, "column 2", "at least 1"},
        {"D0", GM_ERR_GROUP_SPEC, "column 2", "at least 1"},
        {"D", GM_ERR_GROUP_SPEC, "column 2", "end of the spec"},
        {"C-3", GM_ERR_GROUP_SPEC, "column 2", "got '-'"},
        {"C99999999999999999999", GM_ERR_GROUP_SPEC, "column 2", "too large"},
        {"C4y", GM_ERR_GROUP_SPEC, "column 3", "unexpected 'y'"},
        {"C4 ", GM_ERR_GROUP_SPEC, "column 3", "unexpected ' '"},
        {"C4\n", GM_ERR_GROUP_SPEC, "column 3", "byte 0x0a"},
        {"C4x", GM_ERR_GROUP_SPEC, "column 4", "end of the spec"},
        {"C4xxC3", GM_ERR_GROUP_SPEC, "column 4", "got 'x'"},
        {"D3xC0", GM_ERR_GROUP_SPEC, "column 5", "at least 1"},
        {"p4", GM_ERR_GROUP_SPEC, "column 3", "expected ':'"},
        {"p4:", GM_ERR_GROUP_SPEC, "column 4", "torus size"},
        {"p4:x", GM_ERR_GROUP_SPEC, "column 4", "got 'x'"},
        {"p4m:0", GM_ERR_GROUP_SPEC, "column 5", "at least 1"},
        {"p4:8888888888888888", GM_ERR_TOO_LARGE, "torus size exceeds 4096", NULL},
        {"p4m:4097", GM_ERR_TOO_LARGE, "torus size exceeds 4096", NULL},
        {"p4mC3", GM_ERR_GROUP_SPEC, "column 4", "expected ':'"},
        {"perm", GM_ERR_GROUP_SPEC, "column 5", "expected ':'"},
        {"perm:", GM_ERR_GROUP_SPEC, "column 6", "expected '('"},
        {"perm:0 1", GM_ERR_GROUP_SPEC, "column 6", "expected '('"},
        {"perm:(0 1", GM_ERR_GROUP_SPEC, "column 10", "end of the spec"},
        {"perm:(0 1 0)", GM_ERR_GROUP_SPEC, "column 11", "point 0 appears twice"},
        {"perm:(0 1)(1 2)", GM_ERR_GROUP_SPEC, "column 12", "point 1 appears twice"},
        {"perm:(0 1),(2 3)(4 3)", GM_ERR_GROUP_SPEC, "column 20", "generator 2"},
        {"perm:(0 a)", GM_ERR_GROUP_SPEC, "column 9", "got 'a'"},
        {"perm:(0,1)", GM_ERR_GROUP_SPEC, "column 8", "got ','"},
        {"perm:(0 1),", GM_ERR_GROUP_SPEC, "column 12", "expected '('"},
        {"perm:(0 1)x", GM_ERR_GROUP_SPEC, "column 12", "end of the spec"},
        {"perm:(0 1) ", GM_ERR_GROUP_SPEC, "column 11", "unexpected ' '"},
        {"perm:(99999999999999999999)", GM_ERR_GROUP_SPEC, "column 7", "too large"},
        {"table:", GM_ERR_GROUP_SPEC, "column 7", "path"},
        {"tablex", GM_ERR_GROUP_SPEC, "column 6", "expected ':'"},
        {"S10", GM_ERR_TOO_LARGE, "column 1", "S10"},
        {"C2xS11", GM_ERR_TOO_LARGE, "column 4", "S11"},
        {"C16777217", GM_ERR_TOO_LARGE, "column 1", "exceeds the limit"},
        {"D8388609", GM_ERR_TOO_LARGE, "column 1", "exceeds the limit"},
        {"D4704950838123036670", GM_ERR_TOO_LARGE, "column 1", "order 2*4704950838123036670"},
        {"p4:5000", GM_ERR_TOO_LARGE, "column 1", "exceeds the limit"},
        {"p4m:2049", GM_ERR_TOO_LARGE, "column 1", "exceeds the limit"},
        {"D3000xD3000", GM_ERR_TOO_LARGE, "column 7", "exceeds the limit"},
        {"perm:(0 70000)", GM_ERR_TOO_LARGE, "column 9", "70000"},
        {"table:/nonexistent/gmcnn/t.txt", GM_ERR_IO, "column 1", "/nonexistent/gmcnn/t.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_group *g = NULL;
        expect_error(gm_group_from_spec(cases[i].spec, &g), cases[i].st, cases[i].spec,
                     cases[i].needle1, cases[i].needle2);
        cr_assert_null(g, "%s", cases[i].spec);
        if (cases[i].spec[0] && cases[i].spec[0] != '\n' && !strchr(cases[i].spec, '\n'))
            cr_assert(strstr(gm_error_detail(), cases[i].spec), "detail names the spec: %s",
                      gm_error_detail());
    }
    gm_group *g = NULL;
    expect_error(gm_group_from_spec(NULL, &g), GM_ERR_INVALID_ARG, "NULL", NULL, NULL);
    /* A long spec is shortened in the message, which stays one line. */
    char long_spec[600];
    memset(long_spec, 'C', sizeof long_spec - 1);
    long_spec[sizeof long_spec - 1] = '\0';
    expect_error(gm_group_from_spec(long_spec, &g), GM_ERR_GROUP_SPEC, "long", "column 2",
                 "...");
    leak_check();
}

Test(group, spec_reads_table_errors_with_file_detail) {
    const char *path = ts_write_temp("2\n0 1\n1 x\n");
    char spec[128];
    snprintf(spec, sizeof spec, "D3xtable:%s", path);
    gm_group *g = NULL;
    expect_error(gm_group_from_spec(spec, &g), GM_ERR_FORMAT, spec, "column 4", "line 3");
    cr_assert_null(g);
    leak_check();
}

/* --- names, orders, commutativity ---------------------------------------- */

Test(group, element_names) {
    gm_group *d4 = ts_group("D4");
    cr_assert_str_eq(elem_name(d4, 0), "e");
    cr_assert_str_eq(elem_name(d4, 1), "r");
    cr_assert_str_eq(elem_name(d4, 3), "r^3");
    cr_assert_str_eq(elem_name(d4, 4), "f");
    cr_assert_str_eq(elem_name(d4, 6), "f*r^2");
    gm_group_free(d4);

    gm_group *c = ts_group("C2xC6");
    cr_assert_str_eq(elem_name(c, 11), "(1,5)");
    gm_group_free(c);

    gm_group *p = ts_group("perm:(1 2 0)(3 4)");
    cr_assert_str_eq(elem_name(p, 0), "()");
    cr_assert_str_eq(elem_name(p, 1), "(0 1 2)(3 4)");
    cr_assert_str_eq(elem_name(p, 2), "(0 2 1)");
    cr_assert_str_eq(elem_name(p, 3), "(3 4)");
    /* snprintf semantics: full length returned, output truncated and terminated. */
    char small[5];
    cr_assert_eq(gm_group_element_name(p, 1, small, sizeof small), 12);
    cr_assert_str_eq(small, "(0 1");
    cr_assert_eq(gm_group_element_name(p, 1, NULL, 0), 12);
    cr_assert_eq(gm_group_element_name(p, 0, NULL, 0), 2);
    gm_group_free(p);

    gm_group *big = ts_group("perm:(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19)");
    cr_assert_str_eq(elem_name(big, 1), "(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19)");
    cr_assert_eq(gm_group_element_order(big, 1), 20);
    gm_group_free(big);
    leak_check();
}

Test(group, abelian_or_not) {
    const struct {
        const char *spec;
        bool abelian;
    } cases[] = {{"C1", true},     {"C7", true},     {"C4xC6", true},  {"D1", true},
                 {"D2", true},     {"D3", false},    {"D12", false},   {"S3", false},
                 {"S2", true},     {"p4:1", true},   {"p4:2", false},  {"p4m:1", false},
                 {"C2xD3", false}, {"C2xC2xC2", true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gm_group *g = ts_group(cases[i].spec);
        cr_assert_eq(gm_group_is_abelian(g), cases[i].abelian, "%s", cases[i].spec);
        /* Cross-check against all pairs. */
        bool all = true;
        for (int32_t a = 0; a < gm_group_order(g) && all; a++)
            for (int32_t b = 0; b < gm_group_order(g) && all; b++)
                all = gm_group_mul(g, a, b) == gm_group_mul(g, b, a);
        cr_assert_eq(all, cases[i].abelian, "%s", cases[i].spec);
        gm_group_free(g);
    }
    leak_check();
}

/* --- the reference orderings (the reference fixture) ------------------------------------ */

Test(group, fixture_axis_orderings_match) {
    char *text = ts_read_file(GM_FIXTURE_DIR "/reference-index.json");
    cr_assert(text, "cannot read the fixture");
    json_t *root = json_loads(text, 0, NULL);
    cr_assert(root, "fixture is not JSON");
    int checked = 0;
    const char *entry_name;
    json_t *entry;
    json_object_foreach(root, entry_name, entry) {
        const char *family = json_string_value(json_object_get(entry, "group"));
        const int n = (int)json_integer_value(json_object_get(entry, "order"));
        const json_t *axis = json_object_get(entry, "axis_elements");
        const bool dihedral = strcmp(family, "dihedral") == 0;
        char spec[16];
        snprintf(spec, sizeof spec, "%c%d", dihedral ? 'D' : 'C', n);
        gm_group *g = ts_group(spec);
        cr_assert_eq((int64_t)json_array_size(axis), gm_group_order(g), "%s", entry_name);
        int32_t i = 0;
        size_t index;
        json_t *name;
        json_array_foreach(axis, index, name) {
            int fpow = 0, rpow = 0, mod = 0;
            const char *s = json_string_value(name);
            int32_t want;
            if (dihedral) {
                if (sscanf(s, "f^%d * r^%d", &fpow, &rpow) != 2) {
                    cr_assert_eq(sscanf(s, "r^%d", &rpow), 1, "name '%s'", s);
                    fpow = 0;
                }
                /* "f^1 * r^2" = index n+2, "r^1" = index 1; also as products. */
                want = fpow * n + rpow;
                const int32_t r = n > 1 ? 1 : 0, f = n;
                cr_assert_eq(gm_group_mul(g, power(g, f, fpow), power(g, r, rpow)), i,
                             "%s: '%s' as f^a*r^b", entry_name, s);
            } else {
                cr_assert_eq(sscanf(s, "%d (mod %d)", &rpow, &mod), 2, "name '%s'", s);
                want = rpow;
            }
            cr_assert_eq(want, i, "%s: element %d is '%s'", entry_name, i, s);
            i++;
        }
        checked += dihedral;
        gm_group_free(g);
    }
    cr_assert_eq(checked, 3, "dihedral-3, -4 and -14 are in the fixture");
    json_decref(root);
    gm_free(text);
    leak_check();
}

/* --- large groups --------------------------------------------------------- */

Test(group, large_groups_stay_small_and_correct) {
    gm_group *dd = ts_group("D14xD14");
    cr_assert_eq(gm_group_order(dd), 784);
    /* (r, f) * (f, r) = (r*f, f*r) = (f*r^13, f*r). */
    const int32_t r = 1, f = 14;
    cr_assert_eq(gm_group_mul(dd, r * 28 + f, f * 28 + r), (14 + 13) * 28 + 15);
    check_axioms(dd);
    gm_group_free(dd);

    gm_group *cc = ts_group("C64xC64");
    cr_assert_eq(gm_group_order(cc), 4096);
    cr_assert_eq(gm_group_mul(cc, 1 * 64 + 2, 63 * 64 + 63), 0 * 64 + 1);
    cr_assert_eq(gm_group_inv(cc, 5 * 64 + 7), 59 * 64 + 57);
    check_axioms(cc);
    gm_group_free(cc);

    gm_group *p4 = ts_group("p4:64");
    cr_assert_eq(gm_group_order(p4), 16384);
    const int32_t rot = 4096, t10 = 1 * 64 + 0, t01 = 0 * 64 + 1;
    cr_assert_eq(gm_group_mul(p4, gm_group_mul(p4, rot, t10), gm_group_inv(p4, rot)), t01);
    cr_assert_eq(gm_group_element_order(p4, rot), 4);
    cr_assert_eq(gm_group_element_order(p4, t10), 64);
    cr_assert_eq(gm_group_mul(p4, t10, rot), 4096 + t10);
    check_axioms(p4);
    gm_group_free(p4);
    leak_check();
}

/* --- out of memory ------------------------------------------------------- */

/* Fails the k-th allocation for k = 0, 1, ... until `build` succeeds: every
 * failure must be GM_ERR_NOMEM with nothing leaked (ASan checks). */
static void oom_sweep(const char *spec) {
    for (int64_t k = 0;; k++) {
        cr_assert(k < 100000, "%s: never succeeds", spec);
        gm_group *g = NULL;
        gm_alloc_fail_after(k);
        const gm_status st = gm_group_from_spec(spec, &g);
        gm_alloc_fail_after(-1);
        if (st == GM_OK) {
            cr_assert(k > 0, "%s allocates", spec);
            check_axioms(g);
            gm_group_free(g);
            return;
        }
        cr_assert_eq(st, GM_ERR_NOMEM, "%s with %lld allocations: %s (%s)", spec, (long long)k,
                     gm_strerror(st), gm_error_detail());
        cr_assert_null(g);
    }
}

Test(group, out_of_memory_is_reported_and_clean) {
    oom_sweep("D3xp4:2");
    oom_sweep("perm:(0 1 2 3 4),(0 1)xC2");
    oom_sweep("S4");
    gm_group *d3 = ts_group("D3");
    char *text = table_text(d3);
    char spec[128];
    snprintf(spec, sizeof spec, "C2xtable:%s", ts_write_temp(text));
    gm_free(text);
    gm_group_free(d3);
    oom_sweep(spec);
    leak_check();
}
