#include "vss/mocks/event_recorder.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <utility>

namespace vss::mocks {

event_recorder::event_recorder(std::shared_ptr<vss::clock> clock)
    : clock_(clock ? std::move(clock) : vss::steady_clock_source()) {}

void event_recorder::record(std::string_view writer, const writer_instance_id& instance,
                            writer_event event, const snapshot_set_id& set) {
  recorded_event e{0, std::string(writer), instance, event, set, {}, std::this_thread::get_id()};
  std::shared_ptr<const listener> fn;
  {
    std::lock_guard lock(mutex_);
    // Stamped under the lock so that sequence order and time order agree.
    e.at = clock_->now();
    e.sequence = events_.size();
    events_.push_back(e);
    fn = listener_;
  }
  if (fn && *fn) (*fn)(e);
}

std::vector<recorded_event> event_recorder::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::vector<writer_event> event_recorder::events_of(std::string_view writer) const {
  std::lock_guard lock(mutex_);
  std::vector<writer_event> out;
  for (const auto& e : events_) {
    if (e.writer == writer) out.push_back(e.event);
  }
  return out;
}

std::size_t event_recorder::count(writer_event event) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(
      events_.begin(), events_.end(), [&](const recorded_event& e) { return e.event == event; }));
}

std::size_t event_recorder::count(std::string_view writer, writer_event event) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(
      events_.begin(), events_.end(),
      [&](const recorded_event& e) { return e.event == event && e.writer == writer; }));
}

std::vector<std::string> event_recorder::writers() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& e : events_) {
    if (std::find(out.begin(), out.end(), e.writer) == out.end()) out.push_back(e.writer);
  }
  return out;
}

void event_recorder::clear() {
  std::lock_guard lock(mutex_);
  events_.clear();
}

std::string event_recorder::timeline() const {
  const auto log = events();
  if (log.empty()) return "(no events)\n";
  std::size_t name_width = 0;
  for (const auto& e : log) name_width = std::max(name_width, e.writer.size());
  std::vector<std::thread::id> threads;
  std::ostringstream os;
  for (const auto& e : log) {
    auto t = std::find(threads.begin(), threads.end(), e.thread);
    if (t == threads.end()) t = threads.insert(threads.end(), e.thread);
    const double seconds = std::chrono::duration<double>(e.at - log.front().at).count();
    char head[64];
    std::snprintf(head, sizeof head, "#%-4llu +%.6fs  T%zu  ",
                  static_cast<unsigned long long>(e.sequence), seconds,
                  static_cast<std::size_t>(t - threads.begin()) + 1);
    std::string name = e.writer;
    name.resize(name_width, ' ');
    std::string event(vss::to_string(e.event));
    event.resize(15, ' ');
    os << head << name << "  " << event << " set " << e.set << '\n';
  }
  return os.str();
}

void event_recorder::set_listener(listener fn) {
  auto shared = fn ? std::make_shared<const listener>(std::move(fn)) : nullptr;
  std::lock_guard lock(mutex_);
  listener_ = std::move(shared);
}

}  // namespace vss::mocks
