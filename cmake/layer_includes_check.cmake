# Refuses quoted includes in src/ that climb out of the including file's
# directory ("../train/train_internal.h") or name an absolute path: they would
# reach past the staged include trees that enforce the layering
# (cmake/layers.cmake). Run by CTest: cmake -DSOURCE_DIR=<repo> -P layer_includes_check.cmake

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "layer_includes_check.cmake: SOURCE_DIR not given")
endif()
file(GLOB_RECURSE files ${SOURCE_DIR}/src/*.c ${SOURCE_DIR}/src/*.h)
set(bad)
foreach(file IN LISTS files)
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
  foreach(line IN LISTS lines)
    if(line MATCHES "include[ \t]*[\"<](/|[^\">]*\\.\\./)")
      file(RELATIVE_PATH rel ${SOURCE_DIR} ${file})
      string(STRIP "${line}" line)
      list(APPEND bad "  ${rel}: ${line}")
    endif()
  endforeach()
endforeach()
if(bad)
  list(JOIN bad "\n" bad)
  message(FATAL_ERROR "includes that bypass the layering (name the header as gmcnn/<name>.h or "
          "<layer>/<name>.h):\n${bad}")
endif()
list(LENGTH files n)
message(STATUS "${n} files of src/: no relative or absolute includes")
