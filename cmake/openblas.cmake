# OpenBLAS, the OpenMP build. ops/ calls BLAS inside its own OpenMP regions,
# where the OpenMP build of OpenBLAS runs single-threaded instead of starting
# threads of its own (docs/ARCHITECTURE.md); `gmcnn --version` names the build.
#
# Sets GM_OPENBLAS (the library, a full path: linked by path, so that the
# alternatives system cannot swap in another build at link time) and
# GM_OPENBLAS_INCLUDE (the directory of its cblas.h). Lookup order, first hit wins:
#
#  1. GM_OPENBLAS and GM_OPENBLAS_INCLUDE already in the cache: given with -D
#     (taken as they are, any build) or found by an earlier configuration.
#  2. pkg-config, the .pc file of the OpenMP build in its own directory:
#     /usr/lib/<multiarch>/openblas-openmp/pkgconfig/openblas.pc (Debian and
#     Ubuntu, libopenblas-openmp-dev; <multiarch> is CMAKE_LIBRARY_ARCHITECTURE,
#     x86_64-linux-gnu, aarch64-linux-gnu, ...), then /usr/lib/openblas-openmp/.
#     Not the generic names: <libdir>/pkgconfig/openblas.pc, blas.pc and
#     lapack.pc are links of the alternatives system, which may point at the
#     pthread or serial build of OpenBLAS, at BLIS or at the reference BLAS.
#  3. pkg-config module `openblas` on the usual search path (PKG_CONFIG_PATH,
#     the system's directories): other distributions, builds from source;
#     taken only when its openblas_config variable says USE_OPENMP=1.
#  4. The Debian directories without a .pc file: libopenblas in
#     /usr/lib/<multiarch>/openblas-openmp/, cblas.h in
#     /usr/include/<multiarch>/openblas-openmp/.
# Anything else fails configuration: a BLAS that is not the OpenMP build of
# OpenBLAS must be asked for by path (step 1).
#
# Also sets, for static links (cmake/static.cmake, gmcnn.pc's Libs.private):
# GM_OPENBLAS_DIR (its directory), GM_OPENBLAS_NAME (for -l: openblas) and
# GM_OPENBLAS_NEEDS (the -l flags of what it needs itself: its .pc file's
# Libs.private where that file is beside it, else -lgfortran; without itself
# and libgomp, which -fopenmp brings).

function(gm_find_openblas)
  if(GM_OPENBLAS AND GM_OPENBLAS_INCLUDE)
    return()
  endif()
  set(arch ${CMAKE_LIBRARY_ARCHITECTURE})
  set(candidates)
  foreach(dir /usr/lib/${arch}/openblas-openmp /usr/lib/openblas-openmp)
    if(EXISTS ${dir}/pkgconfig/openblas.pc)
      list(APPEND candidates ${dir}/pkgconfig/openblas.pc)
    endif()
  endforeach()
  list(APPEND candidates openblas)
  if(NOT PKG_CONFIG_EXECUTABLE)
    set(candidates)
  endif()

  set(libdirs)
  set(incdirs)
  set(how)
  foreach(module IN LISTS candidates)
    # pkg-config takes the path of a .pc file wherever it takes a module name.
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --libs-only-L ${module}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE libs ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      continue()
    endif()
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --cflags-only-I ${module}
                    OUTPUT_VARIABLE cflags ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    # pkg-config leaves out the system's directories; libdir and includedir name them.
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=libdir ${module}
                    OUTPUT_VARIABLE libdir ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=includedir ${module}
                    OUTPUT_VARIABLE includedir ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=openblas_config ${module}
                    OUTPUT_VARIABLE config ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT config MATCHES "USE_OPENMP=1")
      message(STATUS "OpenBLAS: ${module} is not the OpenMP build (openblas_config: '${config}'), skipped")
      continue()
    endif()
    separate_arguments(libs UNIX_COMMAND "${libs}")
    separate_arguments(cflags UNIX_COMMAND "${cflags}")
    list(TRANSFORM libs REPLACE "^-L" "")
    list(TRANSFORM cflags REPLACE "^-I" "")
    set(libdirs ${libs} ${libdir})
    set(incdirs ${cflags} ${includedir})
    set(how "pkg-config ${module}")
    break()
  endforeach()
  if(NOT how)
    set(libdirs /usr/lib/${arch}/openblas-openmp /usr/lib/openblas-openmp)
    set(incdirs /usr/include/${arch}/openblas-openmp /usr/include/openblas-openmp)
    set(how "the Debian directories of the OpenMP build")
  endif()

  # NO_DEFAULT_PATH: the library of that build, not a namesake elsewhere
  # (/usr/lib/<multiarch>/libopenblas.so is an alternatives link).
  find_library(GM_OPENBLAS NAMES openblas PATHS ${libdirs} NO_DEFAULT_PATH)
  find_path(GM_OPENBLAS_INCLUDE cblas.h PATHS ${incdirs} NO_DEFAULT_PATH)
  if(NOT GM_OPENBLAS OR NOT GM_OPENBLAS_INCLUDE)
    message(FATAL_ERROR "OpenBLAS, OpenMP build, not found (looked through ${how}: library in "
            "'${libdirs}', cblas.h in '${incdirs}'). On Debian or Ubuntu install "
            "libopenblas-openmp-dev; elsewhere give -DGM_OPENBLAS=<path of libopenblas> "
            "-DGM_OPENBLAS_INCLUDE=<directory of its cblas.h>.")
  endif()
  message(STATUS "OpenBLAS: ${GM_OPENBLAS} (cblas.h in ${GM_OPENBLAS_INCLUDE}), from ${how}")
endfunction()

gm_find_openblas()

get_filename_component(GM_OPENBLAS_DIR ${GM_OPENBLAS} DIRECTORY)
get_filename_component(GM_OPENBLAS_NAME ${GM_OPENBLAS} NAME)
string(REGEX REPLACE "^lib|\\.(so|a|dylib)(\\..*)?$" "" GM_OPENBLAS_NAME ${GM_OPENBLAS_NAME})
set(GM_OPENBLAS_NEEDS -lgfortran)
if(EXISTS ${GM_OPENBLAS_DIR}/pkgconfig/openblas.pc AND PKG_CONFIG_EXECUTABLE)
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --static --libs-only-l
                          ${GM_OPENBLAS_DIR}/pkgconfig/openblas.pc
                  OUTPUT_VARIABLE needs ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  separate_arguments(needs UNIX_COMMAND "${needs}")
  list(REMOVE_ITEM needs -lopenblas -l${GM_OPENBLAS_NAME} -lgomp)
  list(REMOVE_DUPLICATES needs)
  set(GM_OPENBLAS_NEEDS ${needs})
endif()
