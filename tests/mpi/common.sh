# Shared by the MPI tests (sourced after setting `name`, with the arguments
# GMCNN MPIEXEC PYTHON): the tool, the launcher and python3, a temporary
# working directory removed on exit, fail(), and mpirun NP CMD... on the
# 2-core machine (oversubscribed, one OpenMP thread per rank, not bound).
gmcnn=$(realpath "$1")
mpiexec=$2
python=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "$name: $*" >&2
  exit 1
}
# OpenMPI's own allocations are not the library's: leak checks stay off under
# mpirun (sanitizer builds).
export OMP_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpirun() {
  np=$1
  shift
  "$mpiexec" --oversubscribe --allow-run-as-root --bind-to none -np "$np" "$@"
}
cd "$tmp"
