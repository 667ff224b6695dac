# Builds one layering probe (gm_add_layer_probe in cmake/layers.cmake) and
# judges the result. Run by CTest:
#   cmake -DBUILD_DIR=... -DCONFIG=... -DTARGET=... -DEXPECT=PASS|FAIL
#         [-DHEADER=gmcnn/train.h -DHEADER_FILE=<path>] -P layer_probe.cmake
# PASS: the probe must compile. FAIL: it must not, and the compiler must say
# that it cannot find HEADER, a header that exists (HEADER_FILE): any other
# failure is reported as a failure of the test.

foreach(var BUILD_DIR TARGET EXPECT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "layer_probe.cmake: ${var} not given")
  endif()
endforeach()

set(config)
if(CONFIG)
  set(config --config ${CONFIG})
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} ${config} --target ${TARGET}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)

if(EXPECT STREQUAL "PASS")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} should compile and did not:\n${out}")
  endif()
  message(STATUS "${TARGET} compiles, as it should")
elseif(EXPECT STREQUAL "FAIL")
  if(NOT EXISTS "${HEADER_FILE}")
    message(FATAL_ERROR "${HEADER} (${HEADER_FILE}) does not exist: this probe proves nothing")
  endif()
  if(rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} includes ${HEADER}, which its layer must not see, and compiled")
  endif()
  string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" header_re "${HEADER}")
  # gcc: "fatal error: gmcnn/train.h: No such file or directory"
  # clang: "fatal error: 'gmcnn/train.h' file not found"
  if(NOT out MATCHES "${header_re}: No such file or directory"
     AND NOT out MATCHES "'${header_re}' file not found")
    message(FATAL_ERROR "${TARGET} failed to compile, but not because ${HEADER} was not found:\n${out}")
  endif()
  message(STATUS "${TARGET}: ${HEADER} is out of reach, as it should be")
else()
  message(FATAL_ERROR "layer_probe.cmake: EXPECT must be PASS or FAIL, got '${EXPECT}'")
endif()
