# Third-party dependencies. All come from Debian 12 packages (scripts/install-deps.sh installs
# them); nothing is downloaded at configure time. openvssConfig.cmake.in finds the PUBLIC ones
# (Threads, Boost, Asio) again for consumers of the installed package: keep the two in step.

# ---- Threads (Asio's io_context runs on threads) -------------------------------------------------
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

# ---- Standalone Asio 1.22 (libasio-dev) ----------------------------------------------------------
# Debian ships header-only Asio with neither a CMake config nor a .pc file, so we find asio.hpp
# ourselves and wrap it in an INTERFACE target. openvss_asio is exported with the package as
# openvss::asio; the installed config fills in the include directory it finds on the consumer's
# machine (the path found here is only used in the build tree).
find_path(
  OPENVSS_ASIO_INCLUDE_DIR
  NAMES asio.hpp
  DOC "Directory containing standalone Asio's asio.hpp (Debian: libasio-dev)")
if(NOT OPENVSS_ASIO_INCLUDE_DIR)
  message(FATAL_ERROR "Standalone Asio (asio.hpp) not found. On Debian/Ubuntu install libasio-dev "
                      "(scripts/install-deps.sh), or set OPENVSS_ASIO_INCLUDE_DIR.")
endif()

file(STRINGS "${OPENVSS_ASIO_INCLUDE_DIR}/asio/version.hpp" _openvss_asio_version_line
     REGEX "^#define ASIO_VERSION [0-9]+")
string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _openvss_asio_version
                     "${_openvss_asio_version_line}")
if(_openvss_asio_version LESS 102200)
  message(FATAL_ERROR "openvss needs standalone Asio >= 1.22 (ASIO_VERSION 102200); "
                      "${OPENVSS_ASIO_INCLUDE_DIR} has ASIO_VERSION ${_openvss_asio_version}.")
endif()

add_library(openvss_asio INTERFACE)
add_library(openvss::asio ALIAS openvss_asio)
set_target_properties(openvss_asio PROPERTIES EXPORT_NAME asio)
# SYSTEM: Asio's own headers must not trip our warning flags.
target_include_directories(openvss_asio SYSTEM
                           INTERFACE "$<BUILD_INTERFACE:${OPENVSS_ASIO_INCLUDE_DIR}>")
# ASIO_DISABLE_STD_ALIGNED_ALLOC: Asio 1.22 picks aligned_alloc/free or operator new/delete
# for its handler memory depending on which standard headers came before <asio.hpp> in each
# translation unit, so one program can allocate with one and free with the other (ASan:
# alloc-dealloc-mismatch). Every user of openvss::asio must agree, hence INTERFACE.
target_compile_definitions(openvss_asio INTERFACE ASIO_NO_DEPRECATED ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(openvss_asio INTERFACE Threads::Threads)

# ---- Boost 1.74 (Signals2 is header-only: Boost::headers) ----------------------------------------
# Imported targets are SYSTEM includes for their users, so Boost's headers are quiet too.
find_package(Boost 1.74 REQUIRED)

# ---- GoogleTest / GoogleMock 1.12 (tests, and the shipped openvss::mocks library) ----------------
if(OPENVSS_BUILD_TESTS
   OR (OPENVSS_BUILD_MOCKS AND EXISTS "${PROJECT_SOURCE_DIR}/mocks/CMakeLists.txt"))
  find_package(GTest CONFIG REQUIRED) # GTest::gtest, GTest::gtest_main, GTest::gmock, ...
  include(GoogleTest) # gtest_discover_tests()
endif()

# ---- Google Benchmark 1.7 (bench/ only) ----------------------------------------------------------
if(OPENVSS_BUILD_BENCH AND EXISTS "${PROJECT_SOURCE_DIR}/bench/CMakeLists.txt")
  find_package(benchmark CONFIG REQUIRED) # benchmark::benchmark, benchmark::benchmark_main
endif()

# ---- Later dependencies --------------------------------------------------------------------------
# Add them here (and to scripts/install-deps.sh, and to openvssConfig.cmake.in if they become
# PUBLIC dependencies of an installed target) when the issue that needs them lands:
#   find_package(nlohmann_json 3.11 CONFIG REQUIRED)  # nlohmann-json3-dev: nlohmann_json::...
#   find_package(CLI11 CONFIG REQUIRED)               # libcli11-dev: CLI11::CLI11
#   find_package(spdlog CONFIG REQUIRED)              # libspdlog-dev: spdlog::spdlog
#   find_package(SQLite3 REQUIRED)                    # libsqlite3-dev: SQLite::SQLite3

# ---- nlohmann-json 3.11 (the daemon protocol's codec; header-only, used inside openvss::ipc) ------
find_package(nlohmann_json 3.10 CONFIG REQUIRED)

# ---- spdlog 1.10 and CLI11 2.3 (openvssd, the openvss CLI, openvss-exec-writer) ------------------
if(OPENVSS_BUILD_PROGRAMS)
  find_package(spdlog CONFIG REQUIRED)
  find_package(CLI11 CONFIG REQUIRED)
  # ---- SQLite 3.40 (openvssd's snapshot catalog; STRICT tables need 3.37) -----------------------
  find_package(SQLite3 3.37 REQUIRED)
endif()
