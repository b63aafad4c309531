# Script run by the package.install CTest test (cmake -P): install the build tree into an EMPTY
# staging prefix, so a header or target missing from the install rules cannot be hidden by a file
# a previous install left behind.
#
#   cmake -DOPENVSS_BUILD_DIR=<build> -DOPENVSS_STAGING_DIR=<prefix> [-DOPENVSS_CONFIG=<cfg>]
#         -P cmake/package-install.cmake

foreach(_var IN ITEMS OPENVSS_BUILD_DIR OPENVSS_STAGING_DIR)
  if(NOT ${_var})
    message(FATAL_ERROR "package-install.cmake: ${_var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${OPENVSS_STAGING_DIR}")

set(_config_args)
if(OPENVSS_CONFIG)
  set(_config_args --config "${OPENVSS_CONFIG}")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${OPENVSS_BUILD_DIR}" --prefix "${OPENVSS_STAGING_DIR}"
          ${_config_args}
  RESULT_VARIABLE _result)
if(NOT _result EQUAL 0)
  message(FATAL_ERROR "cmake --install ${OPENVSS_BUILD_DIR} failed: ${_result}")
endif()

file(GLOB_RECURSE _configs "${OPENVSS_STAGING_DIR}/*/openvssConfig.cmake")
if(NOT _configs)
  message(FATAL_ERROR "the install into ${OPENVSS_STAGING_DIR} has no openvssConfig.cmake")
endif()
