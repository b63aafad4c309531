#pragma once
// Engine-internal access to a writer_context beyond its public contract.

#include <string>

#include "vss/error.hpp"
#include "vss/writer.hpp"

namespace vss::detail {

struct context_access {
  /// Settles the context as failed with any engine code, not only the writer codes that
  /// writer_context::fail() accepts: the daemon reports a writer whose connection dropped as
  /// VSS_E_WRITER_NOT_RESPONDING, which a writer itself may not claim. No effect when done.
  static void settle_failed(writer_context& ctx, errc code, std::string message);
};

}  // namespace vss::detail
