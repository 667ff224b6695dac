# The optional parts of the library and the slim build (docs/ARCHITECTURE.md,
# "Build, test, tools"; README, "Embedding builds").
#
# Four parts of the library need a dependency that an embedder may not want:
#
#   part    option            dependency   sources (under src/)         stand-in
#   plot    GM_WITH_PLOT      cairo        io/plot*.c                   io/plot_none.c
#   config  GM_WITH_YAML      libyaml      run/config*.c, run/data_load.c,
#                                          run/run_train.c              run/config_none.c
#   fft     GM_WITH_FFTW      fftw3f       ops/op_gmconv_fft.c          ops/op_gmconv_fft_none.c
#   rank    GM_WITH_LAPACKE   lapacke      gmat/rank.c                  gmat/rank_none.c
#
# Without a part its sources are left out of the layers and its stand-in file is
# compiled instead (a stand-in is compiled only then): every function of the
# public headers still exists, and those of a missing part return
# GM_ERR_UNSUPPORTED with a detail naming the build option, so that the
# headers stay one API. Without fft, GMConv always takes the gather path (the
# FFT path is an optimisation; results agree to rounding). The run layer's
# config, data loading and gm_run_train go together, as gm_run_train and
# gm_data_load take a config's parts. gm_build_features() names the parts a
# build has (GM_BUILD_FEATURES below).
#
# GM_SLIM=ON turns all four off: the library for embedding, which needs only
# OpenBLAS, OpenMP, zlib and the JSON library. It builds no gmcnn tool (it
# needs configs and plots) and no test suite (which tests every part), but
# the examples and tests/slim/ (training from code, the dependencies, the
# API; run by `make test-slim`).
#
# Sets GM_FEATURES (the parts built, space-separated), GM_FEATURES_OFF (the
# parts left out, a list), GM_FEATURES_ALL (every part built), GM_FEATURE_LIBS (the imported targets of their dependencies)
# and GM_FEATURE_PC_REQUIRES (their pkg-config modules, for gmcnn.pc), and
# defines gm_features_filter(), which cmake/layers.cmake applies to each
# layer's sources.

option(GM_SLIM "The library without plotting, YAML configs, FFTW and LAPACKE (no gmcnn tool, no test suite)" OFF)
option(GM_WITH_PLOT "PNG plots of training curves and forecasts (cairo)" ON)
option(GM_WITH_YAML "YAML configs, the data a config names and gm_run_train (libyaml)" ON)
option(GM_WITH_FFTW "The FFT path of full-form GMConv on translation tables (FFTW)" ON)
option(GM_WITH_LAPACKE "Numerical and displacement rank (LAPACKE's dgesdd)" ON)

set(GM_FEATURES "")
set(GM_FEATURES_OFF "")
set(GM_FEATURES_ALL ON)
set(GM_FEATURE_LIBS "")
set(GM_FEATURE_PC_REQUIRES "")
set(GM_FEATURES_OFF_SOURCES "") # regexes of the sources left out
set(GM_FEATURE_STANDINS_ON "")     # stand-ins compiled
set(GM_FEATURE_STANDINS_OFF "")    # stand-ins left out

# gm_feature(<part> <option> <pkg-config module> <prefix> <sources regex> <stand-in>)
macro(gm_feature part opt module prefix sources standin)
  if(GM_SLIM)
    set(${opt} OFF) # a normal variable, over the cache entry
  endif()
  if(${opt})
    pkg_check_modules(${prefix} REQUIRED IMPORTED_TARGET ${module})
    list(APPEND GM_FEATURES ${part})
    list(APPEND GM_FEATURE_LIBS PkgConfig::${prefix})
    string(APPEND GM_FEATURE_PC_REQUIRES " ${module}")
    list(APPEND GM_FEATURE_STANDINS_OFF ${standin})
  else()
    set(GM_FEATURES_ALL OFF)
    list(APPEND GM_FEATURES_OFF ${part})
    list(APPEND GM_FEATURES_OFF_SOURCES "${sources}")
    list(APPEND GM_FEATURE_STANDINS_ON ${standin})
  endif()
endmacro()

gm_feature(plot GM_WITH_PLOT cairo CAIRO "^io/plot.*[.]c$" io/plot_none.c)
gm_feature(config GM_WITH_YAML yaml-0.1 YAML "^run/(config.*|data_load|run_train)[.]c$"
           run/config_none.c)
gm_feature(fft GM_WITH_FFTW fftw3f FFTW3F "^ops/op_gmconv_fft[.]c$" ops/op_gmconv_fft_none.c)
gm_feature(rank GM_WITH_LAPACKE lapacke LAPACKE "^gmat/rank[.]c$" gmat/rank_none.c)
list(JOIN GM_FEATURES " " GM_FEATURES)
if(GM_FEATURES_ALL)
  message(STATUS "gmcnn parts: ${GM_FEATURES}")
else()
  message(STATUS "gmcnn parts: '${GM_FEATURES}' (left out, as stand-ins: ${GM_FEATURE_STANDINS_ON})")
endif()

# gm_features_filter(<sources-var>): removes from the list of absolute paths
# the sources of the parts left out and the stand-ins of the parts built.
function(gm_features_filter var)
  set(kept)
  foreach(path IN LISTS ${var})
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/src ${path})
    set(keep ON)
    if(rel IN_LIST GM_FEATURE_STANDINS_OFF)
      set(keep OFF)
    elseif(NOT rel IN_LIST GM_FEATURE_STANDINS_ON)
      foreach(rx IN LISTS GM_FEATURES_OFF_SOURCES)
        if(rel MATCHES "${rx}")
          set(keep OFF)
        endif()
      endforeach()
    endif()
    if(keep)
      list(APPEND kept ${path})
    endif()
  endforeach()
  set(${var} ${kept} PARENT_SCOPE)
endfunction()
