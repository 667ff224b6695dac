"""Finite groups and group matrices."""
import ctypes

import numpy as np

from ._lib import check, lib

__all__ = ["Group", "group_matrix", "displacement_rank"]


class Group:
    """A finite group from a spec string ("C8", "D14xD14", "p4m:28", "S4",
    "perm:(0 1 2),(0 1)", ...; the syntax of docs/groups.md). Elements are
    the integers 0 .. order-1, 0 the identity."""

    def __init__(self, spec: str):
        self._ptr = ctypes.c_void_p()
        check(lib.gm_group_from_spec(spec.encode(), ctypes.byref(self._ptr)))

    def __del__(self):
        if getattr(self, "_ptr", None):
            lib.gm_group_free(self._ptr)
            self._ptr = None

    @property
    def order(self) -> int:
        return lib.gm_group_order(self._ptr)

    @property
    def name(self) -> str:
        return lib.gm_group_name(self._ptr).decode()

    @property
    def generators(self) -> list:
        n = lib.gm_group_ngens(self._ptr)
        gens = lib.gm_group_gens(self._ptr)
        return [gens[i] for i in range(n)]

    @property
    def is_abelian(self) -> bool:
        return bool(lib.gm_group_is_abelian(self._ptr))

    def element_name(self, a: int) -> str:
        self._check_element(a)
        buf = ctypes.create_string_buffer(128)
        lib.gm_group_element_name(self._ptr, a, buf, len(buf))
        return buf.value.decode()

    def inverse(self, a: int) -> int:
        self._check_element(a)
        return lib.gm_group_inv(self._ptr, a)

    def cayley_table(self) -> np.ndarray:
        """(order, order) int32 array: table[a, b] = ab."""
        n = self.order
        if n > 1 << 14:
            raise ValueError(f"{self.name}: a Cayley table of {n}^2 entries is too large")
        t = np.empty((n, n), dtype=np.int32)
        lib.gm_group_cayley_table(self._ptr, t.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)))
        return t

    def convolution_table(self, radius: int = 1) -> np.ndarray:
        """The index table of a group convolution over the reference
        neighbourhood S = (s_0, ..., s_{K-1}) of the given radius: a (K, order)
        int32 array with table[k, g] = g s_k^-1, the input element that the
        kernel's k-th weight multiplies for output g (gmcnn/gmat.h)."""
        nb, plan = ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.gm_nbhd_reference_new(self._ptr, int(radius), ctypes.byref(nb)))
        try:
            check(lib.gm_gmat_plan_new(self._ptr, nb, ctypes.byref(plan)))
            k, n = lib.gm_gmat_plan_support_size(plan), lib.gm_gmat_plan_order(plan)
            table = np.ctypeslib.as_array(lib.gm_gmat_plan_table(plan), shape=(k, n)).copy()
            lib.gm_gmat_plan_free(plan)
            return table
        finally:
            lib.gm_nbhd_free(nb)

    def _check_element(self, a):
        if not 0 <= int(a) < self.order:
            raise ValueError(f"{self.name}: element {a} is outside 0..{self.order - 1}")

    def __repr__(self):
        return f"Group({self.name!r}, order={self.order})"


def group_matrix(group: Group, f) -> np.ndarray:
    """The group matrix M_G(f) of a function f on the group (an array of
    `order` values): (order, order) float64 (gm_gmat_dense)."""
    f = np.ascontiguousarray(f, dtype=np.float64)
    if f.shape != (group.order,):
        raise ValueError(f"group_matrix: f has shape {f.shape}, expected ({group.order},)")
    m = np.empty((group.order, group.order))
    lib.gm_gmat_dense(group._ptr, f.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                      m.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
    return m


def displacement_rank(group: Group, m, eps: float = np.finfo(np.float64).eps) -> int:
    """The displacement rank of an (order, order) matrix with respect to the
    group: 0 exactly for its group matrices. eps is the precision of the
    data (float32 data: np.finfo(np.float32).eps), which sets the tolerance
    of the numerical rank."""
    m = np.ascontiguousarray(m, dtype=np.float64)
    if m.shape != (group.order, group.order):
        raise ValueError(f"displacement_rank: the matrix is {m.shape}, expected "
                         f"({group.order}, {group.order})")
    r = ctypes.c_int64()
    check(lib.gm_gmat_displacement_rank_eps(group._ptr,
                                            m.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                                            -1.0, float(eps), ctypes.byref(r), None))
    return r.value
