#include "writers/fan_out.hpp"

#include <asio/post.hpp>

namespace vss::detail {
namespace {

thread_local int engine_thread_depth = 0;

using handler_ptr = void (vss::writer::*)(vss::writer_context);

// Calls `f.template operator()<&writer::on_X>()` for `event`'s handler: the one switch over the
// events, so that a loop can take its handler as a template argument (decisions §29).
template <class F>
void with_handler(writer_event event, F&& f) {
  switch (event) {
    case writer_event::identify:
      return f.template operator()<&vss::writer::on_identify>();
    case writer_event::prepare_backup:
      return f.template operator()<&vss::writer::on_prepare_backup>();
    case writer_event::prepare_snapshot:
      return f.template operator()<&vss::writer::on_prepare_snapshot>();
    case writer_event::freeze:
      return f.template operator()<&vss::writer::on_freeze>();
    case writer_event::thaw:
      return f.template operator()<&vss::writer::on_thaw>();
    case writer_event::post_snapshot:
      return f.template operator()<&vss::writer::on_post_snapshot>();
    case writer_event::abort:
      return f.template operator()<&vss::writer::on_abort>();
    case writer_event::backup_complete:
      return f.template operator()<&vss::writer::on_backup_complete>();
    case writer_event::backup_shutdown:
      return f.template operator()<&vss::writer::on_backup_shutdown>();
  }
}

// The context is constructed directly in the handler's parameter (a prvalue argument), so a
// writer that answers inside its handler never copies the delivery's references. Always
// inlined: with two callers g++ keeps it out of line, which costs the shard loop ~14
// instructions per writer (callgrind, decisions §29).
template <handler_ptr Handler>
[[gnu::always_inline]] inline void run_guarded_as(vss::writer& w,
                                                  const std::shared_ptr<const void>& owner,
                                                  phase_collector* collector, std::uint32_t slot,
                                                  const event_info* info, bool borrowed) {
  try {
    // If the handler throws, its context is destroyed during unwinding and records the
    // failure itself (writer_context::complete_as_dropped).
    (w.*Handler)(writer_context(owner, collector, slot, info, borrowed));
  } catch (...) {
    // Recorded by the context; a writer's exception must never escape into the engine.
  }
}

void run_guarded(vss::writer& w, const std::shared_ptr<const void>& owner,
                 phase_collector* collector, std::uint32_t slot, const event_info* info,
                 bool borrowed) {
  with_handler(info->event, [&]<handler_ptr Handler>() {
    run_guarded_as<Handler>(w, owner, collector, slot, info, borrowed);
  });
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
                   const std::shared_ptr<const void>& owner, phase_collector* collector,
                   std::uint32_t slot, const event_info* info) {
  if (entry->blocking_strand) {
    asio::post(*entry->blocking_strand, [entry, owner, collector, slot, info] {
      engine_thread_scope scope;
      run_guarded(*entry->w, owner, collector, slot, info, /*borrowed=*/false);
    });
    return;
  }
  run_guarded(*entry->w, owner, collector, slot, info, /*borrowed=*/true);
}

member make_member(const std::shared_ptr<writer_entry>& entry) {
  return {entry->blocking_strand ? nullptr : entry->w.get(), entry};
}

namespace {

// The shard loop for one event. The handler is a template argument so that the switch on the
// event runs once per delivery instead of once per writer, and the call and the context's
// construction are inlined into the loop (docs/decisions.md §29).
template <handler_ptr Handler>
void deliver_range(const std::shared_ptr<const void>& owner, const member_list& members,
                   phase_collector* collector, const event_info* info, std::uint32_t first,
                   std::uint32_t end) {
  const auto* participant_of_slot = info->participant_of_slot->data();
  // Writers are separate heap objects: fetch a few ahead so that the next ones' first lines
  // (vtable pointer, the writer's own state) arrive while this one runs.
  constexpr std::uint32_t ahead = 4;
  for (std::uint32_t slot = first; slot < end; ++slot) {
    if (slot + ahead < end) {
      if (auto* next = members[participant_of_slot[slot + ahead]].inline_writer) {
        __builtin_prefetch(next);
        __builtin_prefetch(reinterpret_cast<const char*>(next) + 64);
      }
    }
    const auto& m = members[participant_of_slot[slot]];
    if (m.inline_writer == nullptr) {
      invoke_writer(m.entry, owner, collector, slot, info);
      continue;
    }
    run_guarded_as<Handler>(*m.inline_writer, owner, collector, slot, info, /*borrowed=*/true);
  }
}

}  // namespace

void deliver_to_shard(const delivery& d, const member_list& members, std::uint32_t first,
                      std::uint32_t end) {
  engine_thread_scope scope;
  // The caller's reference serves the whole loop; the contexts borrow it.
  const auto& owner = d.owner;
  auto* collector = d.collector;
  const auto* info = d.info;
  // Inline answers are released in one decrement when the loop ends (decisions §24).
  phase_collector::inline_batch batch(*collector);
  with_handler(info->event, [&]<handler_ptr Handler>() {
    deliver_range<Handler>(owner, members, collector, info, first, end);
  });
  batch.finish();  // the abort's end may run here (decisions §30)
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
    invoke_writer(e, d.owner, d.collector.get(), it->second, d.info.get());
  });
  // Lifetime tracking: the slot disconnects itself once the writer entry is gone.
  slot.track_foreign(weak);
  return signal.connect(freeze_group(entry->w->identity().level), slot);
}

}  // namespace vss::detail
