#pragma once
// The exit codes of the `openvss` CLI, one per error condition, and how an `error` frame of the
// requester protocol maps onto them. The table is printed in the --help footer.

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace vss::cli {

enum class exit_code : int {
  ok = 0,              // success
  usage = 1,           // bad command line or bad input (bad_message, E_INVALIDARG)
  unreachable = 2,     // cannot reach the daemon, or a protocol error
  not_authorized = 3,  // the daemon refused this user (not_authorized, E_ACCESSDENIED)
  vetoed = 4,          // a writer vetoed the backup (VSS_E_WRITERERROR_*)
  aborted = 5,         // aborted or cancelled (VSS_S_ASYNC_CANCELLED, Ctrl-C)
  provider = 6,        // the provider failed or cannot serve the volume
  timeout = 7,         // a deadline expired (hold/flush timeouts, writer not responding, --timeout)
  not_found = 8,       // no such snapshot, set, writer or component (VSS_E_OBJECT_NOT_FOUND)
  vss_error = 9,       // any other VSS error
};

inline int to_int(exit_code c) noexcept { return static_cast<int>(c); }

/// The exit code for an `error` body ({code, hresult?, message}).
exit_code exit_code_of(const nlohmann::json& error);

/// The exit-code table for the --help footer.
std::string exit_code_help();

/// A failure of the CLI itself (transport, interruption, client-side timeout) with its exit code.
class cli_error : public std::runtime_error {
 public:
  cli_error(exit_code code, const std::string& what) : std::runtime_error(what), code_(code) {}
  exit_code code() const noexcept { return code_; }

 private:
  exit_code code_;
};

}  // namespace vss::cli
