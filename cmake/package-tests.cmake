# CTest tests that check the installed package works for a consumer (label `package`):
#
#   package.install    cmake --install this build tree into <build>/staging (emptied first)
#   package.configure  configure tests/package against it (CMAKE_PREFIX_PATH=<build>/staging)
#   package.build      build the consumer
#   package.run        run it
#
# Fixtures chain them, so `ctest -R package.run` runs all four in order and a failed step skips
# the rest. The consumer uses the same generator, compiler and flags as this build, so a
# sanitizer build's static library still links.

set(_pkg_staging "${PROJECT_BINARY_DIR}/staging")
set(_pkg_build "${PROJECT_BINARY_DIR}/package-consumer")
get_property(_pkg_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
if(_pkg_multi_config)
  set(_pkg_exe "${_pkg_build}/$<CONFIG>/openvss-package-consumer")
else()
  set(_pkg_exe "${_pkg_build}/openvss-package-consumer")
endif()

add_test(
  NAME package.install
  COMMAND "${CMAKE_COMMAND}" "-DOPENVSS_BUILD_DIR=${PROJECT_BINARY_DIR}"
          "-DOPENVSS_STAGING_DIR=${_pkg_staging}" "-DOPENVSS_CONFIG=$<CONFIG>" -P
          "${PROJECT_SOURCE_DIR}/cmake/package-install.cmake")

add_test(
  NAME package.configure
  COMMAND
    "${CMAKE_COMMAND}" --fresh -S "${PROJECT_SOURCE_DIR}/tests/package" -B "${_pkg_build}" -G
    "${CMAKE_GENERATOR}" "-DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
    "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=$<CONFIG>"
    "-DCMAKE_CXX_FLAGS=${CMAKE_CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
    "-DCMAKE_PREFIX_PATH=${_pkg_staging}" "-DOPENVSS_EXPECTED_PREFIX=${_pkg_staging}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

add_test(NAME package.build COMMAND "${CMAKE_COMMAND}" --build "${_pkg_build}" --config
                                    "$<CONFIG>")

add_test(NAME package.run COMMAND "${_pkg_exe}")

set_tests_properties(
  package.install PROPERTIES FIXTURES_SETUP openvss_package_installed TIMEOUT 120
                             LABELS package)
set_tests_properties(
  package.configure
  PROPERTIES FIXTURES_REQUIRED openvss_package_installed FIXTURES_SETUP openvss_package_configured
             TIMEOUT 120 LABELS package)
set_tests_properties(
  package.build PROPERTIES FIXTURES_REQUIRED "openvss_package_installed;openvss_package_configured"
                           FIXTURES_SETUP openvss_package_built TIMEOUT 600 LABELS package)
set_tests_properties(
  package.run
  PROPERTIES FIXTURES_REQUIRED "openvss_package_installed;openvss_package_built"
             TIMEOUT 60
             LABELS package)

unset(_pkg_staging)
unset(_pkg_build)
unset(_pkg_multi_config)
unset(_pkg_exe)
