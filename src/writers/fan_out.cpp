#include "writers/fan_out.hpp"

#include <asio/post.hpp>

namespace vss::detail {
namespace {

thread_local int engine_thread_depth = 0;

void call_handler(vss::writer& w, writer_context ctx, writer_event event) {
  switch (event) {
    case writer_event::identify:
      return w.on_identify(std::move(ctx));
    case writer_event::prepare_backup:
      return w.on_prepare_backup(std::move(ctx));
    case writer_event::prepare_snapshot:
      return w.on_prepare_snapshot(std::move(ctx));
    case writer_event::freeze:
      return w.on_freeze(std::move(ctx));
    case writer_event::thaw:
      return w.on_thaw(std::move(ctx));
    case writer_event::post_snapshot:
      return w.on_post_snapshot(std::move(ctx));
    case writer_event::abort:
      return w.on_abort(std::move(ctx));
    case writer_event::backup_complete:
      return w.on_backup_complete(std::move(ctx));
    case writer_event::backup_shutdown:
      return w.on_backup_shutdown(std::move(ctx));
  }
}

void run_guarded(vss::writer& w, std::shared_ptr<phase_collector> collector, std::uint32_t slot,
                 std::shared_ptr<const event_info> info) {
  const auto event = info->event;
  try {
    // The context is built inside the try: if the handler throws, it is destroyed during
    // unwinding and records the failure itself (writer_context::complete_as_dropped).
    call_handler(w, writer_context(std::move(collector), slot, std::move(info)), event);
  } catch (...) {
    // Recorded by the context; a writer's exception must never escape into the engine.
  }
}

}  // namespace

engine_thread_scope::engine_thread_scope() noexcept { ++engine_thread_depth; }
engine_thread_scope::~engine_thread_scope() { --engine_thread_depth; }
bool on_engine_thread() noexcept { return engine_thread_depth > 0; }

int freeze_group(application_level level) noexcept {
  switch (level) {
    case application_level::back_end:
      return 1;
    case application_level::system:
    case application_level::system_rm:
      return 2;
    default:
      return 0;
  }
}

void invoke_writer(const std::shared_ptr<writer_entry>& entry,
                   std::shared_ptr<phase_collector> collector, std::uint32_t slot,
                   std::shared_ptr<const event_info> info) {
  if (entry->blocking_strand) {
    asio::post(*entry->blocking_strand,
               [entry, collector = std::move(collector), slot, info = std::move(info)]() mutable {
                 engine_thread_scope scope;
                 run_guarded(*entry->w, std::move(collector), slot, std::move(info));
               });
    return;
  }
  run_guarded(*entry->w, std::move(collector), slot, std::move(info));
}

bs2::connection connect_registered(registry_signal& signal,
                                   const std::shared_ptr<writer_entry>& entry) {
  std::weak_ptr<writer_entry> weak = entry;
  registry_signal::slot_type slot([weak](const identify_delivery& d) {
    auto e = weak.lock();
    if (!e) return;
    auto it = d.slot_of->find(e->registration);
    if (it == d.slot_of->end()) return;  // registered after this Identify started
    (*d.visited)[it->second] = 1;
    invoke_writer(e, d.collector, it->second, d.info);
  });
  // Lifetime tracking: the slot disconnects itself once the writer entry is gone.
  slot.track_foreign(weak);
  return signal.connect(freeze_group(entry->w->identity().level), slot);
}

void connect_participant(session_signal& signal, std::uint32_t index,
                         std::shared_ptr<writer_entry> entry) {
  const int group = freeze_group(entry->w->identity().level);
  signal.connect(group, [index, entry = std::move(entry)](const delivery& d) {
    const std::int32_t slot = (*d.slot_of)[index];
    if (slot < 0) return;
    invoke_writer(entry, d.collector, static_cast<std::uint32_t>(slot), d.info);
  });
}

}  // namespace vss::detail
