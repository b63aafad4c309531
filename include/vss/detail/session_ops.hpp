#pragma once
// Template glue between the public initiating functions (backup_session::async_*) and the
// compiled engine. The engine stores every handler type-erased, so the operations themselves
// live in src/ (see docs/decisions.md, "Compiled operations instead of header async_compose").

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/system_executor.hpp>
#include <cstdint>
#include <memory>
#include <utility>

#include "vss/async_op.hpp"
#include "vss/detail/erased_handler.hpp"
#include "vss/error.hpp"

namespace vss::detail {

class session_impl;
class engine_core;

enum class op_kind : std::uint8_t {
  gather_writer_metadata,
  prepare_for_backup,
  do_snapshot_set,
  gather_writer_status,
  backup_complete,
  abort_backup,
  release,
};

asio::any_io_executor session_executor(const std::shared_ptr<session_impl>& s) noexcept;
std::uint64_t next_op_id(const std::shared_ptr<session_impl>& s) noexcept;
void start_op(const std::shared_ptr<session_impl>& s, op_kind kind, std::uint64_t id,
              erased_handler handler);
// Thread-safe: called from async_op::cancel() or a user's cancellation slot.
void cancel_op(const std::weak_ptr<session_impl>& s, op_kind kind, std::uint64_t id);

asio::any_io_executor engine_executor(const std::shared_ptr<engine_core>& e) noexcept;
void start_shutdown(const std::shared_ptr<engine_core>& e, erased_handler handler);

template <class Handler>
void launch(const std::shared_ptr<session_impl>& s, op_kind kind, Handler&& handler) {
  if (!s) {
    erased_handler(std::forward<Handler>(handler), asio::system_executor())
        .post_complete(make_error_code(errc::bad_state));
    return;
  }
  const auto id = next_op_id(s);
  std::weak_ptr<session_impl> weak = s;
  set_canceller(handler, [weak, kind, id] { cancel_op(weak, kind, id); });
  erased_handler erased(std::forward<Handler>(handler), session_executor(s));
  // A caller-bound cancellation slot gets the same thread-safe canceller; per Asio's rules the
  // caller emits it, and the engine never touches the slot from another thread.
  auto slot = erased.cancellation_slot();
  if (slot.is_connected()) {
    slot.assign([weak, kind, id](asio::cancellation_type) { cancel_op(weak, kind, id); });
  }
  start_op(s, kind, id, std::move(erased));
}

}  // namespace vss::detail
