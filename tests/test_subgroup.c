/* Subgroups, cosets, homogeneous spaces and neighbourhoods. */
#include <jansson.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

/* --- helpers --------------------------------------------------------------- */

static gm_group *cyc(int64_t n) {
    gm_group *g = NULL;
    cr_assert_eq(gm_group_cyclic_new(n, &g), GM_OK, "C%lld: %s", (long long)n, gm_error_detail());
    return g;
}

static gm_group *dih(int64_t n) {
    gm_group *g = NULL;
    cr_assert_eq(gm_group_dihedral_new(n, &g), GM_OK, "D%lld: %s", (long long)n,
                 gm_error_detail());
    return g;
}

/* a x b; takes over the caller's references to a and b. */
static gm_group *prod(gm_group *a, gm_group *b) {
    gm_group *g = NULL;
    cr_assert_eq(gm_group_product_new(a, b, &g), GM_OK, "%s", gm_error_detail());
    gm_group_free(a);
    gm_group_free(b);
    return g;
}

static gm_group *wallpaper(int64_t n, bool mirror) {
    gm_group *g = NULL;
    gm_status st = mirror ? gm_group_p4m_new(n, &g) : gm_group_p4_new(n, &g);
    cr_assert_eq(st, GM_OK, "%s", gm_error_detail());
    return g;
}

static gm_subgroup *sub(const gm_group *g, int64_t ngens, const int32_t *gens) {
    gm_subgroup *h = NULL;
    cr_assert_eq(gm_subgroup_generated_new(g, ngens, gens, &h), GM_OK, "subgroup of %s: %s",
                 gm_group_name(g), gm_error_detail());
    cr_assert_not_null(h);
    return h;
}

static gm_cosets *cosets(const gm_subgroup *h, gm_coset_side side) {
    gm_cosets *c = NULL;
    cr_assert_eq(gm_cosets_new(h, side, &c), GM_OK, "%s", gm_error_detail());
    cr_assert_not_null(c);
    return c;
}

static bool in_sub(const gm_subgroup *h, int32_t a) { return gm_subgroup_position(h, a) >= 0; }

/* A zoo of small groups (|G| <= 36) of every kind the constructors make. */
enum { ZOO_SIZE = 17 };
static gm_group *zoo(int i) {
    switch (i) {
    case 0: return cyc(1);
    case 1: return cyc(2);
    case 2: return cyc(6);
    case 3: return cyc(12);
    case 4: return dih(1);
    case 5: return dih(3);
    case 6: return dih(4);
    case 7: return dih(6);
    case 8: return prod(cyc(2), cyc(2));
    case 9: return prod(cyc(4), cyc(6));
    case 10: return prod(dih(2), cyc(3));
    case 11: return prod(cyc(3), dih(3));
    case 12: return prod(dih(4), cyc(2));
    case 13: return wallpaper(2, false);
    case 14: return wallpaper(3, false);
    case 15: return wallpaper(2, true);
    default: return prod(prod(cyc(2), cyc(3)), cyc(2));
    }
}

typedef void (*sub_check_fn)(const gm_group *g, const gm_subgroup *h);

/* Runs `check` on many subgroups of every zoo group: the trivial one, G
 * itself, every cyclic <a>, and <a,b> for two choices of b per a. */
static void for_each_subgroup(sub_check_fn check) {
    for (int z = 0; z < ZOO_SIZE; z++) {
        gm_group *g = zoo(z);
        const int32_t n = (int32_t)gm_group_order(g);
        gm_subgroup *h = sub(g, 0, NULL);
        check(g, h);
        gm_subgroup_free(h);
        h = sub(g, gm_group_ngens(g), gm_group_gens(g));
        cr_assert_eq(gm_subgroup_order(h), n, "the generators of %s generate it", gm_group_name(g));
        check(g, h);
        gm_subgroup_free(h);
        for (int32_t a = 0; a < n; a++) {
            const int32_t pairs[3][2] = {{a, a}, {a, (a * 7 + 3) % n}, {a, (a + n / 2) % n}};
            for (int p = 0; p < 3; p++) {
                h = sub(g, p == 0 ? 1 : 2, pairs[p]);
                check(g, h);
                gm_subgroup_free(h);
            }
        }
        gm_group_free(g);
    }
}

/* The closure of {e} u gens under all pairwise products, computed without the
 * library's breadth-first search. Returns the size; mark[] gets 1 for members. */
static int64_t closure_by_pairs(const gm_group *g, int64_t ngens, const int32_t *gens,
                                char *mark) {
    const int64_t n = gm_group_order(g);
    int32_t *list = malloc((size_t)n * sizeof *list);
    cr_assert_not_null(list);
    memset(mark, 0, (size_t)n);
    int64_t len = 0;
    list[len++] = 0;
    mark[0] = 1;
    for (int64_t i = 0; i < ngens; i++)
        if (!mark[gens[i]]) {
            mark[gens[i]] = 1;
            list[len++] = gens[i];
        }
    for (bool grew = true; grew;) {
        grew = false;
        const int64_t cur = len;
        for (int64_t i = 0; i < cur; i++)
            for (int64_t j = 0; j < cur; j++) {
                const int32_t c = gm_group_mul(g, list[i], list[j]);
                if (!mark[c]) {
                    mark[c] = 1;
                    list[len++] = c;
                    grew = true;
                }
            }
    }
    free(list);
    return len;
}

/* --- subgroups ------------------------------------------------------------- */

static void check_subgroup_basics(const gm_group *g, const gm_subgroup *h) {
    const int64_t n = gm_group_order(g), m = gm_subgroup_order(h);
    const int32_t *e = gm_subgroup_elements(h);
    cr_assert_eq(gm_subgroup_parent(h), g);
    cr_assert_eq(e[0], 0, "elements[0] is the identity");
    /* Lagrange. */
    cr_assert(m >= 1 && n % m == 0, "|H| = %lld divides |G| = %lld in %s", (long long)m,
              (long long)n, gm_group_name(g));
    for (int64_t i = 1; i < m; i++) cr_assert_lt(e[i - 1], e[i], "ascending");
    int64_t members = 0;
    for (int32_t a = 0; a < n; a++) {
        const int32_t p = gm_subgroup_position(h, a);
        if (p >= 0) {
            members++;
            cr_assert_eq(e[p], a, "position is the inverse of elements");
        } else {
            cr_assert_eq(p, -1);
        }
    }
    cr_assert_eq(members, m);
    cr_assert_eq(gm_subgroup_position(h, -1), -1);
    cr_assert_eq(gm_subgroup_position(h, (int32_t)n), -1);
    /* A subgroup: closed under products and inverses. */
    for (int64_t i = 0; i < m; i++) {
        cr_assert(in_sub(h, gm_group_inv(g, e[i])));
        for (int64_t j = 0; j < m; j++) cr_assert(in_sub(h, gm_group_mul(g, e[i], e[j])));
    }
}

Test(subgroup, lagrange_and_closure_over_many_subgroups) {
    for_each_subgroup(check_subgroup_basics);
}

Test(subgroup, generated_subgroup_is_the_smallest_containing_the_generators) {
    for (int z = 0; z < ZOO_SIZE; z++) {
        gm_group *g = zoo(z);
        const int32_t n = (int32_t)gm_group_order(g);
        char *mark = malloc((size_t)n);
        cr_assert_not_null(mark);
        for (int32_t a = 0; a < n; a++)
            for (int32_t b = 0; b < n; b += 1 + n / 7) {
                const int32_t gens[2] = {a, b};
                gm_subgroup *h = sub(g, 2, gens);
                const int64_t m = closure_by_pairs(g, 2, gens, mark);
                cr_assert_eq(gm_subgroup_order(h), m, "<%d,%d> in %s", a, b, gm_group_name(g));
                for (int32_t x = 0; x < n; x++) cr_assert_eq(in_sub(h, x), mark[x] != 0);
                gm_subgroup_free(h);
            }
        for (int32_t a = 0; a < n; a++) {
            gm_subgroup *h = sub(g, 1, &a);
            cr_assert_eq(gm_subgroup_order(h), gm_group_element_order(g, a),
                         "|<a>| is the order of a");
            gm_subgroup_free(h);
        }
        free(mark);
        gm_group_free(g);
    }
}

Test(subgroup, trivial_and_whole_group) {
    gm_group *g = dih(5);
    gm_subgroup *h = sub(g, 0, NULL);
    cr_assert_eq(gm_subgroup_order(h), 1);
    cr_assert(gm_subgroup_is_normal(h));
    gm_cosets *c = cosets(h, GM_COSET_LEFT);
    cr_assert_eq(gm_cosets_count(c), 10);
    for (int32_t a = 0; a < 10; a++) {
        cr_assert_eq(gm_cosets_reps(c)[a], a);
        cr_assert_eq(gm_cosets_index(c)[a], a);
    }
    gm_cosets_free(c);
    gm_subgroup_free(h);
    const int32_t id = 0;
    h = sub(g, 1, &id);
    cr_assert_eq(gm_subgroup_order(h), 1, "the identity generates the trivial group");
    gm_subgroup_free(h);
    const int32_t all[2] = {1, 5};
    h = sub(g, 2, all);
    cr_assert_eq(gm_subgroup_order(h), 10);
    cr_assert(gm_subgroup_is_normal(h));
    c = cosets(h, GM_COSET_RIGHT);
    cr_assert_eq(gm_cosets_count(c), 1);
    cr_assert_eq(gm_cosets_reps(c)[0], 0);
    gm_cosets_free(c);
    gm_subgroup_free(h);
    gm_group_free(g);
}

Test(subgroup, subgroup_keeps_its_parent_alive) {
    gm_group *g = dih(4);
    const int32_t gens[1] = {5};
    gm_subgroup *h = sub(g, 1, gens);
    gm_group_free(g);
    cr_assert_str_eq(gm_group_name(gm_subgroup_parent(h)), "D4");
    gm_cosets *c = cosets(h, GM_COSET_LEFT);
    gm_subgroup_free(h);
    cr_assert_eq(gm_cosets_count(c), 4);
    cr_assert_eq(gm_cosets_act(c, 1, 0), gm_cosets_index(c)[1]);
    gm_cosets_free(c);
}

/* --- normality ------------------------------------------------------------- */

static void check_normality(const gm_group *g, const gm_subgroup *h) {
    const int64_t n = gm_group_order(g), m = gm_subgroup_order(h);
    const int32_t *e = gm_subgroup_elements(h);
    bool normal = true;
    for (int32_t x = 0; x < n && normal; x++)
        for (int64_t i = 0; i < m && normal; i++)
            normal = in_sub(h, gm_group_mul(g, gm_group_mul(g, x, e[i]), gm_group_inv(g, x)));
    cr_assert_eq(gm_subgroup_is_normal(h), normal, "is_normal of a subgroup of order %lld in %s",
                 (long long)m, gm_group_name(g));
    /* Normal iff every left coset is a right coset; with min representatives
     * the two coset numberings then agree element by element. */
    gm_cosets *l = cosets(h, GM_COSET_LEFT), *r = cosets(h, GM_COSET_RIGHT);
    bool same = true;
    for (int32_t x = 0; x < n; x++) same = same && gm_cosets_index(l)[x] == gm_cosets_index(r)[x];
    cr_assert_eq(same, normal);
    gm_cosets_free(l);
    gm_cosets_free(r);
}

Test(subgroup, is_normal_agrees_with_the_definition) { for_each_subgroup(check_normality); }

Test(subgroup, is_normal_known_cases) {
    for (int64_t n = 2; n <= 8; n += 2) {
        gm_group *g = prod(cyc(n), cyc(n));
        const int32_t gens[2] = {(int32_t)((2 % n) * n), (int32_t)(2 % n)};
        gm_subgroup *h = sub(g, 2, gens);
        cr_assert(gm_subgroup_is_normal(h), "2Z_n x 2Z_n in C_n x C_n");
        gm_subgroup_free(h);
        gm_group_free(g);
    }
    for (int64_t n = 1; n <= 9; n++) {
        gm_group *g = dih(n);
        const int32_t r = n > 1 ? 1 : 0;
        gm_subgroup *h = sub(g, 1, &r);
        cr_assert_eq(gm_subgroup_order(h), n);
        cr_assert(gm_subgroup_is_normal(h), "<r> in D%lld", (long long)n);
        gm_subgroup_free(h);
        gm_group_free(g);
    }
    gm_group *d3 = dih(3);
    const int32_t f = 3;
    gm_subgroup *h = sub(d3, 1, &f);
    cr_assert_eq(gm_subgroup_order(h), 2);
    cr_assert_not(gm_subgroup_is_normal(h), "<f> in D3 is not normal");
    gm_subgroup_free(h);
    gm_group_free(d3);
}

/* --- cosets ---------------------------------------------------------------- */

static void check_cosets_side(const gm_group *g, const gm_subgroup *h, gm_coset_side side) {
    const int64_t n = gm_group_order(g), m = gm_subgroup_order(h);
    gm_cosets *c = cosets(h, side);
    const int64_t count = gm_cosets_count(c);
    const int32_t *reps = gm_cosets_reps(c), *index = gm_cosets_index(c);
    cr_assert_eq(gm_cosets_side(c), side);
    cr_assert_eq(count * m, n, "Lagrange: [G:H] |H| = |G|");
    cr_assert_eq(reps[0], 0);
    for (int64_t k = 1; k < count; k++) cr_assert_lt(reps[k - 1], reps[k], "reps ascending");
    int64_t *size = calloc((size_t)count, sizeof *size);
    int32_t *min = malloc((size_t)count * sizeof *min);
    cr_assert(size && min);
    for (int64_t k = 0; k < count; k++) min[k] = INT32_MAX;
    for (int32_t a = 0; a < n; a++) {
        cr_assert(index[a] >= 0 && index[a] < count);
        size[index[a]]++;
        if (a < min[index[a]]) min[index[a]] = a;
    }
    for (int64_t k = 0; k < count; k++) {
        cr_assert_eq(size[k], m, "every coset has |H| elements");
        cr_assert_eq(min[k], reps[k], "the representative is the smallest element");
        cr_assert_eq(index[reps[k]], k);
    }
    /* index[] is the coset relation: a ~ b iff a^-1 b in H (left), a b^-1 in H (right). */
    for (int32_t a = 0; a < n; a++)
        for (int32_t b = 0; b < n; b++) {
            const int32_t q = side == GM_COSET_LEFT ? gm_group_mul(g, gm_group_inv(g, a), b)
                                                    : gm_group_mul(g, a, gm_group_inv(g, b));
            cr_assert_eq(index[a] == index[b], in_sub(h, q));
        }
    /* Each coset, spelled out from its representative, covers G exactly once. */
    const int32_t *e = gm_subgroup_elements(h);
    memset(size, 0, (size_t)count * sizeof *size);
    char *hit = calloc((size_t)n, 1);
    cr_assert_not_null(hit);
    for (int64_t k = 0; k < count; k++)
        for (int64_t i = 0; i < m; i++) {
            const int32_t x = side == GM_COSET_LEFT ? gm_group_mul(g, reps[k], e[i])
                                                    : gm_group_mul(g, e[i], reps[k]);
            cr_assert_eq(hit[x]++, 0, "element %d covered twice", x);
            cr_assert_eq(index[x], k);
        }
    free(hit);
    free(size);
    free(min);
    gm_cosets_free(c);
}

static void check_cosets(const gm_group *g, const gm_subgroup *h) {
    check_cosets_side(g, h, GM_COSET_LEFT);
    check_cosets_side(g, h, GM_COSET_RIGHT);
}

Test(cosets, partition_reps_and_index) { for_each_subgroup(check_cosets); }

static void check_action(const gm_group *g, const gm_subgroup *h) {
    const int32_t n = (int32_t)gm_group_order(g);
    for (int s = 0; s < 2; s++) {
        const gm_coset_side side = s ? GM_COSET_RIGHT : GM_COSET_LEFT;
        gm_cosets *c = cosets(h, side);
        const int32_t count = (int32_t)gm_cosets_count(c);
        const int32_t *index = gm_cosets_index(c);
        for (int32_t x = 0; x < count; x++) cr_assert_eq(gm_cosets_act(c, 0, x), x, "e.x = x");
        for (int32_t g1 = 0; g1 < n; g1++)
            for (int32_t g2 = 0; g2 < n; g2++) {
                const int32_t g12 = gm_group_mul(g, g1, g2);
                for (int32_t x = 0; x < count; x++) {
                    const int32_t lhs = gm_cosets_act(c, g12, x);
                    const int32_t rhs = side == GM_COSET_LEFT
                                            ? gm_cosets_act(c, g1, gm_cosets_act(c, g2, x))
                                            : gm_cosets_act(c, g2, gm_cosets_act(c, g1, x));
                    cr_assert_eq(lhs, rhs, "compatibility in %s", gm_group_name(g));
                }
            }
        /* Agrees with the coset of the product, for every member of the coset. */
        for (int32_t a = 0; a < n; a++)
            for (int32_t y = 0; y < n; y++) {
                const int32_t img = side == GM_COSET_LEFT ? gm_group_mul(g, a, y)
                                                          : gm_group_mul(g, y, a);
                cr_assert_eq(gm_cosets_act(c, a, index[y]), index[img]);
            }
        /* Transitive: the orbit of coset 0 is everything. */
        char *hit = calloc((size_t)count, 1);
        cr_assert_not_null(hit);
        for (int32_t a = 0; a < n; a++) hit[gm_cosets_act(c, a, 0)] = 1;
        for (int32_t x = 0; x < count; x++) cr_assert(hit[x], "coset %d not reached", x);
        free(hit);
        gm_cosets_free(c);
    }
}

Test(cosets, act_is_a_transitive_group_action) { for_each_subgroup(check_action); }

Test(cosets, bad_side_is_rejected) {
    gm_group *g = cyc(4);
    gm_subgroup *h = sub(g, 0, NULL);
    gm_cosets *c = (gm_cosets *)h; /* must be overwritten with NULL */
    cr_assert_eq(gm_cosets_new(h, (gm_coset_side)7, &c), GM_ERR_INVALID_ARG);
    cr_assert_null(c);
    cr_assert(strstr(gm_error_detail(), "side") && strstr(gm_error_detail(), "C4"), "%s",
              gm_error_detail());
    gm_subgroup_free(h);
    gm_group_free(g);
}

/* The 2x2 stride-2 pooling window on an n x n image: H = 2Z_n x 2Z_n, right
 * cosets H r with r in {0,1}^2, and h*r for h = (2a,2b) is pixel (2a+da, 2b+db). */
Test(cosets, stride2_pooling_window_covers_every_pixel_once) {
    for (int32_t n = 2; n <= 12; n += 2) {
        gm_group *g = prod(cyc(n), cyc(n));
        const int32_t gens[2] = {(2 % n) * n, 2 % n}; /* (2,0), (0,2) */
        gm_subgroup *h = sub(g, 2, gens);
        cr_assert_eq(gm_subgroup_order(h), (n / 2) * (n / 2));
        gm_cosets *c = cosets(h, GM_COSET_RIGHT);
        cr_assert_eq(gm_cosets_count(c), 4);
        const int32_t *reps = gm_cosets_reps(c);
        const int32_t want[4] = {0, 1, n, n + 1};
        for (int k = 0; k < 4; k++) cr_assert_eq(reps[k], want[k], "n = %d, rep %d", n, k);
        const int32_t *e = gm_subgroup_elements(h);
        char *hit = calloc((size_t)(n * n), 1);
        cr_assert_not_null(hit);
        for (int32_t p = 0; p < (n / 2) * (n / 2); p++) {
            const int32_t a = p / (n / 2), b = p % (n / 2);
            cr_assert_eq(e[p], (2 * a) * n + 2 * b, "H in image order");
            for (int k = 0; k < 4; k++) {
                const int32_t x = gm_group_mul(g, e[p], reps[k]);
                cr_assert_eq(x, (2 * a + k / 2) * n + 2 * b + k % 2, "window of output %d", p);
                cr_assert_eq(hit[x]++, 0, "pixel %d pooled twice", x);
            }
        }
        for (int32_t x = 0; x < n * n; x++) cr_assert_eq(hit[x], 1, "pixel %d missed", x);
        free(hit);
        gm_cosets_free(c);
        gm_subgroup_free(h);
        gm_group_free(g);
    }
}

/* p4:4 = Z_4^2 x| C4 with (t, rho) <-> rho*16 + t. The rotation subgroup is
 * the stabilizer of the origin; G/C4 is the 4 x 4 torus. */
Test(cosets, p4_mod_rotations_is_the_torus) {
    const int32_t n = 4, nn = 16;
    gm_group *g = wallpaper(n, false);
    cr_assert_eq(gm_group_ngens(g), 3);
    const int32_t rot = gm_group_gens(g)[2];
    cr_assert_eq(rot, nn, "the rotation generator is (0, r)");
    gm_subgroup *h = sub(g, 1, &rot);
    cr_assert_eq(gm_subgroup_order(h), 4);
    for (int32_t i = 0; i < 4; i++) cr_assert_eq(gm_subgroup_elements(h)[i], i * nn);
    cr_assert_not(gm_subgroup_is_normal(h), "a point stabilizer is not normal");
    gm_cosets *c = cosets(h, GM_COSET_LEFT);
    cr_assert_eq(gm_cosets_count(c), 16);
    const int32_t *index = gm_cosets_index(c);
    for (int32_t t = 0; t < nn; t++) {
        cr_assert_eq(gm_cosets_reps(c)[t], t, "the torus points represent the cosets");
        for (int32_t rho = 0; rho < 4; rho++) cr_assert_eq(index[rho * nn + t], t);
    }
    for (int32_t t = 0; t < nn; t++) {
        const int32_t a = t / n, b = t % n;
        for (int32_t s = 0; s < nn; s++) {
            const int32_t moved = ((a + s / n) % n) * n + (b + s % n) % n;
            cr_assert_eq(gm_cosets_act(c, s, index[t]), moved, "translation %d of point %d", s, t);
        }
        cr_assert_eq(gm_cosets_act(c, rot, index[t]), ((n - b) % n) * n + a,
                     "r.(a,b) = (-b,a)");
    }
    gm_cosets_free(c);
    gm_subgroup_free(h);
    /* The translations form a normal subgroup with the rotations as quotient. */
    h = sub(g, 2, gm_group_gens(g));
    cr_assert_eq(gm_subgroup_order(h), nn);
    cr_assert(gm_subgroup_is_normal(h));
    c = cosets(h, GM_COSET_LEFT);
    cr_assert_eq(gm_cosets_count(c), 4);
    for (int32_t k = 0; k < 4; k++) cr_assert_eq(gm_cosets_reps(c)[k], k * nn);
    gm_cosets_free(c);
    gm_subgroup_free(h);
    gm_group_free(g);
}

Test(cosets, large_group_is_cheap) {
    gm_group *g = wallpaper(64, true);
    const int32_t rot = gm_group_gens(g)[2];
    gm_subgroup *h = sub(g, 1, &rot);
    cr_assert_eq(gm_subgroup_order(h), 4);
    gm_cosets *c = cosets(h, GM_COSET_LEFT);
    cr_assert_eq(gm_cosets_count(c), 64 * 64 * 2);
    gm_cosets_free(c);
    gm_subgroup_free(h);
    gm_group_free(g);
}

/* --- a subgroup as a group -------------------------------------------------- */

static void check_group_axioms(const gm_group *g) {
    const int32_t n = (int32_t)gm_group_order(g);
    for (int32_t a = 0; a < n; a++) {
        cr_assert_eq(gm_group_mul(g, 0, a), a);
        cr_assert_eq(gm_group_mul(g, a, 0), a);
        const int32_t ai = gm_group_inv(g, a);
        cr_assert(ai >= 0 && ai < n);
        cr_assert_eq(gm_group_mul(g, a, ai), 0);
        cr_assert_eq(gm_group_mul(g, ai, a), 0);
        for (int32_t b = 0; b < n; b++) {
            const int32_t ab = gm_group_mul(g, a, b);
            cr_assert(ab >= 0 && ab < n);
            for (int32_t c = 0; c < n; c++)
                cr_assert_eq(gm_group_mul(g, ab, c), gm_group_mul(g, a, gm_group_mul(g, b, c)));
        }
    }
    gm_subgroup *all = sub(g, gm_group_ngens(g), gm_group_gens(g));
    cr_assert_eq(gm_subgroup_order(all), n, "the generators of %s generate it", gm_group_name(g));
    gm_subgroup_free(all);
}

static void check_as_group(const gm_group *g, const gm_subgroup *h) {
    gm_group *s = NULL;
    cr_assert_eq(gm_subgroup_as_group(h, &s), GM_OK, "%s", gm_error_detail());
    const int64_t m = gm_subgroup_order(h);
    const int32_t *e = gm_subgroup_elements(h);
    cr_assert_eq(gm_group_order(s), m);
    cr_assert_eq(gm_group_kind_of(s), GM_GROUP_SUBGROUP);
    cr_assert_eq(gm_group_param(s), 0);
    cr_assert(strstr(gm_group_name(s), gm_group_name(g)) != NULL, "%s", gm_group_name(s));
    for (int32_t i = 0; i < m; i++) {
        cr_assert_eq(e[gm_group_inv(s, i)], gm_group_inv(g, e[i]));
        for (int32_t j = 0; j < m; j++)
            cr_assert_eq(e[gm_group_mul(s, i, j)], gm_group_mul(g, e[i], e[j]));
    }
    if (m <= 16) check_group_axioms(s);
    gm_group_free(s);
}

Test(subgroup, as_group_is_a_group_over_many_subgroups) { for_each_subgroup(check_as_group); }

/* 2Z_n x 2Z_n as a group is C_{n/2} x C_{n/2} with the identity map of indices. */
Test(subgroup, even_torus_is_the_half_torus) {
    for (int64_t n = 2; n <= 10; n += 2) {
        gm_group *g = prod(cyc(n), cyc(n));
        const int32_t gens[2] = {(int32_t)((2 % n) * n), (int32_t)(2 % n)};
        gm_subgroup *h = sub(g, 2, gens);
        gm_group *s = NULL, *half = prod(cyc(n / 2), cyc(n / 2));
        cr_assert_eq(gm_subgroup_as_group(h, &s), GM_OK);
        cr_assert_eq(gm_group_order(s), gm_group_order(half));
        const int32_t m = (int32_t)gm_group_order(s);
        for (int32_t a = 0; a < m; a++) {
            cr_assert_eq(gm_group_inv(s, a), gm_group_inv(half, a));
            for (int32_t b = 0; b < m; b++)
                cr_assert_eq(gm_group_mul(s, a, b), gm_group_mul(half, a, b), "n = %lld",
                             (long long)n);
        }
        check_group_axioms(s);
        gm_group_free(half);
        gm_group_free(s);
        gm_subgroup_free(h);
        gm_group_free(g);
    }
}

/* <r^2, f> <= D_n (n even) is D_{n/2} via r^(2p) -> r^p, f r^(2p) -> f r^p. In
 * ascending parent order the subgroup is r^0, r^2, ..., f, f r^2, ..., so that
 * map is the identity of indices. */
Test(subgroup, even_rotations_with_mirror_are_the_half_dihedral) {
    for (int64_t n = 2; n <= 14; n += 2) {
        gm_group *g = dih(n), *half = dih(n / 2), *s = NULL;
        const int32_t gens[2] = {2, (int32_t)n};
        gm_subgroup *h = sub(g, 2, gens);
        cr_assert_eq(gm_subgroup_order(h), n);
        const int32_t *e = gm_subgroup_elements(h);
        for (int32_t p = 0; p < n / 2; p++) {
            cr_assert_eq(e[p], 2 * p, "position %d is r^%d", p, 2 * p);
            cr_assert_eq(e[n / 2 + p], n + 2 * p, "position %lld is f r^%d",
                         (long long)(n / 2 + p), 2 * p);
        }
        cr_assert_eq(gm_subgroup_as_group(h, &s), GM_OK);
        for (int32_t a = 0; a < n; a++) {
            cr_assert_eq(gm_group_inv(s, a), gm_group_inv(half, a));
            for (int32_t b = 0; b < n; b++)
                cr_assert_eq(gm_group_mul(s, a, b), gm_group_mul(half, a, b), "n = %lld",
                             (long long)n);
        }
        check_group_axioms(s);
        cr_assert(gm_subgroup_is_normal(h), "index 2");
        gm_group_free(s);
        gm_subgroup_free(h);
        gm_group_free(half);
        gm_group_free(g);
    }
}

/* The stride-2 subgroup of p4:n / p4m:n is p4:(n/2) / p4m:(n/2) with the
 * identity map of indices, and every element is an even translation times a
 * point-group element. */
Test(subgroup, stride2_of_wallpaper_groups_is_the_half_wallpaper_group) {
    for (int mirror = 0; mirror <= 1; mirror++)
        for (int64_t n = 2; n <= 8; n += 2) {
            gm_group *g = wallpaper(n, mirror), *half = wallpaper(n / 2, mirror), *s = NULL;
            gm_subgroup *h = NULL;
            cr_assert_eq(gm_subgroup_stride2_new(g, &h), GM_OK, "%s", gm_error_detail());
            cr_assert_eq(gm_subgroup_order(h), gm_group_order(g) / 4);
            const int32_t *e = gm_subgroup_elements(h);
            for (int64_t i = 0; i < gm_subgroup_order(h); i++) {
                const int64_t t = e[i] % (n * n);
                cr_assert(t / n % 2 == 0 && t % n % 2 == 0, "element %d is an odd shift", e[i]);
            }
            cr_assert_eq(gm_subgroup_as_group(h, &s), GM_OK);
            const int32_t m = (int32_t)gm_group_order(s);
            cr_assert_eq(m, gm_group_order(half));
            for (int32_t a = 0; a < m; a++)
                for (int32_t b = 0; b < m; b++)
                    cr_assert_eq(gm_group_mul(s, a, b), gm_group_mul(half, a, b),
                                 "%s: %d * %d", gm_group_name(g), a, b);
            gm_group_free(s);
            gm_subgroup_free(h);
            gm_group_free(half);
            gm_group_free(g);
        }
    gm_group *odd = wallpaper(5, true);
    gm_subgroup *h = NULL;
    cr_assert_eq(gm_subgroup_stride2_new(odd, &h), GM_ERR_UNSUPPORTED);
    cr_assert(strstr(gm_error_detail(), "p4m:5") && strstr(gm_error_detail(), "odd"), "%s",
              gm_error_detail());
    gm_group_free(odd);
}

/* The wallpaper support: every translation of the window with every point
 * group element, (da, db) the slow indices; its plan rows are g s_k^-1. */
Test(nbhd, wallpaper_reference_support) {
    for (int mirror = 0; mirror <= 1; mirror++) {
        const int64_t n = 6, points = mirror ? 8 : 4;
        gm_group *g = wallpaper(n, mirror);
        cr_assert_eq(gm_group_wallpaper_points(g), points);
        gm_nbhd *s = NULL;
        cr_assert_eq(gm_nbhd_reference_new(g, 1, &s), GM_OK, "%s", gm_error_detail());
        cr_assert_eq(gm_nbhd_size(s), 9 * points);
        const int32_t *e = gm_nbhd_elements(s);
        cr_assert_eq(e[4 * points], 0, "the centre with the identity");
        int64_t k = 0;
        for (int64_t da = -1; da <= 1; da++)
            for (int64_t db = -1; db <= 1; db++)
                for (int64_t h = 0; h < points; h++, k++) {
                    /* (da, db) * h as a product in the group. */
                    const int32_t shift = (int32_t)(((da + n) % n) * n + (db + n) % n);
                    const int32_t rot = (int32_t)(h * n * n);
                    cr_assert_eq(e[k], gm_group_mul(g, shift, rot), "entry %lld", (long long)k);
                }
        gm_nbhd_free(s);
        gm_group_free(g);
    }
    gm_group *c = cyc(4);
    cr_assert_eq(gm_group_wallpaper_points(c), 0);
    gm_group_free(c);
}

Test(subgroup, as_group_names_and_generators) {
    gm_group *d4 = dih(4), *s = NULL;
    const int32_t gens[3] = {2, 0, 4};
    gm_subgroup *h = sub(d4, 3, gens);
    cr_assert_eq(gm_subgroup_as_group(h, &s), GM_OK);
    cr_assert_str_eq(gm_group_name(s), "<r^2,f> in D4");
    cr_assert_eq(gm_group_ngens(s), 2, "the identity is not a generator");
    cr_assert_eq(gm_group_gens(s)[0], 1);
    cr_assert_eq(gm_group_gens(s)[1], 2);
    char buf[32];
    gm_group_element_name(s, 3, buf, sizeof buf);
    cr_assert_str_eq(buf, "f*r^2", "elements keep their parent's names");
    /* A subgroup of a subgroup group. */
    const int32_t f = 2;
    gm_subgroup *hh = sub(s, 1, &f);
    gm_group *ss = NULL;
    cr_assert_eq(gm_subgroup_as_group(hh, &ss), GM_OK);
    cr_assert_str_eq(gm_group_name(ss), "<f> in <r^2,f> in D4");
    check_group_axioms(ss);
    gm_group_free(ss);
    gm_subgroup_free(hh);
    gm_group_free(s);
    gm_subgroup_free(h);
    /* The subgroup group keeps the parent alive. */
    h = sub(d4, 0, NULL);
    gm_group_free(d4);
    cr_assert_eq(gm_subgroup_as_group(h, &s), GM_OK);
    gm_subgroup_free(h);
    cr_assert_str_eq(gm_group_name(s), "<e> in D4");
    cr_assert_eq(gm_group_order(s), 1);
    cr_assert_eq(gm_group_ngens(s), 0);
    gm_group_free(s);

    gm_group *t = prod(cyc(4), cyc(4));
    const int32_t tg[2] = {8, 2};
    h = sub(t, 2, tg);
    cr_assert_eq(gm_subgroup_as_group(h, &s), GM_OK);
    cr_assert_str_eq(gm_group_name(s), "<(2,0),(0,2)> in C4xC4");
    gm_group_free(s);
    gm_subgroup_free(h);
    gm_group_free(t);
}

/* --- malformed input -------------------------------------------------------- */

Test(subgroup, bad_generators_are_rejected) {
    gm_group *g = dih(4);
    const int32_t bad[3][2] = {{1, 8}, {-1, 1}, {1, 1000}};
    for (int i = 0; i < 3; i++) {
        gm_subgroup *h = (gm_subgroup *)g;
        cr_assert_eq(gm_subgroup_generated_new(g, 2, bad[i], &h), GM_ERR_INVALID_ARG);
        cr_assert_null(h);
        const char *d = gm_error_detail();
        cr_assert(strstr(d, "D4") && strstr(d, "generator"), "%s", d);
    }
    cr_assert(strstr(gm_error_detail(), "1000"), "%s", gm_error_detail());
    gm_subgroup *h = NULL;
    cr_assert_eq(gm_subgroup_generated_new(g, -1, bad[0], &h), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_subgroup_generated_new(g, 1, NULL, &h), GM_ERR_INVALID_ARG);
    cr_assert_null(h);
    gm_group_free(g);
}

/* Every allocation failure reports GM_ERR_NOMEM and leaves nothing behind. */
Test(subgroup, allocation_failures_are_reported) {
    gm_group *g = prod(dih(3), cyc(4));
    const int32_t gens[2] = {4, 13};
    gm_subgroup *ok = sub(g, 2, gens);
    bool done[5] = {false};
    for (int64_t k = 0; k < 40; k++) {
        gm_subgroup *h = NULL;
        gm_cosets *c = NULL;
        gm_group *s = NULL;
        gm_nbhd *nb = NULL;
        gm_status st[5];
        gm_alloc_fail_after(k);
        st[0] = gm_subgroup_generated_new(g, 2, gens, &h);
        gm_alloc_fail_after(k);
        st[1] = gm_cosets_new(ok, GM_COSET_RIGHT, &c);
        gm_alloc_fail_after(k);
        st[2] = gm_subgroup_as_group(ok, &s);
        gm_alloc_fail_after(k);
        st[3] = gm_nbhd_reference_new(g, 2, &nb);
        gm_nbhd_free(nb);
        nb = NULL;
        gm_alloc_fail_after(k);
        st[4] = gm_nbhd_ball_new(g, 2, gens, 3, &nb);
        gm_alloc_fail_after(-1);
        for (int i = 0; i < 5; i++) {
            cr_assert(st[i] == GM_OK || st[i] == GM_ERR_NOMEM, "call %d after %lld", i,
                      (long long)k);
            if (st[i] == GM_OK) done[i] = true;
        }
        cr_assert_eq(st[0] == GM_OK, h != NULL);
        cr_assert_eq(st[1] == GM_OK, c != NULL);
        cr_assert_eq(st[2] == GM_OK, s != NULL);
        cr_assert_eq(st[4] == GM_OK, nb != NULL);
        gm_subgroup_free(h);
        gm_cosets_free(c);
        gm_group_free(s);
        gm_nbhd_free(nb);
    }
    for (int i = 0; i < 5; i++) cr_assert(done[i], "call %d eventually succeeds", i);
    gm_subgroup_free(ok);
    gm_group_free(g);
}

/* --- neighbourhoods ---------------------------------------------------------- */

static gm_nbhd *reference(const gm_group *g, int64_t t) {
    gm_nbhd *s = NULL;
    cr_assert_eq(gm_nbhd_reference_new(g, t, &s), GM_OK, "%s t=%lld: %s", gm_group_name(g),
                 (long long)t, gm_error_detail());
    return s;
}

/* "3 (mod 5)" -> 3, "r^2" -> 2, "f^1 * r^2" -> n + 2. */
static int32_t fixture_element(const char *name, int64_t n) {
    if (strncmp(name, "f^1 * r^", 8) == 0) return (int32_t)(n + atoi(name + 8));
    if (strncmp(name, "r^", 2) == 0) return atoi(name + 2);
    cr_assert(strstr(name, "(mod ") != NULL, "unexpected element name '%s'", name);
    return atoi(name);
}

Test(nbhd, reference_matches_the_fixture) {
    char *text = ts_read_file(GM_FIXTURE_DIR "/reference-index.json");
    cr_assert_not_null(text, "cannot read the fixture");
    json_t *root = json_loads(text, 0, NULL);
    gm_free(text);
    cr_assert_not_null(root, "fixture is not JSON");
    int entries = 0;
    const char *name = NULL;
    json_t *e = NULL;
    json_object_foreach(root, name, e) {
        const char *kind = json_string_value(json_object_get(e, "group"));
        const int64_t n = (int64_t)json_number_value(json_object_get(e, "order"));
        const int64_t t = (int64_t)json_number_value(json_object_get(e, "t"));
        const int64_t K = (int64_t)json_number_value(json_object_get(e, "K"));
        const int64_t N = (int64_t)json_number_value(json_object_get(e, "N"));
        const bool dihedral = strcmp(kind, "dihedral") == 0;
        cr_assert(dihedral || strcmp(kind, "cyclic") == 0, "%s", kind);
        gm_group *g = dihedral ? dih(n) : cyc(n);
        const int64_t order = gm_group_order(g);

        /* The reference orders the axis like we do. */
        const json_t *axis = json_object_get(e, "axis_elements");
        cr_assert_eq((int64_t)json_array_size(axis), order);
        for (int i = 0; i < order; i++)
            cr_assert_eq(fixture_element(json_string_value(json_array_get(axis, (size_t)i)), n), i);

        const json_t *nb1 = json_object_get(e, "neighbourhood_1d");
        gm_nbhd *s1 = reference(g, t);
        cr_assert_eq(gm_nbhd_size(s1), (int64_t)json_array_size(nb1), "%s", name);
        cr_assert_eq(gm_nbhd_group_order(s1), order);
        for (int k = 0; k < gm_nbhd_size(s1); k++)
            cr_assert_eq(gm_nbhd_elements(s1)[k],
                         fixture_element(json_string_value(json_array_get(nb1, (size_t)k)), n),
                         "%s entry %d", name, k);

        /* On G x G: the product support, and the reference's index matrix
         * index_matrix[k][l] = g_l s_k^-1. */
        gm_group *gg = prod(gm_group_retain(g), gm_group_retain(g));
        cr_assert_eq(gm_group_order(gg), N);
        gm_nbhd *s2 = reference(gg, t);
        const int64_t k1n = gm_nbhd_size(s1);
        cr_assert_eq(gm_nbhd_size(s2), K, "%s: K", name);
        for (int64_t k = 0; k < K; k++)
            cr_assert_eq(gm_nbhd_elements(s2)[k],
                         gm_nbhd_elements(s1)[k / k1n] * order + gm_nbhd_elements(s1)[k % k1n]);
        const json_t *im = json_object_get(e, "index_matrix");
        cr_assert_eq((int64_t)json_array_size(im), K);
        for (int k = 0; k < K; k++) {
            const json_t *row = json_array_get(im, (size_t)k);
            const int32_t sinv = gm_group_inv(gg, gm_nbhd_elements(s2)[k]);
            cr_assert_eq((int64_t)json_array_size(row), N);
            for (int32_t l = 0; l < N; l++)
                cr_assert_eq(gm_group_mul(gg, l, sinv),
                             (int32_t)json_number_value(json_array_get(row, (size_t)l)),
                             "%s index_matrix[%d][%d]", name, k, l);
        }
        gm_nbhd_free(s2);
        gm_nbhd_free(s1);
        gm_group_free(gg);
        gm_group_free(g);
        entries++;
    }
    cr_assert_eq(entries, 6);
    json_decref(root);
}

Test(nbhd, reference_sizes_and_order) {
    for (int64_t t = 0; t <= 3; t++)
        for (int64_t n = 1; n <= 9; n++) {
            gm_group *c = cyc(n), *d = dih(n);
            gm_nbhd *sc = reference(c, t), *sd = reference(d, t);
            cr_assert_eq(gm_nbhd_size(sc), 2 * t + 1);
            cr_assert_eq(gm_nbhd_size(sd), 2 * (2 * t + 1));
            for (int64_t i = -t; i <= t; i++) {
                const int32_t m = (int32_t)(((i % n) + n) % n);
                cr_assert_eq(gm_nbhd_elements(sc)[i + t], m);
                cr_assert_eq(gm_nbhd_elements(sd)[2 * (i + t)], m, "r^i");
                cr_assert_eq(gm_nbhd_elements(sd)[2 * (i + t) + 1], n + m, "f r^i");
            }
            gm_group *cc = prod(gm_group_retain(c), gm_group_retain(c));
            gm_group *dd = prod(gm_group_retain(d), gm_group_retain(d));
            gm_group *dc = prod(gm_group_retain(d), gm_group_retain(c));
            gm_nbhd *s_cc = reference(cc, t), *s_dd = reference(dd, t), *s_dc = reference(dc, t);
            cr_assert_eq(gm_nbhd_size(s_cc), (2 * t + 1) * (2 * t + 1));
            cr_assert_eq(gm_nbhd_size(s_dd), (2 * (2 * t + 1)) * (2 * (2 * t + 1)));
            cr_assert_eq(gm_nbhd_size(s_dc), 2 * (2 * t + 1) * (2 * t + 1));
            /* k = k1*|N2| + k2 and (s1,s2) = s1*|G2| + s2. */
            const int64_t k2n = gm_nbhd_size(sc);
            for (int64_t k = 0; k < gm_nbhd_size(s_dc); k++)
                cr_assert_eq(gm_nbhd_elements(s_dc)[k],
                             gm_nbhd_elements(sd)[k / k2n] * n + gm_nbhd_elements(sc)[k % k2n]);
            gm_nbhd_free(s_cc);
            gm_nbhd_free(s_dd);
            gm_nbhd_free(s_dc);
            gm_group_free(cc);
            gm_group_free(dd);
            gm_group_free(dc);
            gm_nbhd_free(sc);
            gm_nbhd_free(sd);
            gm_group_free(c);
            gm_group_free(d);
        }
}

Test(nbhd, reference_keeps_repeats_and_nests_products) {
    gm_group *c2 = cyc(2);
    gm_nbhd *s = reference(c2, 1);
    const int32_t want[3] = {1, 0, 1};
    cr_assert_eq(gm_nbhd_size(s), 3);
    for (int k = 0; k < 3; k++) cr_assert_eq(gm_nbhd_elements(s)[k], want[k]);
    gm_nbhd_free(s);
    gm_group *c1 = cyc(1);
    s = reference(c1, 2);
    cr_assert_eq(gm_nbhd_size(s), 5);
    for (int k = 0; k < 5; k++) cr_assert_eq(gm_nbhd_elements(s)[k], 0);
    gm_nbhd_free(s);
    gm_group_free(c1);
    /* (C2 x D3) x C3: the recursion follows the product tree. */
    gm_group *g = prod(prod(gm_group_retain(c2), dih(3)), cyc(3));
    s = reference(g, 1);
    cr_assert_eq(gm_nbhd_size(s), 3 * 6 * 3);
    cr_assert_eq(gm_nbhd_group_order(s), 36);
    /* k = 0: (1, r^-1 = r^2, -1 = 2) -> (1*6 + 2)*3 + 2. */
    cr_assert_eq(gm_nbhd_elements(s)[0], (1 * 6 + 2) * 3 + 2);
    /* k = 1*18 + 3*3 + 1: (0, f r^0, 0). */
    cr_assert_eq(gm_nbhd_elements(s)[18 + 9 + 1], (0 * 6 + 3) * 3 + 0);
    gm_nbhd_free(s);
    gm_group_free(g);
    gm_group_free(c2);
}

Test(nbhd, reference_rejects_bad_input) {
    gm_group *c = cyc(5);
    gm_nbhd *s = (gm_nbhd *)c;
    cr_assert_eq(gm_nbhd_reference_new(c, -1, &s), GM_ERR_INVALID_ARG);
    cr_assert_null(s);
    cr_assert(strstr(gm_error_detail(), "C5") && strstr(gm_error_detail(), "-1"), "%s",
              gm_error_detail());
    cr_assert_eq(gm_nbhd_reference_new(c, (int64_t)1 << 40, &s), GM_ERR_TOO_LARGE);
    cr_assert_null(s);

    gm_group *p4 = wallpaper(4, false);
    gm_group *p4small = wallpaper(2, false);
    cr_assert_eq(gm_nbhd_reference_new(p4small, 1, &s), GM_OK, "%s", gm_error_detail());
    cr_assert_eq(gm_nbhd_size(s), 36, "a 3x3 window on a 2x2 torus keeps its repeats");
    cr_assert_eq(gm_nbhd_elements(s)[0], gm_nbhd_elements(s)[8 * 4], "(-1,-1) = (1,1) mod 2");
    gm_nbhd_free(s);
    gm_group_free(p4small);

    gm_group *mixed = prod(gm_group_retain(c), gm_group_retain(p4));
    cr_assert_eq(gm_nbhd_reference_new(mixed, 1, &s), GM_ERR_UNSUPPORTED);
    cr_assert_null(s);
    cr_assert(strstr(gm_error_detail(), "C5xp4:4") && strstr(gm_error_detail(), "factor p4:4"),
              "%s", gm_error_detail());

    gm_subgroup *h = sub(c, 0, NULL);
    gm_group *hg = NULL;
    cr_assert_eq(gm_subgroup_as_group(h, &hg), GM_OK);
    cr_assert_eq(gm_nbhd_reference_new(hg, 1, &s), GM_ERR_UNSUPPORTED);
    cr_assert(strstr(gm_error_detail(), "<e> in C5"), "%s", gm_error_detail());
    gm_group_free(hg);
    gm_subgroup_free(h);
    gm_group_free(mixed);
    gm_group_free(p4);
    gm_group_free(c);
}

static gm_nbhd *ball(const gm_group *g, int64_t ngens, const int32_t *gens, int64_t t) {
    gm_nbhd *s = NULL;
    cr_assert_eq(gm_nbhd_ball_new(g, ngens, gens, t, &s), GM_OK, "%s", gm_error_detail());
    return s;
}

Test(nbhd, ball_in_cyclic_groups) {
    for (int32_t n = 1; n <= 9; n++) {
        gm_group *g = cyc(n);
        const int32_t one = 1 % n;
        for (int64_t t = 0; t <= 6; t++) {
            int32_t want[32];
            int len = 0;
            char seen[16] = {0};
            want[len++] = 0;
            seen[0] = 1;
            for (int32_t i = 1; i <= t; i++) {
                const int32_t cand[2] = {i % n, ((-i % n) + n) % n};
                for (int j = 0; j < 2; j++)
                    if (!seen[cand[j]]) {
                        seen[cand[j]] = 1;
                        want[len++] = cand[j];
                    }
            }
            gm_nbhd *s = ball(g, 1, &one, t);
            const int64_t size = 2 * t + 1 < n ? 2 * t + 1 : n;
            cr_assert_eq(gm_nbhd_size(s), size, "C%d radius %lld", n, (long long)t);
            cr_assert_eq(len, size);
            for (int k = 0; k < len; k++)
                cr_assert_eq(gm_nbhd_elements(s)[k], want[k], "C%d radius %lld entry %d", n,
                             (long long)t, k);
            gm_nbhd_free(s);
        }
        gm_group_free(g);
    }
}

Test(nbhd, ball_in_d4) {
    gm_group *g = dih(4);
    const int32_t gens[2] = {1, 4};
    gm_nbhd *s = ball(g, 2, gens, 8);
    /* Level 1: r, r^-1, f; level 2: r^2, r f = f r^3, r^-1 f = f r; level 3: r^2 f = f r^2. */
    const int32_t want[8] = {0, 1, 3, 4, 2, 7, 5, 6};
    cr_assert_eq(gm_nbhd_size(s), 8, "the ball is all of D4");
    for (int k = 0; k < 8; k++) cr_assert_eq(gm_nbhd_elements(s)[k], want[k], "entry %d", k);
    gm_nbhd_free(s);
    s = ball(g, 2, gens, 0);
    cr_assert_eq(gm_nbhd_size(s), 1);
    cr_assert_eq(gm_nbhd_elements(s)[0], 0);
    gm_nbhd_free(s);
    gm_group_free(g);
}

Test(nbhd, balls_grow_by_prefixes_and_exhaust_the_group) {
    for (int z = 0; z < ZOO_SIZE; z++) {
        gm_group *g = zoo(z);
        const int64_t n = gm_group_order(g), ng = gm_group_ngens(g);
        const int32_t *gens = gm_group_gens(g);
        gm_nbhd *prev = ball(g, ng, gens, 0);
        for (int64_t t = 1; t <= n; t++) {
            gm_nbhd *s = ball(g, ng, gens, t);
            const int64_t ps = gm_nbhd_size(prev), size = gm_nbhd_size(s);
            const int32_t *pe = gm_nbhd_elements(prev), *e = gm_nbhd_elements(s);
            cr_assert_geq(size, ps);
            for (int64_t k = 0; k < ps; k++) cr_assert_eq(e[k], pe[k], "prefix");
            /* Each new element is one generator step from the previous ball. */
            for (int64_t k = ps; k < size; k++) {
                bool near = false;
                for (int64_t q = 0; q < ps && !near; q++)
                    for (int64_t i = 0; i < ng && !near; i++)
                        near = gm_group_mul(g, pe[q], gens[i]) == e[k] ||
                               gm_group_mul(g, pe[q], gm_group_inv(g, gens[i])) == e[k];
                cr_assert(near);
            }
            for (int64_t k = 0; k < size; k++)
                for (int64_t j = k + 1; j < size; j++) cr_assert_neq(e[k], e[j], "no repeats");
            gm_nbhd_free(prev);
            prev = s;
        }
        cr_assert_eq(gm_nbhd_size(prev), n, "radius |G| covers %s", gm_group_name(g));
        gm_nbhd_free(prev);
        gm_group_free(g);
    }
}

Test(nbhd, ball_rejects_bad_input) {
    gm_group *g = dih(4);
    const int32_t bad[2] = {1, 8};
    gm_nbhd *s = (gm_nbhd *)g;
    cr_assert_eq(gm_nbhd_ball_new(g, 2, bad, 1, &s), GM_ERR_INVALID_ARG);
    cr_assert_null(s);
    cr_assert(strstr(gm_error_detail(), "generator 1") && strstr(gm_error_detail(), "D4"), "%s",
              gm_error_detail());
    cr_assert_eq(gm_nbhd_ball_new(g, 1, bad, -2, &s), GM_ERR_INVALID_ARG);
    cr_assert(strstr(gm_error_detail(), "-2"), "%s", gm_error_detail());
    cr_assert_eq(gm_nbhd_ball_new(g, -1, bad, 1, &s), GM_ERR_INVALID_ARG);
    cr_assert_eq(gm_nbhd_ball_new(g, 1, NULL, 1, &s), GM_ERR_INVALID_ARG);
    cr_assert_null(s);
    gm_group_free(g);
}
