# The programs: openvssd (daemon), openvss (CLI), openvss-exec-writer. Included from the root
# CMakeLists.txt after openvss::mocks exists, because the daemon and the CLI parse fault plans
# (`--inject`) with it. Their internals are static libraries so that the tests link them too.

set(_src ${PROJECT_SOURCE_DIR}/src)

# ---- the snapshot catalog (SQLite, in the daemon's state directory) ------------------------------
add_library(openvss_catalog STATIC
  ${_src}/catalog/catalog.cpp
  ${_src}/catalog/host_process.cpp
  ${_src}/catalog/recovery.cpp
  ${_src}/catalog/schema.cpp
  ${_src}/catalog/sqlite.cpp
)
target_include_directories(openvss_catalog PUBLIC ${_src})
target_link_libraries(openvss_catalog PUBLIC openvss::vss SQLite::SQLite3)

# ---- daemon internals (config, credentials, server, remote writers, requester service) ----------
add_library(openvss_daemon STATIC
  ${_src}/daemon/catalog_journal.cpp
  ${_src}/daemon/config.cpp
  ${_src}/daemon/durable_state.cpp
  ${_src}/daemon/log_text.cpp
  ${_src}/daemon/peer_credentials.cpp
  ${_src}/daemon/provider_setup.cpp
  ${_src}/daemon/remote_writer.cpp
  ${_src}/daemon/requester_service.cpp
  ${_src}/daemon/server.cpp
)
target_include_directories(openvss_daemon PUBLIC ${_src})
target_link_libraries(openvss_daemon PUBLIC openvss::ipc openvss::mocks openvss::providers
                                            openvss_catalog nlohmann_json::nlohmann_json spdlog::spdlog)

add_executable(openvssd ${_src}/daemon/main.cpp)
target_link_libraries(openvssd PRIVATE openvss_daemon CLI11::CLI11)

# ---- the CLI ----------------------------------------------------------------------------------------
# What it prints and its exit codes, apart from the channels: the tests print with them without
# a daemon or an embedded engine.
add_library(openvss_cli_output STATIC
  ${_src}/cli/cli_output.cpp
  ${_src}/cli/exit_codes.cpp
)
target_include_directories(openvss_cli_output PUBLIC ${_src})
target_link_libraries(openvss_cli_output PUBLIC openvss::vss nlohmann_json::nlohmann_json)

add_executable(openvss_cli
  ${_src}/cli/commands.cpp
  ${_src}/cli/embedded_channel.cpp
  ${_src}/cli/main.cpp
  ${_src}/cli/requester_channel.cpp
)
set_target_properties(openvss_cli PROPERTIES OUTPUT_NAME openvss)
target_link_libraries(openvss_cli PRIVATE openvss_cli_output openvss_daemon CLI11::CLI11)

# ---- the exec writer --------------------------------------------------------------------------------
add_library(openvss_exec STATIC
  ${_src}/exec_writer/exec_writer.cpp
)
target_include_directories(openvss_exec PUBLIC ${_src})
# command_runner is built into openvss::providers (the command provider runs commands too).
target_link_libraries(openvss_exec PUBLIC openvss::vss openvss::providers)

add_executable(openvss_exec_writer ${_src}/exec_writer/main.cpp)
set_target_properties(openvss_exec_writer PROPERTIES OUTPUT_NAME openvss-exec-writer)
target_link_libraries(openvss_exec_writer PRIVATE openvss_exec openvss::ipc CLI11::CLI11)
