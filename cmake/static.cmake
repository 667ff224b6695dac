# A fully static gmcnn tool (-DGM_STATIC_TOOL=ON; `make static`, README
# "Embedding builds"): `ldd build-static/gmcnn` says "not a dynamic
# executable". Included by CMakeLists.txt after GM_LINK_LIBS is set.
#
# GM_LINK_LIBS names shared libraries (the imported targets of pkg-config
# resolve to .so paths, OpenBLAS is linked by the path of its .so), which
# -static cannot link. Here every dependency becomes its static archive:
#   - a pkg-config module (PkgConfig::<PREFIX>): the libraries of
#     `pkg-config --static --libs` (<PREFIX>_STATIC_LIBRARIES, found in
#     <PREFIX>_STATIC_LIBRARY_DIRS before the usual directories), so that
#     cairo brings pixman, fontconfig, freetype, expat, png, brotli, bz2, X11
#     and xcb, glib and the rest of its closure;
#   - OpenBLAS: the libopenblas.a beside the .so of the OpenMP build, with
#     what it needs itself (its .pc file's Libs.private: gfortran, whose
#     archive comes with GCC, as do quadmath's and libgomp's); it is also the
#     LAPACK that lapacke's closure names (-llapack, which would otherwise
#     be whatever the alternatives system points liblapack.a at);
#   - zlib: libz.a; OpenMP: -fopenmp (not the imported target, which names
#     libgomp.so), which links libgomp.a under -static;
#   - the C library's own (m, pthread, dl, rt): left to the compiler, which
#     takes glibc's archives under -static.
# All archives go between --start-group and --end-group, so that their order
# does not matter. A dependency without an archive fails configuration and
# names it. On Debian 12 every archive is there (the -dev packages of
# scripts/setup-deps.sh and theirs ship them; libgfortran-12-dev gives
# libgfortran.a), so the static tool has every part, plotting included; on a
# system where cairo's closure lacks an archive, -DGM_WITH_PLOT=OFF builds
# the static tool without plotting (`gmcnn plot`, the rollout PNG and
# metrics.png of `gmcnn train` then report GM_ERR_UNSUPPORTED).
#
# The link warns once, for libgomp.a: "Using 'dlopen' in statically linked
# applications requires at runtime the shared libraries from the glibc
# version used for linking". libgomp dlopens its offloading plugins only for
# OpenMP target regions, which gmcnn has none of. (No warning about
# getpwnam or getaddrinfo: the parts of X11, fontconfig and glib that call
# them are not linked in.)
#
# The build is for the tool alone: GM_BUILD_TESTS is turned off, and the
# shared library (which cannot take non-PIC archives) is left out of `all`.

set(GM_BUILD_TESTS OFF)

# Full path of lib<name>.a: in `dirs`, then where the compiler finds it (GCC's
# own archives), then the usual directories. Fails configuration without one.
function(gm_static_archive name dirs what out)
  set(var GM_STATIC_ARCHIVE_${name})
  if(NOT ${var})
    find_library(${var} NAMES lib${name}.a PATHS ${dirs} NO_DEFAULT_PATH)
  endif()
  if(NOT ${var})
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=lib${name}.a
                    OUTPUT_VARIABLE gcc_path OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(IS_ABSOLUTE "${gcc_path}" AND EXISTS "${gcc_path}")
      set(${var} ${gcc_path} CACHE FILEPATH "static archive of ${name}" FORCE)
    endif()
  endif()
  if(NOT ${var})
    find_library(${var} NAMES lib${name}.a)
  endif()
  if(NOT ${var})
    message(FATAL_ERROR "GM_STATIC_TOOL: no static archive lib${name}.a for ${what} (searched "
            "${dirs}, the compiler's and the system's directories). Install the -dev package "
            "that ships it, or leave out the part that needs it (-DGM_WITH_PLOT=OFF for cairo's, "
            "cmake/features.cmake).")
  endif()
  set(${out} ${${var}} PARENT_SCOPE)
endfunction()

set(GM_STATIC_SYSTEM_LIBS m pthread dl rt c)
# BLAS and LAPACK that a pkg-config closure names (lapacke's: -llapack, an
# alternatives link) are OpenBLAS's own, linked by path below, unless that
# build has no LAPACK.
set(GM_STATIC_FROM_OPENBLAS blas cblas openblas lapack)
if(EXISTS ${GM_OPENBLAS_DIR}/pkgconfig/openblas.pc AND PKG_CONFIG_EXECUTABLE)
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=openblas_config
                          ${GM_OPENBLAS_DIR}/pkgconfig/openblas.pc
                  OUTPUT_VARIABLE config ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(config MATCHES "NO_LAPACK=1")
    list(REMOVE_ITEM GM_STATIC_FROM_OPENBLAS lapack)
  endif()
endif()
set(GM_STATIC_ARCHIVES)
set(GM_STATIC_FLAGS)
set(GM_STATIC_SYSTEM)
foreach(dep IN LISTS GM_LINK_LIBS)
  if(dep MATCHES "^PkgConfig::(.+)$")
    set(prefix ${CMAKE_MATCH_1})
    foreach(name IN LISTS ${prefix}_STATIC_LIBRARIES)
      if(name IN_LIST GM_STATIC_FROM_OPENBLAS)
        continue()
      elseif(name IN_LIST GM_STATIC_SYSTEM_LIBS)
        list(APPEND GM_STATIC_SYSTEM -l${name})
      else()
        gm_static_archive(${name} "${${prefix}_STATIC_LIBRARY_DIRS}" "${dep}" archive)
        list(APPEND GM_STATIC_ARCHIVES ${archive})
      endif()
    endforeach()
    list(APPEND GM_STATIC_FLAGS ${${prefix}_STATIC_LDFLAGS_OTHER})
  elseif(dep STREQUAL "ZLIB::ZLIB")
    gm_static_archive(z "" zlib archive)
    list(APPEND GM_STATIC_ARCHIVES ${archive})
  elseif(dep STREQUAL GM_OPENBLAS)
    set(dir ${GM_OPENBLAS_DIR})
    gm_static_archive(openblas ${dir} "OpenBLAS (${GM_OPENBLAS})" archive)
    list(APPEND GM_STATIC_ARCHIVES ${archive})
    # what OpenBLAS needs itself (cmake/openblas.cmake)
    foreach(flag IN LISTS GM_OPENBLAS_NEEDS)
      string(REGEX REPLACE "^-l" "" name "${flag}")
      if(name IN_LIST GM_STATIC_SYSTEM_LIBS)
        list(APPEND GM_STATIC_SYSTEM -l${name})
      else()
        gm_static_archive(${name} ${dir} "OpenBLAS" archive)
        list(APPEND GM_STATIC_ARCHIVES ${archive})
      endif()
    endforeach()
  elseif(dep STREQUAL "OpenMP::OpenMP_C")
    # the target links libgomp.so by path; the flag lets the compiler pick
    # libgomp.a under -static
    list(APPEND GM_STATIC_FLAGS ${OpenMP_C_FLAGS})
  elseif(dep IN_LIST GM_STATIC_SYSTEM_LIBS)
    list(APPEND GM_STATIC_SYSTEM -l${dep})
  else()
    message(FATAL_ERROR "cmake/static.cmake: no static form known for the dependency ${dep}")
  endif()
endforeach()
# libgfortran needs libquadmath (GCC's, x86 and a few others).
if(GM_STATIC_ARCHIVES MATCHES "libgfortran[.]a")
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libquadmath.a
                  OUTPUT_VARIABLE quadmath OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(IS_ABSOLUTE "${quadmath}" AND EXISTS "${quadmath}")
    list(APPEND GM_STATIC_ARCHIVES ${quadmath})
  endif()
endif()
list(REMOVE_DUPLICATES GM_STATIC_ARCHIVES)
list(REMOVE_DUPLICATES GM_STATIC_FLAGS)
list(REMOVE_DUPLICATES GM_STATIC_SYSTEM)
list(LENGTH GM_STATIC_ARCHIVES count)
message(STATUS "GM_STATIC_TOOL: ${count} static archives (${GM_STATIC_ARCHIVES})")

set(GM_LINK_LIBS -Wl,--start-group ${GM_STATIC_ARCHIVES} -Wl,--end-group ${GM_STATIC_FLAGS}
    ${GM_STATIC_SYSTEM} m)

# gm_static_executable(<target>): links <target> with -static and leaves
# the shared library out of `all` (its objects are PIC, the archives it would
# link need not be).
function(gm_static_executable target)
  target_link_options(${target} PRIVATE -static)
  set_target_properties(gmcnn_shared PROPERTIES EXCLUDE_FROM_ALL ON)
endfunction()
