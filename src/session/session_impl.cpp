// Construction, shared reads and small utilities of session_impl.
#include "session/session_impl.hpp"

#include <algorithm>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "session/session_helpers.hpp"
#include "vss/error.hpp"

namespace vss::detail {

// ---------------------------------------------------------------------------------------------
// Construction and plain reads.

session_impl::session_impl(std::shared_ptr<engine_core> core)
    : core_(std::move(core)), strand_(asio::make_strand(post_executor(core_->executor()))) {
  // A backup records about ten phases, and an abort records two (the phase it supersedes,
  // then its own): reserved here so that the abort path does not grow these vectors.
  history_.reserve(12);
  unapplied_.reserve(4);
}

session_impl::~session_impl() {
  // The drain left the engine's maps to a reap that never ran (its executor stopped first):
  // the volumes are free already (volumes_released_), this only forgets them.
  if (volumes_release_deferred_) core_->release_volumes(id_);
}

void session_impl::refuse() {
  std::lock_guard lock(mutex_);
  refused_ = true;
}

session_state session_impl::state() const {
  std::lock_guard lock(mutex_);
  return machine_.state;
}

std::chrono::milliseconds session_impl::deadline_for(writer_event e) const noexcept {
  const auto& d = core_->options().deadlines;
  switch (e) {
    case writer_event::identify:
      return d.identify;
    case writer_event::prepare_backup:
      return d.prepare_backup;
    case writer_event::prepare_snapshot:
      return d.prepare_snapshot;
    case writer_event::freeze:
      return std::chrono::milliseconds::zero();  // per writer
    case writer_event::thaw:
      return d.thaw;
    case writer_event::post_snapshot:
      return d.post_snapshot;
    case writer_event::abort:
      return d.abort;
    case writer_event::backup_complete:
      return d.backup_complete;
    case writer_event::backup_shutdown:
      return d.backup_shutdown;
  }
  return d.abort;
}

bool session_impl::auto_release() const noexcept { return context_auto_release(context_); }

}  // namespace vss::detail
