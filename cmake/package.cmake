# The CMake package of an installation: gmcnnConfig.cmake,
# gmcnnConfigVersion.cmake and gmcnnTargets.cmake (the export of gmcnn_shared
# as gmcnn::gmcnn and gmcnn_static as gmcnn::gmcnn_static) in
# <libdir>/cmake/gmcnn/. Included by CMakeLists.txt after the libraries.
#
# gmcnn_static's link dependencies (GM_LINK_LIBS) go into the export as they
# are named here: paths and plain library names as such, OpenMP::OpenMP_C and
# ZLIB::ZLIB found again by the config with find_dependency, and the imported
# targets of pkg_check_modules (PkgConfig::<PREFIX>) written into the config
# with the include directories, flags and library paths found here, so that
# a consumer needs neither pkg-config nor the module names.

include(CMakePackageConfigHelpers)
set(GM_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/gmcnn)

set(GM_PACKAGE_DEPENDENCIES "")
foreach(dep IN LISTS GM_LINK_LIBS)
  if(dep STREQUAL "OpenMP::OpenMP_C" OR dep STREQUAL "ZLIB::ZLIB" OR NOT TARGET ${dep})
    continue()
  endif()
  get_target_property(imported ${dep} IMPORTED)
  get_target_property(type ${dep} TYPE)
  if(NOT imported OR NOT type STREQUAL "INTERFACE_LIBRARY")
    message(FATAL_ERROR "cmake/package.cmake: gmcnn_static links ${dep} (${type}), which the "
            "installed package cannot recreate: find it in cmake/gmcnnConfig.cmake.in with "
            "find_dependency() and skip it here, as OpenMP::OpenMP_C and ZLIB::ZLIB are")
  endif()
  string(APPEND GM_PACKAGE_DEPENDENCIES "if(NOT TARGET ${dep})\n"
         "  add_library(${dep} INTERFACE IMPORTED)\n"
         "  set_target_properties(${dep} PROPERTIES\n")
  foreach(prop INTERFACE_INCLUDE_DIRECTORIES INTERFACE_COMPILE_OPTIONS
               INTERFACE_LINK_LIBRARIES INTERFACE_LINK_OPTIONS)
    get_target_property(value ${dep} ${prop})
    if(value)
      string(APPEND GM_PACKAGE_DEPENDENCIES "    ${prop} \"${value}\"\n")
    endif()
  endforeach()
  string(APPEND GM_PACKAGE_DEPENDENCIES "  )\nendif()\n")
endforeach()

configure_package_config_file(cmake/gmcnnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/gmcnnConfig.cmake
  INSTALL_DESTINATION ${GM_PACKAGE_DIR})
# 0.x: a minor version may break the interface.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gmcnnConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(EXPORT gmcnnTargets NAMESPACE gmcnn:: FILE gmcnnTargets.cmake
  DESTINATION ${GM_PACKAGE_DIR})
install(FILES ${PROJECT_BINARY_DIR}/gmcnnConfig.cmake
  ${PROJECT_BINARY_DIR}/gmcnnConfigVersion.cmake DESTINATION ${GM_PACKAGE_DIR})
