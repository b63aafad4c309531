# Install rules and the CMake package, so that an installed openvss is used with
#
#   find_package(openvss 0.1 CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE openvss::vss)      # and openvss::mocks in tests
#
# Included from the root CMakeLists.txt after every target exists. tests/package/ is a consumer
# project that CTest builds against a staging install of this (cmake/package-tests.cmake).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(OPENVSS_INSTALL_CMAKEDIR
    "${CMAKE_INSTALL_LIBDIR}/cmake/openvss"
    CACHE STRING "Install directory of openvssConfig.cmake, relative to the install prefix")
mark_as_advanced(OPENVSS_INSTALL_CMAKEDIR)

# ---- Libraries and their public headers (the FILE_SET HEADERS of each target) --------------------

set(_openvss_libraries openvss_vss openvss_ipc openvss_providers)
set(OPENVSS_PACKAGE_HAS_MOCKS OFF)
if(TARGET openvss_mocks AND OPENVSS_INSTALL_MOCKS)
  list(APPEND _openvss_libraries openvss_mocks)
  set(OPENVSS_PACKAGE_HAS_MOCKS ON)
endif()

install(
  TARGETS ${_openvss_libraries}
  EXPORT openvssTargets
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT openvss_runtime
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT openvss_runtime
          NAMELINK_COMPONENT openvss_development
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT openvss_development
  FILE_SET HEADERS DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT openvss_development)

# openvss::asio carries no files, only usage requirements (ASIO_NO_DEPRECATED, Threads); the
# installed config adds the consumer's Asio include directory to it.
install(TARGETS openvss_asio EXPORT openvssTargets)

install(
  EXPORT openvssTargets
  NAMESPACE openvss::
  DESTINATION "${OPENVSS_INSTALL_CMAKEDIR}"
  COMPONENT openvss_development)

# ---- Programs ------------------------------------------------------------------------------------

if(TARGET openvss_cli)
  install(TARGETS openvss_cli openvssd openvss_exec_writer
          RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT openvss_runtime)
  # The example config and the systemd units, for packagers and admins to copy into place.
  install(FILES ${PROJECT_SOURCE_DIR}/contrib/openvssd.conf
                ${PROJECT_SOURCE_DIR}/contrib/openvssd.service
                ${PROJECT_SOURCE_DIR}/contrib/openvssd.socket
          DESTINATION "${CMAKE_INSTALL_DATADIR}/openvss/contrib" COMPONENT openvss_runtime)
endif()

# ---- Package config and version files ------------------------------------------------------------

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/openvssConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/openvssConfig.cmake"
  INSTALL_DESTINATION "${OPENVSS_INSTALL_CMAKEDIR}")

write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/openvssConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(
  FILES "${PROJECT_BINARY_DIR}/cmake/openvssConfig.cmake"
        "${PROJECT_BINARY_DIR}/cmake/openvssConfigVersion.cmake"
  DESTINATION "${OPENVSS_INSTALL_CMAKEDIR}"
  COMPONENT openvss_development)

unset(_openvss_libraries)
