#pragma once
// How a held writer_context is answered when a test releases it, shared by fake_writer
// (release_held) and stepper (release*): the same answers are allowed, with the same effects.

#include <stdexcept>
#include <string>

#include "vss/mocks/fault.hpp"
#include "vss/writer.hpp"

namespace vss::mocks::detail {

/// Throws std::invalid_argument, naming `who`, unless `code` is one fail() accepts.
inline void check_writer_veto(errc code, const std::string& who) {
  if (!is_writer_failure_code(code)) {
    throw std::invalid_argument(who +
                                ": a writer veto needs a VSS_E_WRITERERROR_* code "
                                "(writer_error_retryable, ...), the only codes "
                                "writer_context::fail accepts");
  }
}

/// Throws std::invalid_argument unless `answer` can release a held context.
inline void check_held_answer(const fault& answer, const std::string& who) {
  switch (answer.kind) {
    case fault_kind::succeed:
    case fault_kind::fail_without_code:
    case fault_kind::complete_twice:
      return;
    case fault_kind::veto:
      check_writer_veto(answer.code, who);
      return;
    default:
      throw std::invalid_argument(who +
                                  ": a held answer can only be released with succeed, "
                                  "veto(code), fail_without_code or complete_twice");
  }
}

/// Answers `ctx` with `answer` (checked by check_held_answer); `who` names the releaser in a
/// veto's message ("<who>: released with a veto").
inline void give(writer_context ctx, const fault& answer, const std::string& who) {
  switch (answer.kind) {
    case fault_kind::veto:
      ctx.fail(answer.code, who + ": released with a veto");
      break;
    case fault_kind::complete_twice:
      ctx.complete();
      ctx.complete();
      break;
    case fault_kind::fail_without_code:
      break;  // `ctx` goes out of scope unanswered
    default:
      ctx.complete();
      break;
  }
}

}  // namespace vss::mocks::detail
