# The layers of the library and the headers each may include (docs/ARCHITECTURE.md,
# "The layers in the build").
#
# Every layer is a directory of src/ and one OBJECT library. A layer's code is
# compiled against a staged include tree, <build>/layers/<layer>/, made of
# symbolic links to the public headers of its own layer and of the layers below
# it (as gmcnn/<name>.h) and to the source directories of those layers (as
# <layer>/ -> src/<layer>/, for the private headers). Nothing else of
# include/ or src/ is on its include path, so an upward include such as
# "gmcnn/train.h" or "train/train_internal.h" in src/io/ does not compile.
# (A quoted include is also looked up next to the including file: headers of
# the same directory are reachable by their bare name, as they should be; a
# path that climbs out of it with "../" is refused by the test
# layering_no_relative_includes, cmake/layer_includes_check.cmake.)

# Bottom to top. A layer may include its own headers and those of the layers
# before it in this list.
set(GM_LAYERS core group gmat tensor ops nn optim data io train run)

# The layer of every public header include/gmcnn/<name>.h: the layer whose
# code implements it. Configuration fails on a header that is in no list.
set(GM_LAYER_HEADERS_core   core kernels dist)
set(GM_LAYER_HEADERS_group  group)
set(GM_LAYER_HEADERS_gmat   gmat)
set(GM_LAYER_HEADERS_tensor tensor)
set(GM_LAYER_HEADERS_ops    ops)
set(GM_LAYER_HEADERS_nn     nn)
set(GM_LAYER_HEADERS_optim  optim)
set(GM_LAYER_HEADERS_data   data datasets plume)
set(GM_LAYER_HEADERS_io     io)
set(GM_LAYER_HEADERS_train  train forecast)
set(GM_LAYER_HEADERS_run    config run)
# Above every layer: the umbrella header, for tools, tests, examples and
# benchmarks only.
set(GM_HEADERS_ABOVE_LAYERS gmcnn)

set(GM_LAYER_STAGE_DIR ${PROJECT_BINARY_DIR}/layers)

# Checks the map against include/gmcnn/ and src/, then (re)creates the staged
# include trees. The globs re-run configuration when a header, a source
# directory or a source file appears or goes.
function(gm_layers_stage)
  set(inc ${PROJECT_SOURCE_DIR}/include/gmcnn)
  set(src ${PROJECT_SOURCE_DIR}/src)
  list(JOIN GM_LAYERS " " order)

  # Every public header has exactly one place in the map.
  file(GLOB headers CONFIGURE_DEPENDS RELATIVE ${inc} ${inc}/*)
  set(mapped)
  foreach(place IN LISTS GM_LAYERS ITEMS above)
    if(place STREQUAL "above")
      set(names ${GM_HEADERS_ABOVE_LAYERS})
    else()
      set(names ${GM_LAYER_HEADERS_${place}})
    endif()
    foreach(name IN LISTS names)
      if("${name}" IN_LIST mapped)
        message(FATAL_ERROR "cmake/layers.cmake: gmcnn/${name}.h is mapped to more than one layer")
      endif()
      list(APPEND mapped ${name})
      if(NOT EXISTS ${inc}/${name}.h)
        message(AUTHOR_WARNING "cmake/layers.cmake maps gmcnn/${name}.h, which is not in include/gmcnn/")
      endif()
    endforeach()
  endforeach()
  foreach(file IN LISTS headers)
    if(NOT file MATCHES "^(.+)\\.h$")
      message(FATAL_ERROR "include/gmcnn/${file}: only headers (*.h) belong in include/gmcnn/; "
              "cmake/layers.cmake maps each to a layer")
    endif()
    if(NOT "${CMAKE_MATCH_1}" IN_LIST mapped)
      message(FATAL_ERROR "include/gmcnn/${file} belongs to no layer. Add '${CMAKE_MATCH_1}' to "
              "GM_LAYER_HEADERS_<layer> in cmake/layers.cmake, for the layer whose code implements it "
              "(layers, bottom to top: ${order}); only that layer and the layers above it may include it.")
    endif()
  endforeach()

  # Every directory of src/ is a layer, and every source file is in one.
  file(GLOB entries CONFIGURE_DEPENDS LIST_DIRECTORIES true RELATIVE ${src} ${src}/*)
  foreach(entry IN LISTS entries)
    if(IS_DIRECTORY ${src}/${entry} AND NOT "${entry}" IN_LIST GM_LAYERS)
      message(FATAL_ERROR "src/${entry}/ is not a layer: add it to GM_LAYERS in cmake/layers.cmake "
              "at its place in the order (bottom to top: ${order})")
    elseif(NOT IS_DIRECTORY ${src}/${entry} AND entry MATCHES "\\.[ch]$")
      message(FATAL_ERROR "src/${entry}: library code lives in the directory of its layer, src/<layer>/")
    endif()
  endforeach()

  # The staged trees. Only the links and the stand-ins are removed and made
  # again (never recursively: the directory links lead into the source tree);
  # links keep the modification times of their targets, so nothing is
  # rebuilt for it.
  set(below)
  foreach(layer IN LISTS GM_LAYERS)
    list(APPEND below ${layer})
    set(dir ${GM_LAYER_STAGE_DIR}/${layer})
    file(MAKE_DIRECTORY ${dir}/gmcnn)
    file(GLOB old LIST_DIRECTORIES true ${dir}/* ${dir}/gmcnn/*)
    foreach(path IN LISTS old)
      if(IS_SYMLINK ${path} OR path MATCHES "/gmcnn/[^/]*[.]h$")
        file(REMOVE ${path})
      endif()
    endforeach()
    set(seen)
    foreach(lower IN LISTS below)
      file(CREATE_LINK ${src}/${lower} ${dir}/${lower} SYMBOLIC)
      foreach(name IN LISTS GM_LAYER_HEADERS_${lower})
        list(APPEND seen ${name})
        if(EXISTS ${inc}/${name}.h)
          file(CREATE_LINK ${inc}/${name}.h ${dir}/gmcnn/${name}.h SYMBOLIC)
        endif()
      endforeach()
    endforeach()
    # The headers of the layers above get a stand-in that stops the
    # compilation: the staged tree comes before the compiler's own search
    # path, so an installed copy of gmcnn (/usr/local/include/gmcnn) cannot
    # make an upward include compile.
    foreach(name IN LISTS mapped)
      if(NOT name IN_LIST seen)
        file(WRITE ${dir}/gmcnn/${name}.h
             "#error \"gmcnn/${name}.h: No such file or directory in the ${layer} layer: it "
             "belongs to a layer above (cmake/layers.cmake)\"\n")
      endif()
    endforeach()
  endforeach()
endfunction()

# gm_add_layers(<prefix> <objects-var> [PIC] [DEFINITIONS defs...]
#               [OPTIONS opts...] [LINK libs...])
#
# One library flavour: an OBJECT library <prefix><layer> per layer from
# src/<layer>/*.c, compiled with its staged include tree and the given
# definitions, options and (private) link libraries for their usage
# requirements. Those settings are held by an INTERFACE library
# <prefix><layer>_flags, so that the layering tests compile their probes
# exactly as the layer's own files. Sets <objects-var> to the object files of
# all layers, for add_library().
function(gm_add_layers prefix objects_var)
  cmake_parse_arguments(PARSE_ARGV 2 arg "PIC" "" "DEFINITIONS;OPTIONS;LINK")
  set(objects)
  foreach(layer IN LISTS GM_LAYERS)
    set(flags ${prefix}${layer}_flags)
    add_library(${flags} INTERFACE)
    target_include_directories(${flags} INTERFACE ${GM_LAYER_STAGE_DIR}/${layer})
    target_compile_definitions(${flags} INTERFACE ${arg_DEFINITIONS})
    target_compile_options(${flags} INTERFACE ${arg_OPTIONS})
    target_link_libraries(${flags} INTERFACE ${arg_LINK})

    file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${layer}/*.c)
    # the optional parts left out, or their stand-ins (cmake/features.cmake)
    gm_features_filter(sources)
    if(NOT sources)
      continue()
    endif()
    add_library(${prefix}${layer} OBJECT ${sources})
    target_link_libraries(${prefix}${layer} PRIVATE ${flags})
    if(arg_PIC)
      set_target_properties(${prefix}${layer} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    endif()
    list(APPEND objects $<TARGET_OBJECTS:${prefix}${layer}>)
  endforeach()
  set(${objects_var} ${objects} PARENT_SCOPE)
endfunction()

# gm_add_layer_probe(<test> <flags-target> <source> PASS|FAIL [<header> <file>])
#
# A test that compiles <source> as a file of a layer (with <flags-target>,
# e.g. gm_layer_io_flags) and passes when the compilation succeeds (PASS), or
# when it fails because the compiler cannot find <header> (FAIL), which must
# exist in the tree as <file> so that the failure is the layering's doing.
# The probe is an OBJECT library outside `all`; the test builds it.
function(gm_add_layer_probe test flags source expect)
  set(target gm_probe_${test})
  set(header "")
  set(header_file "")
  if(ARGC GREATER 5)
    set(header ${ARGV4})
    set(header_file ${ARGV5})
  endif()
  add_library(${target} OBJECT EXCLUDE_FROM_ALL ${source})
  target_link_libraries(${target} PRIVATE ${flags})
  add_test(NAME ${test}
    COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DCONFIG=$<CONFIG>
            -DTARGET=${target} -DEXPECT=${expect} "-DHEADER=${header}" "-DHEADER_FILE=${header_file}"
            -P ${PROJECT_SOURCE_DIR}/cmake/layer_probe.cmake)
  # One build at a time in the build directory.
  set_tests_properties(${test} PROPERTIES RESOURCE_LOCK gm_build_dir TIMEOUT 300)
endfunction()
