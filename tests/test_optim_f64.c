/* The optimizer, clipping and schedule tests against the float64 build of the
 * library, where the update rules must match the double reference to
 * rounding (the tolerances in test_optim.c tighten with sizeof(gm_real)). */
#include "test_optim.c"
