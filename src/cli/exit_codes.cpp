#include "cli/exit_codes.hpp"

#include <optional>
#include <string_view>

#include "vss/error.hpp"

namespace vss::cli {

namespace {

exit_code of_hresult(errc e) {
  switch (e) {
    case errc::async_cancelled:
    case errc::abort:
      return exit_code::aborted;
    case errc::writer_error_inconsistent_snapshot:
    case errc::writer_error_out_of_resources:
    case errc::writer_error_timeout:
    case errc::writer_error_retryable:
    case errc::writer_error_nonretryable:
    case errc::writer_error_recovery_failed:
    case errc::writer_error_partial_failure:
      return exit_code::vetoed;
    case errc::object_not_found:
      return exit_code::not_found;
    case errc::provider_veto:
    case errc::unexpected_provider_error:
    case errc::provider_not_registered:
    case errc::provider_in_use:
    case errc::volume_not_supported:
    case errc::volume_not_supported_by_provider:
    case errc::insufficient_storage:
    case errc::maximum_number_of_snapshots_reached:
      return exit_code::provider;
    case errc::access_denied:
      return exit_code::not_authorized;
    case errc::invalid_arg:
      return exit_code::usage;
    default:
      break;
  }
  if (std::error_code(e) == condition::timed_out) return exit_code::timeout;
  return exit_code::vss_error;
}

}  // namespace

exit_code exit_code_of(const nlohmann::json& error) {
  const std::string code = error.value("code", std::string{});
  if (code == "bad_message" || code == "unknown_op") return exit_code::usage;
  if (code == "not_authorized") return exit_code::not_authorized;
  if (code != "vss_error") return exit_code::unreachable;
  const auto e = errc_from_symbol(error.value("hresult", std::string{}));
  if (!e) return exit_code::vss_error;
  return of_hresult(*e);
}

std::string exit_code_help() {
  return "Exit codes:\n"
         "  0  success\n"
         "  1  bad usage or bad input (bad_message, E_INVALIDARG)\n"
         "  2  cannot reach the daemon, or protocol error\n"
         "  3  not authorized (not_authorized, E_ACCESSDENIED)\n"
         "  4  backup vetoed by a writer (VSS_E_WRITERERROR_*)\n"
         "  5  aborted or cancelled (VSS_S_ASYNC_CANCELLED, interrupted)\n"
         "  6  provider error (VSS_E_PROVIDER_VETO, VSS_E_VOLUME_NOT_SUPPORTED, ...)\n"
         "  7  timeout (VSS_E_HOLD_WRITES_TIMEOUT, VSS_E_WRITER_NOT_RESPONDING, --timeout)\n"
         "  8  object not found (VSS_E_OBJECT_NOT_FOUND)\n"
         "  9  other VSS error\n";
}

}  // namespace vss::cli
